"""Feedback benchmark (issue 15 part 3): a fast site and a slow, flaky one; the frontend splitting
its jobs evenly (glideinWMS: `rank: undefined`) and then by the default feedback rank.

The embedded demo (demo.layout.prepare, demo.run.start_services, the demo's Supervisor and
clean-up, no Slurm) runs twice in new temporary directories with two local sites made from the
demo's LOCAL_Flaky entry, `--slots` pilots at most each, one cpu per pilot, pilots retiring after
`--retire` s:

* LOCAL_Fast: pilots start after 2 s, none fails, its nodes run at speed 1, no job fails;
* LOCAL_Slow: pilots start after `--slow-queue-wait` s, `--slow-pilot-failure` of them fail
  validation, its nodes are slow (`GLIDEIN_CPU_Speed` = `--slow-speed`: a job takes 1/speed times
  its seconds) and `--slow-job-failure` of its jobs fail half-way (`BENCH_Job_Failure_Rate`).

The two site properties are entry attributes passed to the pilots and published in their slots
(`GLIDEIN_Startd_Attrs`); the bench job reads them from its slot's ad (`$_CONDOR_MACHINE_AD`), as
a real job finds its node slow or broken. A failed job is submitted again by the bench, as its user
would (keeping its first submission time in +BenchFirstQDate). Jobs of `--job-seconds` arrive in
`--waves` waves of `--per-wave` every `--period` s. The feedback run uses the default rank with its
wait scale shrunk from 300 s to `--wait-scale` (30 s): the bench's times are a tenth of a grid's.
The only difference between the runs is the frontend group's `rank`.

Printed per run, per 30 s and in all, for the fast and the slow site and the fast site's share:
pilots submitted and started (factory.db), idle pilots requested (ReqIdleGlideins summed over the
frontend's cycles, from its log) and the frontend's weights; the factory's feedback figures at
the end (GLIDEIN_Feedback_* as its ads carry them); the job runs per site and how many failed; the
jobs' figures: mean and maximum time from first submission to success, their sum (the jobs' total
time), and first submission to the last completion. About 16 minutes; docs/PERFORMANCE.md
records runs.
Run: .venv/bin/python bench/feedback.py [--waves N] [--per-wave N] [--period S] [--job-seconds S]
     [--slots N] [--slow-speed F] [--slow-job-failure F] [--slow-pilot-failure F]
     [--slow-queue-wait S] [--retire S] [--wait-scale S] [--timeout S]
"""

from __future__ import annotations

import argparse
import copy
import getpass
import os
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from glidein.common.bus import Bus
from glidein.common.config import load_factory_config, load_frontend_config
from glidein.common.errors import GlideinError
from glidein.demo import cleanup
from glidein.demo.layout import DemoLayout, prepare
from glidein.demo.processes import Supervisor
from glidein.demo.run import start_services
from glidein.frontend.shares import DEFAULT_RANK, EVEN_RANK
from glidein.pool.schedd.client import ScheddClient

FAST, SLOW = "LOCAL_Fast", "LOCAL_Slow"
BIN = 30.0
# a job of $1 seconds of work at the reference speed: slower on a slow node, failing now and then on
# a flaky one, as its slot's ad ($_CONDOR_MACHINE_AD) says (the sites' GLIDEIN_CPU_Speed and
# BENCH_Job_Failure_Rate, entry attributes the pilots publish in their slots)
JOB_SH = r"""#!/bin/sh
ad="${_CONDOR_MACHINE_AD:-/dev/null}"
speed=$(sed -n 's/^GLIDEIN_CPU_Speed = //p' "$ad"); speed=${speed:-1}
fail=$(sed -n 's/^BENCH_Job_Failure_Rate = //p' "$ad"); fail=${fail:-0}
draw=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
if awk -v d="$draw" -v p="$fail" 'BEGIN { exit !(d < p * 65536) }'; then
    sleep "$(awk -v s="$1" -v v="$speed" 'BEGIN { print s / v / 2 }')"
    echo "failed half-way (speed $speed)" >&2
    exit 1
fi
sleep "$(awk -v s="$1" -v v="$speed" 'BEGIN { print s / v }')"
echo "done (speed $speed)"
"""
JOBS_SUB = """executable = job.sh
arguments = {seconds}
output = out/job.$(Cluster).$(Process).out
error = out/job.$(Cluster).$(Process).err
request_cpus = 1
request_memory = 128MB
{extra}queue {count}
"""


