"""A whole monitoring state as one JSON file, and the sources that serve it.

A daemon that does not want to expose its internals to the web process writes a snapshot
each cycle (`write_snapshot`, atomic rename); the web process reads it with
`SnapshotFileSource`, re-reading only when the file changed. `StaticSource` serves an
in-memory snapshot (tests, and daemons that run the web server from their own data).
Pilot logs live in `<pilots_dir>/<pilot_id>/{stdout.txt,stderr.txt,log.txt}`; `log.txt` is
where the factory's web process stores what a pilot streamed back.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glidein.common.errors import GlideinError
from glidein.common.monitoring.model import (
    PILOT_ID_RE,
    ClientStatus,
    Counts,
    EntryState,
    EntryStatus,
    LogKind,
    PilotFilter,
    PilotRecord,
    PilotState,
)

LOG_FILES: dict[LogKind, str] = {
    LogKind.STDOUT: "stdout.txt",
    LogKind.STDERR: "stderr.txt",
    LogKind.LOG: "log.txt",
}
MAX_LOG_BYTES = 8 * 1024 * 1024  # the tail beyond this is what the page shows


@dataclass(frozen=True)
class Snapshot:
    time: float
    entries: tuple[EntryStatus, ...] = ()
    pilots: tuple[PilotRecord, ...] = field(default=())


def snapshot_to_dict(snap: Snapshot) -> dict[str, Any]:
    return {
        "time": snap.time,
        "entries": [
            {
                "name": e.name,
                "site": e.site,
                "state": e.state.value,
                "reason": e.reason,
                "feedback": e.feedback,
                "until": e.until,
                "clients": [
                    {"client": c.client, "limit": c.limit, "counts": c.counts.as_dict()} for c in e.clients
                ],
            }
            for e in snap.entries
        ],
        "pilots": [_pilot_to_dict(p) for p in snap.pilots],
    }


def _pilot_to_dict(p: PilotRecord) -> dict[str, Any]:
    return {
        "pilot_id": p.pilot_id,
        "entry": p.entry,
        "client": p.client,
        "site": p.site,
        "state": p.state.value,
        "submit_time": p.submit_time,
        "start_time": p.start_time,
        "end_time": p.end_time,
        "exit_code": p.exit_code,
        "validation_ok": p.validation_ok,
        "first_failure": p.first_failure,
        "failure_class": p.failure_class,
        "jobs_run": p.jobs_run,
        "logs": sorted(k.value for k in p.logs),
        "failure_output": p.failure_output,
        "relay": p.relay,
    }


def snapshot_from_dict(data: Mapping[str, Any], where: str = "snapshot") -> Snapshot:
    """Rebuild a snapshot; GlideinError naming `where` and the path on any bad field."""
    try:
        entries = tuple(
            EntryStatus(
                name=str(e["name"]),
                site=str(e["site"]),
                state=EntryState(e["state"]),
                reason=str(e.get("reason", "")),
                clients=tuple(_client_from_dict(c) for c in e["clients"]),
                feedback=str(e.get("feedback", "")),
                until=None if e.get("until") is None else float(e["until"]),
            )
            for e in data["entries"]
        )
        pilots = tuple(_pilot_from_dict(p) for p in data["pilots"])
        return Snapshot(time=float(data["time"]), entries=entries, pilots=pilots)
    except GlideinError as exc:
        raise GlideinError(f"{where}: {exc}") from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise GlideinError(f"{where}: malformed monitoring snapshot: {type(exc).__name__}: {exc}") from exc


def _client_from_dict(c: Mapping[str, Any]) -> ClientStatus:
    return ClientStatus(client=str(c["client"]), limit=str(c.get("limit", "")), counts=Counts(**c["counts"]))


def _pilot_from_dict(p: Mapping[str, Any]) -> PilotRecord:
    return PilotRecord(
        pilot_id=str(p["pilot_id"]),
        entry=str(p["entry"]),
        client=str(p["client"]),
        site=str(p["site"]),
        state=PilotState(p["state"]),
        submit_time=p.get("submit_time"),
        start_time=p.get("start_time"),
        end_time=p.get("end_time"),
        exit_code=p.get("exit_code"),
        validation_ok=p.get("validation_ok"),
        first_failure=str(p.get("first_failure", "")),
        failure_class=str(p.get("failure_class", "")),
        jobs_run=p.get("jobs_run"),
        logs=frozenset(LogKind(k) for k in p.get("logs", ())),
        failure_output=str(p.get("failure_output", "")),
        relay=str(p.get("relay") or ""),
    )


def write_snapshot(path: Path, snap: Snapshot) -> None:
    """Write atomically (temp file + rename) so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".snapshot-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(json.dumps(snapshot_to_dict(snap)))  # dumps: the C encoder (dump is Python)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_snapshot(path: Path) -> Snapshot:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise GlideinError(f"{path}: cannot read monitoring snapshot: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise GlideinError(f"{path}: line {exc.lineno}: not JSON: {exc.msg}") from exc
    return snapshot_from_dict(data, str(path))


