"""What the factory knows of one entry's relay, kept in `<state_dir>/relays/<entry>.json`.

The monitor (in the daemon) writes it; the entry workers (maybe other processes) read it to know
whether pilots may go through the relay. Written atomically (a temporary file renamed).
"""

from __future__ import annotations

import enum
import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from glidein.factory.state import cannot_write

RELAYS_DIR = "relays"


class Phase(enum.StrEnum):
    ABSENT = "absent"  # never deployed
    DEPLOYING = "deploying"  # its job is submitted; not yet advertised and answering
    LIVE = "live"  # advertised, fresh, answers: pilots go through it
    DOWN = "down"  # failed; waiting for its back-off before the next deployment


@dataclass(frozen=True)
class RelayState:
    entry: str
    kind: str = "condor"
    phase: Phase = Phase.ABSENT
    job_id: str = ""  # the relay's job at the factory's schedd
    name: str = ""  # the relay schedd's name, from its ad (what pilots are sent to)
    deployed_at: float = 0.0
    live_since: float = 0.0
    failures: int = 0  # failures in a row (back-off)
    missed: int = 0  # cycles in a row it did not answer
    next_deploy: float = 0.0
    deploys: int = 0
    reason: str = ""  # why it is not live (shown in the log and status)
    retired: tuple[str, ...] = field(default_factory=tuple)  # earlier jobs being removed

    def with_(self, **changes: object) -> RelayState:
        return replace(self, **changes)  # type: ignore[arg-type]


def state_path(state_dir: Path, entry: str) -> Path:
    return Path(state_dir) / RELAYS_DIR / f"{entry}.json"


def load(state_dir: Path, entry: str, kind: str) -> RelayState:
    """The entry's relay state; a fresh one when there is none (or it cannot be read)."""
    try:
        data = json.loads(state_path(state_dir, entry).read_text())
        data["phase"] = Phase(data["phase"])
        data["retired"] = tuple(data.get("retired", ()))
        found = RelayState(**data)
    except (OSError, ValueError, TypeError, KeyError):
        return RelayState(entry, kind)
    return found if found.entry == entry else RelayState(entry, kind)


@contextmanager
def locked(state_dir: Path, entry: str) -> Iterator[None]:
    """An exclusive lock on the entry's relay (`<entry>.lock` beside its state)."""
    path = state_path(state_dir, entry).with_suffix(".lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise cannot_write(path, exc) from None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def save(state_dir: Path, state: RelayState) -> None:
    path = state_path(state_dir, state.entry)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(asdict(state), sort_keys=True))
        tmp.replace(path)
    except OSError as exc:
        raise cannot_write(path, exc) from None