@dataclass(frozen=True)
class Site:
    """One simulated site: its local submitter's settings and its worker nodes."""

    slots: int
    queue_wait: float  # seconds a pilot waits in the site's queue
    pilot_failure: float  # share of pilots failing validation
    cpu_speed: float  # the nodes' speed (1: a job runs its seconds; 0.25: four times longer)
    job_failure: float  # share of jobs that fail half-way (a broken node, a lost file system)


@dataclass(frozen=True)
class Options:
    waves: int
    per_wave: int
    period: float
    job_seconds: int
    fast: Site
    slow: Site
    timeout: float
    wait_scale: float  # seconds of median queue wait that halve a site's weight
    retire: int  # pilots retire after this many seconds


def feedback_rank(scale: float) -> str:
    """The default rank with its wait scale (300 s) set to `scale`: the bench's 60 s queue stands
    for a grid queue of several minutes."""
    if "/ 300.0)" not in DEFAULT_RANK:
        raise GlideinError("feedback bench: the default rank has no '/ 300.0)' wait scale to change")
    return DEFAULT_RANK.replace("/ 300.0)", f"/ {scale:.1f})")


def say(text: str) -> None:
    print(text, flush=True)


def _site(template: dict[str, Any], name: str, site: Site) -> dict[str, Any]:
    entry = copy.deepcopy(template)
    entry["name"] = name
    entry["submitter"].update(slots=site.slots, queue_wait=site.queue_wait, failure_rate=site.pilot_failure)
    entry["attrs"]["GLIDEIN_Site"]["value"] = name.removeprefix("LOCAL_")
    entry["attrs"]["GLIDEIN_CPU_Speed"] = {"value": site.cpu_speed, "type": "expr"}
    entry["attrs"]["BENCH_Job_Failure_Rate"] = {"value": site.job_failure, "type": "expr"}
    entry["attrs"]["GLIDEIN_Startd_Attrs"] = {
        "value": "GLIDEIN_CPU_Speed,BENCH_Job_Failure_Rate",
        "publish": False,
    }
    entry["limits"] = {"max_idle": site.slots, "max_glideins": site.slots, "max_per_cycle": site.slots}
    # no black-hole block (the split alone is measured); the figures' window is 10 minutes
    entry["health"] = {"min_ends": 100000, "window": 600}
    return entry


def factory_config(cfg: dict[str, Any], opts: Options) -> dict[str, Any]:
    """The demo's factory config with the two sites only (pure)."""
    out = copy.deepcopy(cfg)
    out["attrs"]["GLIDEIN_CPUS"]["value"] = 1
    out["attrs"]["GLIDEIN_Retire_Time"]["value"] = opts.retire
    out["attrs"]["GLIDEIN_Max_Idle"]["value"] = 15
    template = next(e for e in out["entries"] if e["name"] == "LOCAL_Flaky")
    out["entries"] = [_site(template, FAST, opts.fast), _site(template, SLOW, opts.slow)]
    return out


def frontend_config(cfg: dict[str, Any], rank: str, slots: int) -> dict[str, Any]:
    out = copy.deepcopy(cfg)
    group = out["groups"][0]
    group["rank"] = rank
    group["limits"]["idle_glideins_per_entry"] = {"max": slots, "reserve": 0}
    group["limits"]["running_glideins_per_entry"] = {"max": slots, "relative_to_queue": 1.0}
    return out


def prepare_run(root: Path, rank: str, opts: Options) -> DemoLayout:
    layout = prepare(root, opts.waves * opts.per_wave, use_slurm=False)
    for path, change in (
        (layout.factory_config, lambda c: factory_config(c, opts)),
        (layout.frontend_config, lambda c: frontend_config(c, rank, max(opts.fast.slots, opts.slow.slots))),
    ):
        path.write_text(yaml.safe_dump(change(yaml.safe_load(path.read_text())), sort_keys=False))
    load_factory_config(layout.factory_config)  # fail here, not in a daemon, if it is wrong
    load_frontend_config(layout.frontend_config)
    (layout.job_dir / "job.sh").write_text(JOB_SH)
    os.chmod(layout.job_dir / "job.sh", 0o700)
    return layout


