"""Helpers shared by the frontend tests: a frontend config on disk, signed factory entry ads."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from glidein.common import classads, crypto, tokens
from glidein.common.classads import ClassAd

FAST_REMOVAL = {"max_level": "ALL", "wait_cycles": 1, "idle_cycles": 2, "all_cycles": 2}


@dataclass
class FactoryKeys:
    signing: Ed25519PrivateKey = field(default_factory=crypto.generate_signing_key)
    box: X25519PrivateKey = field(default_factory=crypto.generate_box_key)


def entry_ad(keys: FactoryKeys, entry: str, site: str, **extra: object) -> ClassAd:
    """A glidefactory ad of factory `fac`, glidein `gl`, signed by `keys`."""
    values: dict[str, object] = {
        "MyType": "glidefactory",
        "Name": f"{entry}@gl@fac",
        "FactoryName": "fac",
        "GlideinName": "gl",
        "EntryName": entry,
        "GLIDEIN_Site": site,
        "GLIDEIN_CPUS": 1,
        "GLIDEIN_MaxMemMBs": 4000,
        "GLIDEIN_In_Downtime": False,
        "GLIDEIN_Supported_AuthMethods": "token",
        "PubKeyType": "X25519",
        "PubKeyID": crypto.key_id(keys.box.public_key()),
        "PubKeyValue": crypto.public_key_b64(keys.box.public_key()),
        "FactorySigningKey": crypto.public_key_b64(keys.signing),
        "ClassAdLifetime": 300,
    }
    values.update(extra)
    ad = classads.from_dict(values)
    crypto.sign_ad(ad, keys.signing)
    return ad


def write_config(
    tmp: Path,
    factory: FactoryKeys,
    wms: str = "127.0.0.1:1",
    pool: str = "127.0.0.1:2",
    schedd_url: str | None = None,
    lifetime: int = 300,
    interval: int = 60,
    removal: dict[str, object] | None = None,
) -> Path:
    """frontend.yaml with keys in `tmp`; group `main` matches DESIRED_Sites against GLIDEIN_Site."""
    signing = crypto.generate_signing_key()
    crypto.save_private_key(signing, tmp / "frontend.key")
    if not (tmp / "pool.key").exists():
        tokens.generate_key(tmp / "pool.key")
    config: dict[str, object] = {
        "name": "fe",
        "collectors": {"wms": [wms], "user_pool": [pool]},
        "state_dir": str(tmp / "state"),
        "loop": {"interval": interval, "classad_lifetime": lifetime},
        "security": {
            "signing_key": str(tmp / "frontend.key"),
            "identity": "fe@test",
            "trusted_factories": [{"name": "fac", "signing_key": crypto.public_key_b64(factory.signing)}],
        },
        "schedds": [{"name": "schedd1", "url": schedd_url}] if schedd_url else [],
        "discover_schedds": False,
        "credentials": [{"name": "pilot", "pool_key": str(tmp / "pool.key"), "lifetime": 3600}],
        "groups": [
            {
                "name": "main",
                "match_expr": "stringListMember(TARGET.GLIDEIN_Site, DESIRED_Sites)",
                "removal": removal
                or {"max_level": "ALL", "wait_cycles": 1, "idle_cycles": 2, "all_cycles": 2},
            }
        ],
    }
    path = tmp / "frontend.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def frontend_public_key(tmp: Path) -> str:
    return crypto.public_key_b64(crypto.load_signing_key(tmp / "frontend.key"))
