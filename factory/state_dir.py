"""The state dir, checked once per cycle: the factory submits only while its bookkeeping can be kept.

Before a cycle decides anything, `StateGuard.check` writes one row to factory.db and looks at the
free space of its filesystem (at least MIN_FREE bytes kept for what submitting must record next:
NEW -> PENDING, the pilots' ends). When either fails the cycle fails closed: no request is read
(accepting one writes its sequence), no entry works (no submit, no removal), one line names the
path and the cause (`state dir /x: cannot write factory.db: database or disk is full; submitting
nothing until it can`), again only when the cause changes; the ads and the status that can still
be written are, and the next successful probe resumes everything with one line. Writing
status.json (or the keys) failing is one line too, never a crash; it does not stop submission.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from glidein.factory.health import Health
from glidein.factory.pilot_states import IDLE_STATES, PilotState
from glidein.factory.state import StateWriteError
from glidein.factory.worker import EntryResult

log = logging.getLogger(__name__)
MIN_FREE = 1 << 20  # bytes the state dir's filesystem keeps free for the bookkeeping of submissions
STOPPED = "; submitting nothing until it can"


class ProbeStore(Protocol):
    path: Path

    def probe(self, now: float) -> None: ...

    def counts_by_entry(self) -> dict[str, dict[str, int]]: ...


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged writer may still use on `path`'s filesystem."""
    info = os.statvfs(path)
    return info.f_bavail * info.f_frsize


class Problems:
    """One line when a problem (per key) starts or changes, one when it is gone."""

    def __init__(self) -> None:
        self.current: dict[str, str] = {}

    def report(self, key: str, text: str) -> None:
        if self.current.get(key) != text:
            log.warning("%s", text)
            self.current[key] = text

    def clear(self, key: str, text: str) -> None:
        if self.current.pop(key, None) is not None:
            log.info("%s", text)


class StateGuard:
    def __init__(
        self,
        store: ProbeStore,
        min_free: int = MIN_FREE,
        free: Callable[[Path], int] = free_bytes,
    ) -> None:
        self.store, self.min_free, self.free = store, min_free, free
        self.db = store.path
        self.problems = Problems()

    def _probe(self, now: float) -> str:
        try:
            available = self.free(self.db.parent)
        except OSError as exc:
            return f"state dir {self.db.parent}: cannot check its free space: {exc}"
        if available < self.min_free:
            return (  # no byte count: the line stays the same (logged once) while the disk is full
                f"state dir {self.db.parent}: cannot write {self.db.name}: less than {self.min_free}"
                " bytes free on its filesystem, which are kept for the bookkeeping"
            )
        try:
            self.store.probe(now)
        except StateWriteError as exc:
            return str(exc)
        return ""

    def check(self, now: float) -> str:
        """Empty when factory.db can be written; else the problem (logged when it starts or changes)."""
        problem = self._probe(now)
        if problem:
            self.failed(problem)
        else:
            self.problems.clear("db", f"state dir {self.db.parent}: {self.db.name} writable again")
        return problem

    def failed(self, problem: str) -> str:
        """A write of the bookkeeping failed: log it (once per cause); the cycle fails closed."""
        self.problems.report("db", problem + STOPPED)
        return problem

    def write_status(self, data: Mapping[str, Any]) -> None:
        """status.json (atomically); a failure is one line, logged again only when it changes."""
        target = self.db.parent / "status.json"
        tmp = target.with_name("status.json.tmp")
        try:
            tmp.write_text(json.dumps(data, separators=(",", ":")))
            tmp.replace(target)
        except OSError as exc:
            self.problems.report("status", f"state dir {target.parent}: cannot write {target.name}: {exc}")
            return
        self.problems.clear("status", f"state dir {target.parent}: {target.name} written again")

    def note(self, what: str, text: str) -> None:
        """Another write (e.g. the keys) failed: one line per cause."""
        self.problems.report(what, text)

    def ok(self, what: str) -> None:
        self.problems.clear(what, f"{what}: written again")

    def read_only_results(self, names: Sequence[str]) -> list[EntryResult]:
        """What the entry ads show while nothing is worked: the pilots as last recorded."""
        try:
            counts = self.store.counts_by_entry()
        except sqlite3.Error:  # a read that fails too: the ads show no pilots
            counts = {}
        out = []
        for name in names:
            totals: dict[str, int] = {}
            for state, n in counts.get(name, {}).items():
                key = "idle" if PilotState(state) in IDLE_STATES else state
                totals[key] = totals.get(key, 0) + n
            out.append(EntryResult(name, totals=totals, errors=["state dir not writable"]))
        return out


def status_document(
    results: Sequence[EntryResult],
    cycle: Mapping[str, Any],
    frontends: Any,
    health: Mapping[str, Health],
    now: float,
) -> dict[str, Any]:
    """What status.json holds: the cycle's report, the frontends seen, each entry's outcome."""
    entries = {}
    for r in results:
        h = health.get(r.entry, Health())
        entries[r.entry] = {
            "totals": r.totals,
            "clients": [vars(c) for c in r.clients],  # flat dataclasses: no deep copy needed
            "errors": r.errors,
            "blocked": h.reason if h.blocked(now) else "",
        }
    return {"time": now, "cycle": dict(cycle), "frontends": frontends, "entries": entries}