def submit_jobs(layout: DemoLayout, opts: Options, count: int, first: float | None = None) -> None:
    """`count` jobs; `first`: the first submission of the job they retry (kept in +BenchFirstQDate)."""
    extra = "" if first is None else f"+BenchFirstQDate = {int(first)}\n"
    text = JOBS_SUB.format(seconds=opts.job_seconds, count=count, extra=extra)
    client = ScheddClient.locate(None, str(layout.schedd_state))
    result = client.submit(text, "jobs.sub", str(layout.job_dir), getpass.getuser())
    if int(str(result.get("jobs", 0))) != count:
        raise GlideinError(f"feedback bench: the schedd queued {result.get('jobs')} jobs, not {count}")


def queued(client: ScheddClient) -> int | None:
    try:
        status = client.status()
    except (GlideinError, OSError, ValueError):
        return None
    return sum(int(str(status.get(k, 0))) for k in ("idle", "running", "held"))


def retry_failed(layout: DemoLayout, client: ScheddClient, opts: Options, seen: set[str]) -> int:
    """As their user would: submit again each job that failed (exit code not 0) once; how many."""
    try:
        ads = client.jobs("JobStatus == 4 && ExitCode != 0", include_done=True)
    except (GlideinError, OSError, ValueError):
        return 0
    count = 0
    for ad in ads:
        name = f"{ad.get('ClusterId')}.{ad.get('ProcId')}"
        if name not in seen:
            seen.add(name)
            first = ad.get("BenchFirstQDate", ad.get("QDate"))
            submit_jobs(layout, opts, 1, float(str(first)))
            count += 1
    return count


def drive(layout: DemoLayout, opts: Options) -> float:
    """Submit the waves, retry failed jobs, wait until every job succeeded (or the timeout); the
    first submission time."""
    client = ScheddClient(layout.url("schedd"), timeout=10)
    start = time.time()
    waves, failed, next_retry = 0, set[str](), start
    while time.time() < start + opts.timeout:
        if waves < opts.waves and time.time() >= start + waves * opts.period:
            submit_jobs(layout, opts, opts.per_wave)
            waves += 1
        if time.time() >= next_retry:
            retry_failed(layout, client, opts, failed)
            next_retry = time.time() + 5.0
        if waves == opts.waves and queued(client) == 0 and retry_failed(layout, client, opts, failed) == 0:
            break
        time.sleep(1.0)
    return start


def stop(layout: DemoLayout, sup: Supervisor) -> None:
    """The demo's clean-up order: frontend and factory, the pilots at the sites, the rest."""
    sup.stop_named("frontend")
    sup.stop_named("factory")
    cleanup.remove_pilots(layout.factory_config)
    cleanup.wait_pilots(layout.factory_state, 20.0)
    sup.stop_all()
    cleanup.kill_groups(sup)
    cleanup.kill_pilots(layout.factory_state)


@dataclass
class Bin:
    """One BIN seconds of a run, [fast, slow] each."""

    submitted: list[int] = field(default_factory=lambda: [0, 0])  # pilots submitted (factory.db)
    started: list[int] = field(default_factory=lambda: [0, 0])  # pilots that started running
    requested: list[int] = field(default_factory=lambda: [0, 0])  # ReqIdleGlideins summed over cycles
    weights: list[list[float]] = field(default_factory=lambda: [[], []])  # the frontend's weights

    def weight_share(self) -> float | None:
        if not self.weights[0] or not self.weights[1]:
            return None
        fast, slow = statistics.fmean(self.weights[0]), statistics.fmean(self.weights[1])
        return fast / (fast + slow) if fast + slow > 0 else None


@dataclass(frozen=True)
class RunFigures:
    label: str
    bins: list[Bin]
    feedback: dict[str, dict[str, object]]  # entry -> GLIDEIN_Feedback_* at the end
    jobs: JobFigures

    def share(self, what: str) -> float:
        fast = sum(getattr(b, what)[0] for b in self.bins)
        return fast / max(1, fast + sum(getattr(b, what)[1] for b in self.bins))


