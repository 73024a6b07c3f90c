"""Feedback benchmark (issue 15 part 3): a fast site and a slow, flaky one; the frontend splitting
its jobs evenly (glideinWMS: `rank: undefined`) and then by the default feedback rank.

The embedded demo (demo.layout.prepare, demo.run.start_services, the demo's Supervisor and
clean-up, no Slurm) runs twice in new temporary directories with two local sites made from the
demo's LOCAL_Flaky entry: LOCAL_Fast (pilots start after 2 s, none fails) and LOCAL_Slow (pilots
wait 60 s in its queue, half fail validation and hold their slot 10 s), `--slots` pilots at most
each, one cpu per pilot, pilots retiring after 40 s (so that pilots end and the factory has
figures). The feedback run uses the default rank with its wait scale shrunk from 300 s to
`--wait-scale` (30 s): the bench's times are a tenth of a grid's. Jobs of `--job-seconds` arrive
in `--waves` waves of `--per-wave` every `--period` s. The only difference between the runs is
the frontend group's `rank`.

Printed per run, per 30 s and in all, for the fast and the slow site and the fast site's share:
pilots submitted and started (factory.db), idle pilots requested (ReqIdleGlideins summed over the
frontend's cycles, from its log) and the frontend's weights; the factory's feedback figures at
the end (GLIDEIN_Feedback_* as its ads carry them); the jobs' figures: mean and maximum time from
submission to completion, their sum (the jobs' total time), and submission of the first wave to
the last completion. About 10 minutes; docs/PERFORMANCE.md records a run.
Run: .venv/bin/python bench/feedback.py [--waves N] [--per-wave N] [--period S] [--job-seconds S]
     [--slots N] [--wait-scale S] [--timeout S]
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
JOB_SH = '#!/bin/sh\n# glidein feedback bench job: sleep $1 seconds\nsleep "$1"\necho done\n'
JOBS_SUB = """executable = job.sh
arguments = {seconds}
output = out/job.$(Cluster).$(Process).out
error = out/job.$(Cluster).$(Process).err
request_cpus = 1
request_memory = 128MB
queue {count}
"""


@dataclass(frozen=True)
class Options:
    waves: int
    per_wave: int
    period: float
    job_seconds: int
    slots: int
    timeout: float
    wait_scale: float  # seconds of median queue wait that halve a site's weight


def feedback_rank(scale: float) -> str:
    """The default rank with its wait scale (300 s) set to `scale`: the bench's 60 s queue stands
    for a grid queue of several minutes."""
    if "/ 300.0)" not in DEFAULT_RANK:
        raise GlideinError("feedback bench: the default rank has no '/ 300.0)' wait scale to change")
    return DEFAULT_RANK.replace("/ 300.0)", f"/ {scale:.1f})")


def say(text: str) -> None:
    print(text, flush=True)


def _site(
    template: dict[str, Any], name: str, slots: int, queue_wait: float, failure: float
) -> dict[str, Any]:
    entry = copy.deepcopy(template)
    entry["name"] = name
    entry["submitter"].update(slots=slots, queue_wait=queue_wait, failure_rate=failure)
    entry["attrs"]["GLIDEIN_Site"]["value"] = name.removeprefix("LOCAL_")
    entry["limits"] = {"max_idle": slots, "max_glideins": slots, "max_per_cycle": slots}
    # no black-hole block (the split alone is measured); the figures' window is 10 minutes
    entry["health"] = {"min_ends": 100000, "window": 600}
    return entry


def factory_config(cfg: dict[str, Any], slots: int) -> dict[str, Any]:
    """The demo's factory config with the two sites only (pure)."""
    out = copy.deepcopy(cfg)
    out["attrs"]["GLIDEIN_CPUS"]["value"] = 1
    out["attrs"]["GLIDEIN_Retire_Time"]["value"] = 40
    out["attrs"]["GLIDEIN_Max_Idle"]["value"] = 15
    template = next(e for e in out["entries"] if e["name"] == "LOCAL_Flaky")
    out["entries"] = [_site(template, FAST, slots, 2, 0.0), _site(template, SLOW, slots, 60, 0.5)]
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
        (layout.factory_config, lambda c: factory_config(c, opts.slots)),
        (layout.frontend_config, lambda c: frontend_config(c, rank, opts.slots)),
    ):
        path.write_text(yaml.safe_dump(change(yaml.safe_load(path.read_text())), sort_keys=False))
    load_factory_config(layout.factory_config)  # fail here, not in a daemon, if it is wrong
    load_frontend_config(layout.frontend_config)
    (layout.job_dir / "job.sh").write_text(JOB_SH)
    os.chmod(layout.job_dir / "job.sh", 0o700)
    return layout