def read_pilot_log(pilots_dir: Path | None, pilot_id: str, kind: LogKind) -> bytes | None:
    """The log file of a pilot, its last MAX_LOG_BYTES; None if absent or the id is unsafe."""
    if pilots_dir is None or not PILOT_ID_RE.match(pilot_id):
        return None
    path = pilots_dir / pilot_id / LOG_FILES[kind]
    try:
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - MAX_LOG_BYTES))
            return f.read()
    except OSError:
        return None


def select_pilots(pilots: Sequence[PilotRecord], flt: PilotFilter) -> list[PilotRecord]:
    chosen = [p for p in pilots if flt.matches(p)]
    chosen.sort(key=lambda p: (p.submit_time or 0.0, p.pilot_id), reverse=True)
    return chosen[: max(0, flt.limit)]


class StaticSource:
    """A MonitoringSource over one in-memory snapshot (replace it with `update`)."""

    def __init__(self, snap: Snapshot, pilots_dir: Path | None = None) -> None:
        self.snap = snap
        self.pilots_dir = pilots_dir

    def update(self, snap: Snapshot) -> None:
        self.snap = snap

    def entries(self) -> Sequence[EntryStatus]:
        return self.snap.entries

    def pilots(self, flt: PilotFilter) -> Sequence[PilotRecord]:
        return select_pilots(self.snap.pilots, flt)

    def pilot_log(self, pilot_id: str, kind: LogKind) -> bytes | None:
        return read_pilot_log(self.pilots_dir, pilot_id, kind)


class SnapshotFileSource:
    """A MonitoringSource over a snapshot file written by a daemon; re-read when it changes.

    A missing or broken file serves the last good snapshot (or an empty one) and the error is
    kept in `last_error` for the page to show; the web process never stops over it.
    """

    def __init__(self, path: Path, pilots_dir: Path | None = None) -> None:
        self.path = path
        self.pilots_dir = pilots_dir
        self._snap = Snapshot(time=0.0)
        self._stamp: tuple[int, int] | None = None
        self.last_error = ""

    def snapshot(self) -> Snapshot:
        try:
            st = self.path.stat()
        except OSError as exc:
            self.last_error = f"{self.path}: {exc.strerror}"
            return self._snap
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            try:
                self._snap = read_snapshot(self.path)
                self.last_error = ""
            except GlideinError as exc:
                self.last_error = str(exc)
            self._stamp = stamp
        return self._snap

    def entries(self) -> Sequence[EntryStatus]:
        return self.snapshot().entries

    def pilots(self, flt: PilotFilter) -> Sequence[PilotRecord]:
        return select_pilots(self.snapshot().pilots, flt)

    def pilot_log(self, pilot_id: str, kind: LogKind) -> bytes | None:
        return read_pilot_log(self.pilots_dir, pilot_id, kind)