def _bin(bins: list[Bin], when: float, start: float) -> Bin:
    number = max(0, int((when - start) // BIN))
    while len(bins) <= number:
        bins.append(Bin())
    return bins[number]


_REQUEST = re.compile(r"^(\S+ \S+),\d+ .* entry=(LOCAL_\w+)@\S+ .* req_idle=(\d+) .* weight=([0-9.e+-]+) ")


def run_bins(layout: DemoLayout, start: float) -> list[Bin]:
    """Pilots submitted and started per site (factory.db) and the frontend's requests and weights
    per site (its log lines) in each BIN seconds from `start`."""
    bins: list[Bin] = []
    conn = sqlite3.connect(str(layout.factory_state / "factory.db"))
    try:
        for entry, when in conn.execute("SELECT entry, submit_time FROM pilots"):
            _bin(bins, float(when), start).submitted[0 if entry == FAST else 1] += 1
        rows = conn.execute(
            "SELECT p.entry, MIN(h.time) FROM pilots p JOIN history h ON h.pilot_id = p.pilot_id"
            " WHERE h.new_state = 'running' GROUP BY p.pilot_id"
        )
        for entry, when in rows:
            _bin(bins, float(when), start).started[0 if entry == FAST else 1] += 1
    finally:
        conn.close()
    for line in (layout.logs / "frontend.log").read_text(errors="replace").splitlines():
        found = _REQUEST.match(line)
        if found:
            when = datetime.strptime(found[1], "%Y-%m-%d %H:%M:%S").timestamp()  # the log's local time
            if when >= start:
                row, site = _bin(bins, when, start), 0 if found[2] == FAST else 1
                row.requested[site] += int(found[3])
                row.weights[site].append(float(found[4]))
    return bins


def feedback_ads(layout: DemoLayout) -> dict[str, dict[str, object]]:
    ads = Bus([layout.address("wms")], timeout=10).query("glidefactory")
    return {
        str(ad["EntryName"]): {
            k.removeprefix("GLIDEIN_Feedback_"): ad[k] for k in ad if k.startswith("GLIDEIN_Feedback_")
        }
        for ad in ads
    }


@dataclass(frozen=True)
class JobFigures:
    turnaround: list[float]  # first submission to successful completion of every job that succeeded
    makespan: float  # first submission of all to the last completion
    attempts: list[int]  # [fast, slow]: job runs (failed or not) on each site's pilots
    failures: list[int]  # [fast, slow]: of which failed


def job_figures(layout: DemoLayout, start: float) -> JobFigures:
    ads = ScheddClient(layout.url("schedd"), timeout=60).jobs(include_done=True)
    done = [a for a in ads if int(str(a.get("JobStatus", 0))) == 4 and a.get("CompletionDate")]
    good = [a for a in done if str(a.get("ExitCode")) == "0"]
    first = [float(str(a.get("BenchFirstQDate", a["QDate"]))) for a in good]
    turnaround = [float(str(a["CompletionDate"])) - q for a, q in zip(good, first, strict=True)]
    last = max((float(str(a["CompletionDate"])) for a in good), default=start)
    conn = sqlite3.connect(str(layout.factory_state / "factory.db"))
    try:
        entry_of = {str(p): str(e) for p, e in conn.execute("SELECT pilot_id, entry FROM pilots")}
    finally:
        conn.close()
    attempts, failures = [0, 0], [0, 0]
    for ad in done:
        pilot = str(ad.get("RemoteHost", "")).removeprefix("glidein_").split("@")[0]
        site = 0 if entry_of.get(pilot) == FAST else 1
        attempts[site] += 1
        failures[site] += str(ad.get("ExitCode")) != "0"
    return JobFigures(turnaround, last - start, attempts, failures)


def run(label: str, rank: str, opts: Options) -> RunFigures:
    root = Path(tempfile.mkdtemp(prefix=f"glidein-feedback-{label}-")).resolve()
    layout = prepare_run(root, rank, opts)
    sup = Supervisor(layout.logs, layout.root / "pids.json")
    say(f"{label}: rank {rank!r}; directory {root}")
    try:
        start_services(layout, sup)
        start = drive(layout, opts)
        figures = feedback_ads(layout)
        jobs = job_figures(layout, start)
    finally:
        stop(layout, sup)
    out = RunFigures(label, run_bins(layout, start), figures, jobs)
    shutil.rmtree(root, ignore_errors=True)
    return out


def _pair(values: list[int]) -> str:
    fast, slow = values
    share = f"{fast / (fast + slow):4.0%}" if fast + slow else "   -"
    return f"{fast:3d}/{slow:3d} {share}"


def report(run: RunFigures, jobs: int) -> list[str]:
    lines = [
        f"{run.label}: per {BIN:.0f} s, fast/slow and the fast site's share:",
        "   seconds   pilots submitted  pilots started  requested idle  fast weight share",
    ]
    for number, row in enumerate(run.bins):
        weight = row.weight_share()
        weight_text = "-" if weight is None else f"{weight:.0%}"
        lines.append(
            f"  {number * BIN:4.0f}-{(number + 1) * BIN:4.0f}  {_pair(row.submitted):>16}"
            f"  {_pair(row.started):>14}  {_pair(row.requested):>14}  {weight_text:>6}"
        )
    shares = (run.share("submitted"), run.share("started"), run.share("requested"))
    lines.append(
        "  all: fast share of pilots submitted {:.0%}, started {:.0%}, requested {:.0%}".format(*shares)
    )
    for entry, figures in sorted(run.feedback.items()):
        lines.append(f"  feedback {entry}: " + " ".join(f"{k}={v}" for k, v in sorted(figures.items())))
    done = run.jobs
    lines.append(
        f"  job runs fast/slow: {_pair(done.attempts)}; failed {done.failures[0]}/{done.failures[1]}"
        " (each submitted again)"
    )
    if done.turnaround:
        mean, worst = statistics.fmean(done.turnaround), max(done.turnaround)
        lines.append(
            f"  jobs: {len(done.turnaround)} of {jobs} succeeded; first submission to success mean"
            f" {mean:.1f} s, max {worst:.1f} s, sum {sum(done.turnaround):.0f} s"
        )
    lines.append(f"  first submission to last completion: {done.makespan:.0f} s")
    return lines


def parse_args() -> Options:
    parser = argparse.ArgumentParser(description="even split vs feedback rank: a fast and a slow, flaky site")
    add = parser.add_argument
    add("--waves", type=int, default=12, help="waves of jobs (default 12)")
    add("--per-wave", type=int, default=12, help="jobs per wave (default 12)")
    add("--period", type=float, default=30.0, help="seconds between waves (default 30)")
    add("--job-seconds", type=int, default=20, help="seconds of work of each job (default 20)")
    add("--slots", type=int, default=12, help="pilots at once per site (default 12)")
    add("--slow-speed", type=float, default=0.33, help="the slow site's nodes' speed (default 0.33)")
    add("--slow-job-failure", type=float, default=0.2, help="its jobs failing (default 0.2)")
    add("--slow-pilot-failure", type=float, default=0.25, help="its pilots failing (default 0.25)")
    add("--slow-queue-wait", type=float, default=3.0, help="its queue wait, s (default 3)")
    add("--retire", type=int, default=80, help="pilots retire after this many s (default 80)")
    add("--timeout", type=float, default=900.0, help="seconds for the jobs (default 900)")
    add("--wait-scale", type=float, default=30.0, help="rank's wait scale, s (default 30)")
    a = parser.parse_args()
    fast = Site(a.slots, 2.0, 0.0, 1.0, 0.0)
    slow = Site(a.slots, a.slow_queue_wait, a.slow_pilot_failure, a.slow_speed, a.slow_job_failure)
    return Options(
        a.waves, a.per_wave, a.period, a.job_seconds, fast, slow, a.timeout, a.wait_scale, a.retire
    )


def summary(even: RunFigures, ranked: RunFigures) -> list[str]:
    a, b = even.jobs, ranked.jobs
    lines = [
        f"first submission to last completion: even {a.makespan:.0f} s, feedback {b.makespan:.0f} s"
        f" ({(a.makespan - b.makespan) / a.makespan:.0%} shorter)"
    ]
    if a.turnaround and b.turnaround:
        mean_a, mean_b = statistics.fmean(a.turnaround), statistics.fmean(b.turnaround)
        lines.append(f"mean job first submission to success: even {mean_a:.1f} s, feedback {mean_b:.1f} s")
        total_a, total_b = sum(a.turnaround), sum(b.turnaround)
        lines.append(
            f"jobs' total time (sum of first submission to success): even {total_a:.0f} s,"
            f" feedback {total_b:.0f} s ({(total_a - total_b) / total_a:.0%} shorter)"
        )
    return lines


def main() -> int:
    opts = parse_args()
    jobs = opts.waves * opts.per_wave
    say(
        f"{jobs} jobs of {opts.job_seconds} s in {opts.waves} waves every {opts.period:.0f} s;"
        f" fast {opts.fast}; slow {opts.slow}; {os.cpu_count()} cores"
    )
    even = run("even", EVEN_RANK, opts)
    say("\n".join(report(even, jobs)))
    ranked = run("feedback", feedback_rank(opts.wait_scale), opts)
    say("\n".join(report(ranked, jobs)))
    say("\n".join(summary(even, ranked)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
