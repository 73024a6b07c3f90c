"""The one small interface every pilot backend implements, and the registry of backends.

A backend translates its own errors into `SubmitError` at this boundary. Every backend puts the
pilot id into what it submits (job name, environment, directory) so that `status` reports by
pilot id: a factory restarted after a crash finds pilots it submitted but never confirmed.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from glidein.common.errors import ConfigError
from glidein.factory.pilot_states import PilotState

JOB_PREFIX = "glidein_"  # job names are JOB_PREFIX + pilot id


@dataclass(frozen=True)
class PilotSpec:
    """One pilot to submit: its id, the pilot wrapper's command line and its secret parameters."""

    pilot_id: str
    entry: str
    client: str
    argv: Sequence[str]  # e.g. ["python3", "glidein_startup.py", "-factory", ...]
    env: Mapping[str, str] = field(default_factory=dict)
    cpus: int = 1
    memory_mb: int = 0
    labels: Mapping[str, str] = field(default_factory=dict)  # Factory, Name, Client, Frontend, ...
    # kept off the command line: the submitter writes them to a 0600 `-param_file` (param_file.py)
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class BackendStatus:
    pilot_id: str
    state: PilotState  # IDLE, RUNNING, HELD, COMPLETED, FAILED or REMOVED
    backend_id: str = ""
    exit_code: int | None = None
    held_reason: str = ""


@dataclass(frozen=True)
class PilotRef:
    pilot_id: str
    backend_id: str


class Submitter(Protocol):
    def status_key(self) -> str:
        """Entries whose submitters share this key are queried with ONE `status` call per cycle."""
        ...

    def submit(self, pilots: Sequence[PilotSpec]) -> dict[str, str]:
        """Submit; return pilot id -> backend id of those accepted; SubmitError if none could be."""
        ...

    def status(self, pilots: Sequence[PilotRef]) -> dict[str, BackendStatus]:
        """Status of the backend's pilots (by pilot id); SubmitError when it cannot be read."""
        ...

    def remove(self, pilots: Sequence[PilotRef]) -> None: ...

    def release(self, pilots: Sequence[PilotRef]) -> None: ...


# name -> "module:Class"; the class is constructed as Class(entry_name, params, work_dir)
REGISTRY: dict[str, str] = {
    "fake": "glidein.factory.submitters.fake:FakeSubmitter",
    "local": "glidein.factory.submitters.local:LocalSubmitter",
    "slurm": "glidein.factory.submitters.slurm:SlurmSubmitter",
    "htcondor": "glidein.factory.submitters.htcondor:HTCondorSubmitter",
    "relay": "glidein.factory.submitters.relay:RelaySubmitter",
}


def submitter_class(kind: str) -> type:
    target = REGISTRY.get(kind)
    if target is None:
        raise ConfigError(f"unknown submitter type {kind!r} (known: {', '.join(sorted(REGISTRY))})")
    module, name = target.split(":")
    cls = getattr(importlib.import_module(module), name)
    assert isinstance(cls, type)
    return cls
