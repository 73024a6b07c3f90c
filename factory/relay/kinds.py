"""What the monitor needs of a kind of relay, and the registry of kinds.

`condor` (factory/relay/condor.py): condor_master + condor_schedd sent through the entry's
HTCondor route. `glidein`: glidein's own schedd in relay mode (pool/schedd/relay.py, pilots by
factory/submitters/relay.py); a kind is listed here once its launcher implements RelayKind.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from glidein.common.errors import ConfigError
from glidein.factory.relay.decide import RelayAd


@dataclass(frozen=True)
class Route:
    """How pilots go through a live relay: the submit commands that differ from the entry's."""

    relay: str  # the relay's name (shown on the pilots page)
    submit: Mapping[str, str] = field(default_factory=dict)


class RelayKind(Protocol):
    def jobs(self) -> Mapping[str, int] | None:
        """The entry's relay jobs where the factory deploys them: job id -> JobStatus; None
        when that cannot be read."""
        ...

    def find(self) -> RelayAd | None:
        """The relay's freshest ad, or None."""
        ...

    def answers(self, ad: RelayAd) -> bool:
        """True when the relay accepts work now (a query answered)."""
        ...

    def deploy(self) -> str:
        """Start a relay through the entry's route; its job id. SubmitError when refused."""
        ...

    def remove(self, job_ids: Sequence[str]) -> None: ...

    def route(self, name: str) -> Route: ...


# kind -> "module:Class", constructed as Class(entry, factory_name, state_dir)
KINDS: dict[str, str] = {
    "condor": "glidein.factory.relay.condor:CondorRelay",
    "glidein": "glidein.pool.schedd.relay_kind:GlideinRelay",
}


def relay_kind(entry: Any, factory: str, state_dir: Path) -> RelayKind:
    kind = entry.relay.kind
    target = KINDS.get(kind)
    if target is None:
        known = ", ".join(sorted(KINDS))
        raise ConfigError(f"entry {entry.name}: relay kind {kind!r} has no launcher here (known: {known})")
    module, name = target.split(":")
    made: RelayKind = getattr(importlib.import_module(module), name)(entry, factory, Path(state_dir))
    return made
