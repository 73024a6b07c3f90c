"""Factory configs with an `autoconf:` section for the autoconf tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.factory_support import FactorySetup, write_factory


def autoconf_factory(
    tmp: Path,
    sources: list[dict[str, Any]],
    overrides: dict[str, Any] | None = None,
    collector: str = "127.0.0.1:9",
    info_refresh: int = 0,
) -> FactorySetup:
    """A factory config whose entries all come from `sources` (generated.yaml + overrides.yaml)."""
    if overrides is not None:
        (tmp / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    auto = {
        "entries_file": "generated.yaml",
        "overrides_file": "overrides.yaml",
        "sources": sources,
        "info_refresh": info_refresh,
        "defaults": {"limits": {"max_idle": 40}},
    }
    return write_factory(tmp, [], collector=collector, autoconf=auto)


def generated(tmp: Path) -> list[dict[str, Any]]:
    data = yaml.safe_load((tmp / "generated.yaml").read_text())
    return list(data["entries"])


def local_override(**extra: Any) -> dict[str, Any]:
    """An override that turns a generated entry into a local simulated site (real pilots here)."""
    return {
        "submitter": {"type": "local", "slots": 4, "queue_wait": 3600.0},
        "limits": {"max_idle": 50, "max_glideins": 100, "max_per_cycle": 20, "submit_rate": 1000},
        **extra,
    }
