"""The demo's final summary, from the parts' own records: schedd job ads and output files, the
factory's bookkeeping and pilot reports, the slot ads in the user pool.

`collect(...)` reads them; `format_summary(summary)` is pure.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from glidein.factory.health import VALIDATION_CODES
from glidein.factory.web import read_report
from glidein.pool import cedar

_FIRST_RUN = "(SELECT MIN(h.time) FROM history h WHERE h.pilot_id = p.pilot_id AND h.new_state = 'running')"
_PILOTS_SQL = (
    f"SELECT p.pilot_id, p.entry, p.state, p.exit_code, p.end_time, {_FIRST_RUN}, p.backend_id"  # noqa: S608
    " FROM pilots p"
)


@dataclass
class SiteSummary:
    entry: str
    site: str
    submitted: int = 0
    validated: int = 0
    failed_validation: int = 0
    failed_other: int = 0
    jobs_run: int = 0
    blocked: str = ""  # the reason, when the factory blocked the entry during the run


@dataclass
class Summary:
    jobs_total: int
    jobs_ok: int
    problems: list[str] = field(default_factory=list)  # jobs without the right output
    sites: list[SiteSummary] = field(default_factory=list)
    wasted_seconds: float = 0.0
    first_running_seconds: float | None = None
    elapsed_seconds: float = 0.0
    monitoring_url: str = ""

    @property
    def ok(self) -> bool:
        return self.jobs_total > 0 and self.jobs_ok == self.jobs_total and not self.problems


def check_jobs(jobs: Sequence[Mapping[str, object]], expected: Mapping[int, str], out_dir: Path) -> list[str]:
    """Problems with the jobs: missing, not completed, non-zero exit, wrong output (pure but for reads)."""
    by_proc = {int(str(j.get("ProcId"))): j for j in jobs}
    problems = []
    for proc, text in sorted(expected.items()):
        job = by_proc.get(proc)
        if job is None:
            problems.append(f"job {proc}: not in the queue")
        elif job.get("JobStatus") != 4:
            problems.append(f"job {proc}: JobStatus {job.get('JobStatus')}, not completed")
        elif job.get("ExitCode") != 0:
            problems.append(f"job {proc}: exit code {job.get('ExitCode')}")
        else:
            path = out_dir / f"job.{proc}.out"
            got = path.read_text(errors="replace") if path.exists() else None
            if got != text:
                problems.append(f"job {proc}: output {got!r} in {path}, expected {text!r}")
    return problems


def pilot_of(remote_host: object) -> str:
    """The pilot id in a startd name `glidein_<pilot id>@<host>` (pilot_wrapper startd_setup);
    HTCondor names the slot first: `slot1_2@glidein_<pilot id>@<host>`."""
    text = str(remote_host or "")
    if text.startswith("slot") and text.count("@") >= 2:
        text = text.split("@", 1)[1]
    return text[len("glidein_") : text.index("@")] if text.startswith("glidein_") and "@" in text else ""


def first_running(jobs: Sequence[Mapping[str, object]]) -> float | None:
    """Seconds from the first submission to the first job start (job ads' QDate and JobStartDate)."""
    starts = [float(str(j["JobStartDate"])) for j in jobs if isinstance(j.get("JobStartDate"), int | float)]
    queued = [float(str(j["QDate"])) for j in jobs if isinstance(j.get("QDate"), int | float)]
    return min(starts) - min(queued) if starts and queued else None


def slot_pilots(collector: str) -> set[str]:
    """Pilot ids of the slots in the user pool now (a pilot whose startd joined was validated)."""
    try:
        ads = cedar.query(collector, "STARTD", "true", ["GLIDEIN_Pilot_ID"], timeout=5.0)
    except (OSError, ValueError):
        return set()
    return {cedar.ad_dict(ad).get("glidein_pilot_id", "").strip('"') for ad in ads} - {""}


@dataclass
class PilotFacts:
    """What the summary needs per pilot, gathered once."""

    jobs_per_pilot: Counter[str]
    in_pool: set[str]
    now: float


def site_summaries(
    db: Path, state_dir: Path, sites: Mapping[str, str], facts: PilotFacts
) -> tuple[list[SiteSummary], float]:
    """Per entry: pilots submitted / validated / failed; and the wasted pilot seconds of all entries."""
    out = {entry: SiteSummary(entry, site) for entry, site in sites.items()}
    wasted = 0.0
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute(_PILOTS_SQL).fetchall()
    finally:
        conn.close()
    for pid, entry, state, code, end, start, backend in rows:
        row = out.setdefault(entry, SiteSummary(entry, entry))
        if not backend:
            continue  # never accepted by the site
        row.submitted += 1
        jobs = facts.jobs_per_pilot.get(pid, 0)
        row.jobs_run += jobs
        report = read_report(state_dir, pid)
        if state == "failed" and (code in VALIDATION_CODES or (report or {}).get("status") == "failure"):
            row.failed_validation += 1
        elif state in ("failed", "lost"):
            row.failed_other += 1
        elif jobs or pid in facts.in_pool or (report or {}).get("status") == "success":
            row.validated += 1
        if jobs == 0 and start is not None:
            wasted += max(0.0, float(end or facts.now) - float(start))
    return [out[name] for name in sorted(out)], wasted


@dataclass(frozen=True)
class SummaryInputs:
    out_dir: Path  # the jobs' output files
    db: Path  # the factory's bookkeeping
    state_dir: Path  # the factory's state (pilot reports)
    pool: str  # user-pool collector host:port
    sites: Mapping[str, str]  # entry -> GLIDEIN_Site
    blocked: Mapping[str, str]  # entry -> reason, every entry seen blocked during the run
    in_pool: frozenset[str] | None = None  # pilot ids with a slot now (None: ask `pool` over CEDAR)


def collect(
    jobs: Sequence[Mapping[str, object]], expected: Mapping[int, str], inputs: SummaryInputs
) -> Summary:
    """The summary from the job ads, the output files, the bookkeeping and the pool."""
    problems = check_jobs(jobs, expected, inputs.out_dir)
    per_pilot = Counter(pilot_of(j.get("RemoteHost")) for j in jobs)
    per_pilot.pop("", None)
    in_pool = set(inputs.in_pool) if inputs.in_pool is not None else slot_pilots(inputs.pool)
    facts = PilotFacts(per_pilot, in_pool, time.time())
    sites, wasted = site_summaries(inputs.db, inputs.state_dir, inputs.sites, facts)
    for row in sites:
        row.blocked = inputs.blocked.get(row.entry, "")
    return Summary(
        jobs_total=len(expected),
        jobs_ok=len(expected) - len(problems),
        problems=problems,
        sites=sites,
        wasted_seconds=wasted,
        first_running_seconds=first_running(jobs),
    )


COLUMNS = ("submitted", "validated", "failed-validation", "other-failures", "jobs-run")


def site_table(sites: Sequence[SiteSummary]) -> list[str]:
    """Header and one row per site, each number right-aligned under its column's name."""
    site_w = max([len("site"), *(len(r.site) for r in sites)])
    entry_w = max([len("entry"), *(len(r.entry) for r in sites)])
    lines = ["  " + "  ".join([f"{'site':<{site_w}}", f"{'entry':<{entry_w}}", *COLUMNS])]
    for row in sites:
        numbers = (row.submitted, row.validated, row.failed_validation, row.failed_other, row.jobs_run)
        cells = [f"{n:>{len(name)}}" for n, name in zip(numbers, COLUMNS, strict=True)]
        lines.append("  " + "  ".join([f"{row.site:<{site_w}}", f"{row.entry:<{entry_w}}", *cells]))
        if row.blocked:
            lines.append(f"    -> {row.entry} BLOCKED by the factory: {row.blocked}")
    return lines


def format_summary(s: Summary) -> str:
    lines = ["", "=== glidein demo summary ==="]
    lines.append(
        f"jobs: {s.jobs_ok} of {s.jobs_total} completed with the right output in {s.elapsed_seconds:.0f} s"
    )
    for problem in s.problems[:10]:
        lines.append(f"  ! {problem}")
    if len(s.problems) > 10:
        lines.append(f"  ! ... and {len(s.problems) - 10} more")
    first = "n/a" if s.first_running_seconds is None else f"{s.first_running_seconds:.1f} s after submission"
    lines.append(f"time to first running job: {first}")
    lines.append("pilots per site:")
    lines += site_table(s.sites)
    lines.append(f"wasted pilot time (pilots that ran no job): {s.wasted_seconds:.0f} s")
    if s.monitoring_url:
        lines.append(f"monitoring: {s.monitoring_url}")
    lines.append("result: " + ("OK" if s.ok else "FAILED"))
    return "\n".join(lines)
