"""condor_q's table layouts for job ads (pure functions over Python values, no I/O).

The column layouts are condor_q's (HTCondor 25): the default batch view, `-nobatch`, `-run`,
`-hold`, and the `Total for query:` line; the integration test feeds the same job ads to the real
`condor_q -jobads FILE` and compares the lines.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

Job = Mapping[str, object]
STATUS = {1: "I", 2: "R", 3: "X", 4: "C", 5: "H", 6: "E", 7: "S"}
NOBATCH_HEADER = " ID      OWNER            SUBMITTED     RUN_TIME ST PRI SIZE CMD"
RUN_HEADER = " ID      OWNER            SUBMITTED     RUN_TIME HOST(S)"
HOLD_HEADER = " ID      OWNER          HELD_SINCE  CODE/SUB HOLD_REASON"


def _int(job: Job, name: str, default: int = 0) -> int:
    value = job.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return int(value)


def when(epoch: int) -> str:
    """condor_q's date: month/day and hours:minutes, local time ('12/7  05:37')."""
    tm = time.localtime(epoch)
    return f"{tm.tm_mon:>2}/{tm.tm_mday:<2} {tm.tm_hour:02d}:{tm.tm_min:02d}"


def duration(seconds: int) -> str:
    """D+HH:MM:SS."""
    days, rest = divmod(max(0, seconds), 86400)
    hours, rest = divmod(rest, 3600)
    return f"{days}+{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


def run_time(job: Job, now: float) -> int:
    """Seconds the job ran: finished runs (RemoteWallClockTime) plus the current one, up to the
    ad's ServerTime (when the schedd read it) as condor_q counts."""
    total = _int(job, "RemoteWallClockTime")
    if _int(job, "JobStatus") == 2 and "ShadowBday" in job:
        total += _int(job, "ServerTime", int(now)) - _int(job, "ShadowBday")
    return total


def _id(job: Job) -> str:
    return f"{_int(job, 'ClusterId'):>4}.{_int(job, 'ProcId'):<3}"


def _prefix(job: Job, now: float) -> str:
    owner = str(job.get("Owner", ""))
    return f"{_id(job)} {owner:<14} {when(_int(job, 'QDate'))} {duration(run_time(job, now)):>12}"


def command(job: Job) -> str:
    args = job.get("Arguments", job.get("Args", ""))
    return f"{os.path.basename(str(job.get('Cmd', '')))} {args}".strip()


def nobatch_row(job: Job, now: float) -> str:
    status = STATUS.get(_int(job, "JobStatus"), "?")
    size = _int(job, "ImageSize") / 1024.0
    return f"{_prefix(job, now)} {status:<2} {_int(job, 'JobPrio'):<3} {size:>4.1f} {command(job)}"


def run_row(job: Job, now: float) -> str:
    return f"{_prefix(job, now)} {job.get('RemoteHost', '')}"


def hold_row(job: Job) -> str:
    owner = str(job.get("Owner", ""))
    since = when(_int(job, "EnteredCurrentStatus"))
    code = f"{_int(job, 'HoldReasonCode'):>4}"
    code += f"/{_int(job, 'HoldReasonSubCode'):<3}" if "HoldReasonSubCode" in job else "    "
    return f"{_id(job)} {owner:<14} {since} {code} {job.get('HoldReason', '')}"


def totals(jobs: Sequence[Job], label: str = "query") -> str:
    counts = dict.fromkeys(STATUS.values(), 0)
    for job in jobs:
        status = STATUS.get(_int(job, "JobStatus"), "?")
        counts[status] = counts.get(status, 0) + 1
    return (
        f"Total for {label}: {len(jobs)} jobs; {counts['C']} completed, {counts['X']} removed, "
        f"{counts['I']} idle, {counts['R']} running, {counts['H']} held, {counts['S']} suspended"
    )


@dataclass
class Batch:
    owner: str
    name: str
    submitted: int
    counts: dict[int, int] = field(default_factory=dict)
    total: int = 0
    ids: list[tuple[int, int]] = field(default_factory=list)


def batches(jobs: Sequence[Job]) -> list[Batch]:
    """Jobs grouped as condor_q's batch view does: by owner and JobBatchName, else by cluster."""
    out: dict[tuple[str, str], Batch] = {}
    for job in jobs:
        owner = str(job.get("Owner", ""))
        name = str(job.get("JobBatchName") or f"ID: {_int(job, 'ClusterId')}")
        batch = out.setdefault((owner, name), Batch(owner, name, _int(job, "QDate")))
        status = _int(job, "JobStatus")
        batch.counts[status] = batch.counts.get(status, 0) + 1
        batch.total = max(batch.total, _int(job, "TotalSubmitProcs"))
        batch.ids.append((_int(job, "ClusterId"), _int(job, "ProcId")))
    return list(out.values())


def _ids(ids: list[tuple[int, int]]) -> str:
    first, last = min(ids), max(ids)
    if first == last:
        return f"{first[0]}.{first[1]}"
    if first[0] == last[0]:
        return f"{first[0]}.{first[1]}-{last[1]}"
    return f"{first[0]}.{first[1]} ... {last[0]}.{last[1]}"


def batch_lines(jobs: Sequence[Job]) -> list[str]:
    """The header and one row per batch; the HOLD column only when a job is held (as condor_q)."""
    groups = batches(jobs)
    width = max([5, *(len(b.owner) for b in groups)])
    held = any(b.counts.get(5) for b in groups)
    hold_head = "   HOLD" if held else ""
    lines = [f"{'OWNER':<{width}} BATCH_NAME    SUBMITTED   DONE   RUN    IDLE{hold_head}  TOTAL JOB_IDS"]
    for b in groups:
        cells = [b.counts.get(4, 0), b.counts.get(2, 0), b.counts.get(1, 0)]
        if held:
            cells.append(b.counts.get(5, 0))
        cells.append(b.total)
        text = "".join(f"{(str(c) if c else '_'):>7}" for c in cells)
        lines.append(f"{b.owner:<{width}} {b.name:<12}{when(b.submitted)}{text} {_ids(b.ids)}")
    return lines
