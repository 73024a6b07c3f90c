"""The typed monitoring data model the factory and the frontend fill each cycle.

`EntryStatus` (one per entry, with its `ClientStatus` rows), `PilotRecord` (one per pilot) and
the `MonitoringSource` protocol the web layer reads. Everything here is plain data: the RRD
writer, the Prometheus exporter and the web pages all read the same objects, so they cannot
disagree about a number.
"""

from __future__ import annotations

import enum
import operator
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Protocol

from glidein.common.errors import GlideinError

# Pilot ids travel in URLs and name directories: keep them to a safe alphabet.
PILOT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class EntryState(enum.StrEnum):
    OK = "ok"
    DOWNTIME = "downtime"  # GLIDEIN_In_Downtime: submits nothing on purpose
    BLOCKED = "blocked"  # automatically blocked (pilots keep failing); `reason` says why


class PilotState(enum.StrEnum):
    """Same values as the factory's bookkeeping states (factory/pilot_states.py)."""

    NEW = "new"
    PENDING = "pending"
    IDLE = "idle"
    RUNNING = "running"
    HELD = "held"
    REMOVING = "removing"
    COMPLETED = "completed"
    FAILED = "failed"
    REMOVED = "removed"
    LOST = "lost"


class LogKind(enum.StrEnum):
    STDOUT = "stdout"
    STDERR = "stderr"
    LOG = "log"  # the log the pilot streamed back while it ran


@dataclass(frozen=True)
class Counts:
    """The numbers recorded per (entry, client): gauges, then cumulative counters.

    Counters (`pilots_completed`, `validation_failures`, `waste_seconds`) are totals since the
    daemon's bookkeeping began; RRD turns them into amounts per step, Prometheus exports them
    as `_total` counters.
    """

    pilots_idle: int = 0
    pilots_running: int = 0
    pilots_held: int = 0
    pilots_pending: int = 0
    requested_idle: int = 0
    requested_max: int = 0
    jobs_idle: int = 0
    jobs_running: int = 0
    pilots_completed: int = 0
    validation_failures: int = 0
    waste_seconds: int = 0  # wall time of pilots that ran no job, in seconds

    def __post_init__(self) -> None:
        for name in _COUNT_NAMES:
            value = getattr(self, name)
            is_int = type(value) is int or (isinstance(value, int) and not isinstance(value, bool))
            if not is_int or value < 0:
                raise GlideinError(f"monitoring counts: {name} must be an integer >= 0, got {value!r}")

    def values(self) -> tuple[int, ...]:
        """The numbers in field order (GAUGES, then COUNTERS)."""
        return _values_of(self)

    def __add__(self, other: Counts) -> Counts:
        return Counts(*map(int.__add__, _values_of(self), _values_of(other)))

    def as_dict(self) -> dict[str, int]:
        return dict(zip(_COUNT_NAMES, _values_of(self), strict=True))

    @classmethod
    def total(cls, many: Iterable[Counts]) -> Counts:
        """The sum of `many` (one pass per field, not one Counts per addition)."""
        columns = list(zip(*map(_values_of, many), strict=True))
        return cls(*map(sum, columns)) if columns else cls()


GAUGES: tuple[str, ...] = (
    "pilots_idle",
    "pilots_running",
    "pilots_held",
    "pilots_pending",
    "requested_idle",
    "requested_max",
    "jobs_idle",
    "jobs_running",
)
COUNTERS: tuple[str, ...] = ("pilots_completed", "validation_failures", "waste_seconds")
_COUNT_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Counts))
_values_of = operator.attrgetter(*_COUNT_NAMES)
assert GAUGES + COUNTERS == _COUNT_NAMES  # Counts.values() is in this order


@dataclass(frozen=True)
class ClientStatus:
    """One client (`<frontend>.<group>`) of one entry."""

    client: str
    counts: Counts = field(default_factory=Counts)
    limit: str = ""  # the limit that bound the last decision, if any ("max_per_cycle", ...)


@dataclass(frozen=True)
class EntryStatus:
    """One entry (a grid pool / CE) with its current state and its clients."""

    name: str
    site: str
    state: EntryState = EntryState.OK
    reason: str = ""  # downtime comment or why the entry is blocked
    clients: tuple[ClientStatus, ...] = ()
    feedback: str = ""  # the factory's feedback figures in one line (factory/feedback.py)
    until: float | None = None  # unix time the block or downtime ends (None: open-ended or ok)

    @property
    def totals(self) -> Counts:
        return Counts.total(c.counts for c in self.clients)

    def client(self, name: str) -> ClientStatus | None:
        return next((c for c in self.clients if c.client == name), None)


@dataclass(frozen=True)
class PilotRecord:
    """One pilot, as the PanDA-style pilot table shows it (times are unix seconds)."""

    pilot_id: str
    entry: str
    client: str
    site: str
    state: PilotState
    submit_time: float | None = None
    start_time: float | None = None
    end_time: float | None = None
    exit_code: int | None = None
    validation_ok: bool | None = None  # None: no report yet
    first_failure: str = ""  # the first validation check that failed, with its message
    failure_class: str = ""  # WN_Resource | Network | Config | VO_Config | Corruption | Killed | NoReport
    jobs_run: int | None = None
    logs: frozenset[LogKind] = frozenset()  # which logs the source can serve
    failure_output: str = ""  # the failing script's last output lines (from the report)
    relay: str = ""  # the site relay the pilot went through (issue 16), or ""

    def __post_init__(self) -> None:
        if not PILOT_ID_RE.match(self.pilot_id):
            raise GlideinError(f"monitoring: pilot id {self.pilot_id!r} is not [A-Za-z0-9._-], 1-128 chars")


@dataclass(frozen=True)
class PilotFilter:
    entry: str | None = None
    client: str | None = None
    state: PilotState | None = None
    limit: int = 500

    def matches(self, pilot: PilotRecord) -> bool:
        return (
            (self.entry is None or pilot.entry == self.entry)
            and (self.client is None or pilot.client == self.client)
            and (self.state is None or pilot.state == self.state)
        )


def client_totals(entries: Sequence[EntryStatus]) -> dict[str, Counts]:
    """Per client, the sum over every entry it uses."""
    many: dict[str, list[Counts]] = {}
    for entry in entries:
        for c in entry.clients:
            many.setdefault(c.client, []).append(c.counts)
    return {name: Counts.total(counts) for name, counts in many.items()}


class MonitoringSource(Protocol):
    """What the web process reads. The factory plugs its SQLite bookkeeping in behind this."""

    def entries(self) -> Sequence[EntryStatus]:
        """Every entry with its clients, current numbers."""
        ...

    def pilots(self, flt: PilotFilter) -> Sequence[PilotRecord]:
        """Pilots matching the filter, newest submission first, at most `flt.limit`."""
        ...

    def pilot_log(self, pilot_id: str, kind: LogKind) -> bytes | None:
        """The pilot's stdout, stderr or streamed log; None when there is none."""
        ...
