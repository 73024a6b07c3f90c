"""Helpers for the factory's tests: a factory config on disk, a staged area, a frontend's keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from glidein.common import crypto
from glidein.factory import staging


@dataclass
class FactorySetup:
    config: Path
    state_dir: Path
    frontend_key: Ed25519PrivateKey
    entries: list[str] = field(default_factory=list)

    def factory_pub(self) -> str:
        """The factory's X25519 public key (created by the factory at its first start)."""
        return crypto.public_key_b64(crypto.load_box_key(self.state_dir / "keys" / "box.pem"))


def local_entry(name: str, **submitter: Any) -> dict[str, Any]:
    params = {"type": "local", "slots": 4, "queue_wait": 3600.0, **submitter}
    return {
        "name": name,
        "gatekeeper": "local",
        "submitter": params,
        "attrs": {"GLIDEIN_Site": {"value": f"Site_{name}"}, "GLIDEIN_CPUS": {"value": 1, "type": "int"}},
        "limits": {"max_idle": 50, "max_glideins": 100, "max_per_cycle": 20, "submit_rate": 1000},
    }


def write_factory(
    tmp: Path,
    entries: list[dict[str, Any]],
    collector: str = "127.0.0.1:9",
    interval: int = 1,
    workers: int = 1,
    **top: Any,
) -> FactorySetup:
    state = tmp / "factory"
    stage_dir = state / "stage"
    stage_dir.mkdir(parents=True, exist_ok=True)
    fe_key = crypto.generate_signing_key()
    cfg = {
        "name": "f1",
        "glidein_name": "g",
        "collectors": [collector],
        "state_dir": str(state),
        "loop": {"interval": interval, "classad_lifetime": 300, "workers": workers},
        "staging": {"dir": str(stage_dir), "url": "http://127.0.0.1:8319"},
        "security": {
            "signing_key": str(state / "keys" / "sign.pem"),
            "encryption_key": str(state / "keys" / "box.pem"),
        },
        "frontends": [
            {
                "name": "fe1",
                "identity": "fe1@localhost",
                "signing_keys": [crypto.public_key_b64(fe_key)],
                "security_classes": [{"name": "frontend"}],
            }
        ],
        "entries": entries,
        **top,
    }
    path = tmp / "factory.yaml"
    path.write_text(yaml.safe_dump(cfg))
    staging.stage(
        staging.StagingSpec(stage_dir, "http://127.0.0.1:8319", entries={e["name"]: [] for e in entries})
    )
    return FactorySetup(path, state, fe_key, [e["name"] for e in entries])