def submit_wave(layout: DemoLayout, opts: Options) -> None:
    text = JOBS_SUB.format(seconds=opts.job_seconds, count=opts.per_wave)
    client = ScheddClient.locate(None, str(layout.schedd_state))
    result = client.submit(text, "jobs.sub", str(layout.job_dir), getpass.getuser())
    if int(str(result.get("jobs", 0))) != opts.per_wave:
        raise GlideinError(
            f"feedback bench: the schedd queued {result.get('jobs')} jobs, not {opts.per_wave}"
        )


def queued(client: ScheddClient) -> int | None:
    try:
        status = client.status()
    except (GlideinError, OSError, ValueError):
        return None
    return sum(int(str(status.get(k, 0))) for k in ("idle", "running", "held"))


def drive(layout: DemoLayout, opts: Options) -> float:
    """Submit the waves, wait until the queue is empty (or the timeout); the first submission time."""
    client = ScheddClient(layout.url("schedd"), timeout=10)
    start = time.time()
    waves = 0
    while time.time() < start + opts.timeout:
        if waves < opts.waves and time.time() >= start + waves * opts.period:
            submit_wave(layout, opts)
            waves += 1
        left = queued(client)
        if waves == opts.waves and left == 0:
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
    turnaround: list[float]  # submission to completion of every completed job
    makespan: float  # first submission to last completion
    done: int

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


def job_figures(layout: DemoLayout, start: float) -> tuple[list[float], float, int]:
    ads = ScheddClient(layout.url("schedd"), timeout=60).jobs(include_done=True)
    done = [a for a in ads if int(str(a.get("JobStatus", 0))) == 4 and a.get("CompletionDate")]
    turnaround = [float(str(a["CompletionDate"])) - float(str(a["QDate"])) for a in done]
    last = max((float(str(a["CompletionDate"])) for a in done), default=start)
    return turnaround, last - start, len(done)


def run(label: str, rank: str, opts: Options) -> RunFigures:
    root = Path(tempfile.mkdtemp(prefix=f"glidein-feedback-{label}-")).resolve()
    layout = prepare_run(root, rank, opts)
    sup = Supervisor(layout.logs, layout.root / "pids.json")
    say(f"{label}: rank {rank!r}; directory {root}")
    try:
        start_services(layout, sup)
        start = drive(layout, opts)
        figures = feedback_ads(layout)
        turnaround, makespan, done = job_figures(layout, start)
    finally:
        stop(layout, sup)
    out = RunFigures(label, run_bins(layout, start), figures, turnaround, makespan, done)
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
    if run.turnaround:
        mean, worst = statistics.fmean(run.turnaround), max(run.turnaround)
        lines.append(
            f"  jobs: {run.done} of {jobs} done; submission to completion mean {mean:.1f} s,"
            f" max {worst:.1f} s"
        )
    lines.append(f"  first submission to last completion: {run.makespan:.0f} s")
    return lines


def parse_args() -> Options:
    parser = argparse.ArgumentParser(description="even split vs feedback rank: a fast and a slow, flaky site")
    parser.add_argument("--waves", type=int, default=12, help="waves of jobs (default 12)")
    parser.add_argument("--per-wave", type=int, default=8, help="jobs per wave (default 8)")
    parser.add_argument("--period", type=float, default=20.0, help="seconds between waves (default 20)")
    parser.add_argument("--job-seconds", type=int, default=15, help="seconds each job runs (default 15)")
    parser.add_argument("--slots", type=int, default=8, help="pilots at once per site (default 8)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds for the jobs (default 900)")
    parser.add_argument("--wait-scale", type=float, default=30.0, help="rank's wait scale, s (default 30)")
    a = parser.parse_args()
    return Options(a.waves, a.per_wave, a.period, a.job_seconds, a.slots, a.timeout, a.wait_scale)


def main() -> int:
    opts = parse_args()
    jobs = opts.waves * opts.per_wave
    say(
        f"{jobs} jobs of {opts.job_seconds} s in {opts.waves} waves every {opts.period:.0f} s;"
        f" {os.cpu_count()} cores"
    )
    even = run("even", EVEN_RANK, opts)
    say("\n".join(report(even, jobs)))
    ranked = run("feedback", feedback_rank(opts.wait_scale), opts)
    say("\n".join(report(ranked, jobs)))
    gain = (even.makespan - ranked.makespan) / even.makespan if even.makespan else 0.0
    say(
        f"first submission to last completion: even {even.makespan:.0f} s,"
        f" feedback {ranked.makespan:.0f} s ({gain:.0%} shorter)"
    )
    if even.turnaround and ranked.turnaround:
        a, b = statistics.fmean(even.turnaround), statistics.fmean(ranked.turnaround)
        say(f"mean job submission to completion: even {a:.1f} s, feedback {b:.1f} s")
        total_a, total_b = sum(even.turnaround), sum(ranked.turnaround)
        say(
            f"jobs' total time (sum of submission to completion): even {total_a:.0f} s,"
            f" feedback {total_b:.0f} s ({(total_a - total_b) / total_a:.0%} shorter)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
