"""The user's job event log (`log = FILE` in a submit description), in HTCondor's text format.

Each event is a header line `CCC (cluster.proc.000) YYYY-MM-DD HH:MM:SS text`, body lines
indented by a tab, and a line `...`; `htcondor2.JobEventLog` reads the file (the tests read it
with it). Events written: 000 submit, 001 execute, 004 evicted (a startd gave the job back or
its lease ran out), 005 terminated, 009 aborted (removed), 012 held, 013 released.
A log that cannot be written costs one ERROR line; the job goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

log = logging.getLogger(__name__)

SUBMIT, EXECUTE, EVICTED, TERMINATED, ABORTED, HELD, RELEASED = 0, 1, 4, 5, 9, 12, 13
_USAGE = "Usr 0 00:00:00, Sys 0 00:00:00  -  "


@dataclass(frozen=True)
class JobRef:
    cluster: int
    proc: int


def header(code: int, job: JobRef, when: float, text: str) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when))
    return f"{code:03d} ({job.cluster:03d}.{job.proc:03d}.000) {stamp} {text}\n"


def event(code: int, job: JobRef, when: float, text: str, body: Iterable[str] = ()) -> str:
    """One event: header, tab-indented body lines, `...`."""
    lines = "".join(f"\t{line}\n" for line in body)
    return f"{header(code, job, when, text)}{lines}...\n"


def submitted(job: JobRef, when: float, schedd_addr: str) -> str:
    return event(SUBMIT, job, when, f"Job submitted from host: <{schedd_addr}>")


def executing(job: JobRef, when: float, startd: str) -> str:
    return event(EXECUTE, job, when, "Job executing on host: <127.0.0.1:0>", [f"SlotName: {startd}"])


def terminated(job: JobRef, when: float, exit_code: int) -> str:
    body = [f"(1) Normal termination (return value {exit_code})"]
    body += [f"\t{_USAGE}{what}" for what in ("Run Remote Usage", "Run Local Usage")]
    body += [f"\t{_USAGE}{what}" for what in ("Total Remote Usage", "Total Local Usage")]
    body += [f"0  -  {what}" for what in ("Run Bytes Sent By Job", "Run Bytes Received By Job")]
    body += [f"0  -  {what}" for what in ("Total Bytes Sent By Job", "Total Bytes Received By Job")]
    return event(TERMINATED, job, when, "Job terminated.", body)


def evicted(job: JobRef, when: float) -> str:
    body = ["(0) Job was not checkpointed."]
    body += [f"\t{_USAGE}{what}" for what in ("Run Remote Usage", "Run Local Usage")]
    body += [f"0  -  {what}" for what in ("Run Bytes Sent By Job", "Run Bytes Received By Job")]
    return event(EVICTED, job, when, "Job was evicted.", body)


def held(job: JobRef, when: float, reason: str, code: int) -> str:
    return event(HELD, job, when, "Job was held.", [_one_line(reason), f"Code {code} Subcode 0"])


def released(job: JobRef, when: float, reason: str) -> str:
    return event(RELEASED, job, when, "Job was released.", [_one_line(reason)])


def aborted(job: JobRef, when: float, reason: str) -> str:
    return event(ABORTED, job, when, "Job was aborted.", [_one_line(reason)])


def _one_line(text: str) -> str:
    return " ".join(text.split())[:500] or "(no reason given)"


def append(path: str, text: str) -> None:
    """Append events to the log at `path` (one write); an ERROR line when it cannot be written."""
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        log.error("cannot write job event log %s: %s", path, exc.strerror or exc)


class Batch:
    """Events gathered per log file while the queue's lock is held, written in one go after."""

    def __init__(self) -> None:
        self.by_path: dict[str, list[str]] = {}

    def add(self, path: str | None, text: str) -> None:
        if path:
            self.by_path.setdefault(path, []).append(text)

    def write(self) -> None:
        for path, texts in self.by_path.items():
            append(path, "".join(texts))
        self.by_path.clear()
