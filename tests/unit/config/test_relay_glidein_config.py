"""`entries[].relay` of kind glidein: what the config check asks of it (common/config/relay.py)."""

from __future__ import annotations

from pathlib import Path

import yaml

from glidein.common.config import load_factory_config
from tests.unit.config.test_schema_rules import ETC, edited, factory_problems


def _entries(relay: dict[str, object], submitter: dict[str, object]) -> list[dict[str, object]]:
    data = yaml.safe_load((ETC / "factory.yaml").read_text())
    entry = {**data["entries"][0], "submitter": submitter, "relay": relay}
    return [entry]


def test_glidein_relay_needs_a_collector_and_a_local_or_slurm_submitter(tmp_path: Path) -> None:
    path = edited(tmp_path, "factory.yaml", {"entries": _entries({"kind": "glidein"}, {"type": "local"})})
    assert factory_problems(path)[0].startswith("entries[0].relay.collector: required for a glidein relay")
    fake = _entries({"kind": "glidein", "collector": "127.0.0.1:9618"}, {"type": "fake"})
    path = edited(tmp_path, "factory.yaml", {"entries": fake})
    assert factory_problems(path)[0].startswith(
        "entries[0].relay.kind: a glidein relay needs a local or slurm"
    )
    good = _entries({"kind": "glidein", "collector": "127.0.0.1:9618"}, {"type": "slurm"})
    config = load_factory_config(edited(tmp_path, "factory.yaml", {"entries": good}))
    assert config.entries[0].relay is not None and config.entries[0].relay.kind == "glidein"
