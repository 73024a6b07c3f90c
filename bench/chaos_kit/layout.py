"""The chaos run's directory: the demo's own layout (`demo.layout.prepare`), then the demo's
factory config changed for a longer run, and jobs that record every execution reaching its end.

Factory changes: more pilot slots at the two working sites, a shorter pilot retire time (pilots
turn over during the run), the black-hole entry blocked for hours once judged (so that any pilot
submitted to it later is a fault, across factory restarts), and one more entry, LOCAL_Down, that
an operator downtime covers from before the factory starts.
"""

from __future__ import annotations

import copy
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from glidein.common.config import load_factory_config
from glidein.common.errors import GlideinError
from glidein.demo.layout import DemoLayout, prepare
from glidein.demo.processes import GLIDEIN

BLACK_HOLE = "LOCAL_BlackHole"
DOWN = "LOCAL_Down"
WORKING = ("LOCAL_SlowQueue", "LOCAL_Flaky")
BLOCK_SECONDS = 4 * 3600  # first block of the black hole: longer than any run

# One execution that reaches its end appends one line to RECORDS/job.PROC (">>" is O_APPEND).
JOB_SH = """#!/bin/sh
# glidein chaos job: CLUSTER PROC SEED RECORDS. Sleeps 2-6 s (from PROC and SEED), then appends
# "<cluster>.<proc> <pid> <host time>" to RECORDS/job.PROC: one line per execution that ended.
ms=$(( 2000 + ($2 * 2654435761 + $3 * 40503) % 4000 ))
sleep "$(( ms / 1000 )).$(printf '%03d' $(( ms % 1000 )))"
echo "$1.$2 $$ $(date +%s.%N)" >> "$4/job.$2"
echo "chaos job $2 done after $ms ms"
"""

JOBS_SUB = """# glidein chaos jobs (bench/chaos.py)
executable = job.sh
arguments = $(Cluster) $(Process) {seed} {records}
output = out/job.$(Process).out
error = out/job.$(Process).err
request_cpus = 1
request_memory = 128MB
queue {jobs}
"""


@dataclass(frozen=True)
class ChaosSetup:
    jobs: int
    seed: int
    slots: int = 5  # pilots at once per working site
    retire: int = 120  # seconds after which a pilot takes no new job


def records_dir(layout: DemoLayout) -> Path:
    return layout.root / "records"


def _entry(entries: list[dict[str, Any]], name: str) -> dict[str, Any]:
    for entry in entries:
        if entry.get("name") == name:
            return entry
    raise GlideinError(f"chaos: the demo's factory config has no entry {name}")


def _with_slots(entry: dict[str, Any], slots: int) -> None:
    entry["submitter"]["slots"] = slots
    entry["limits"] = {"max_idle": slots, "max_glideins": slots, "max_per_cycle": slots}


def factory_config(cfg: dict[str, Any], setup: ChaosSetup) -> dict[str, Any]:
    """The demo's factory config (parsed YAML) changed for the chaos run (pure)."""
    out = copy.deepcopy(cfg)
    out["attrs"]["GLIDEIN_Retire_Time"]["value"] = setup.retire
    entries = out["entries"]
    for name in WORKING:
        _with_slots(_entry(entries, name), setup.slots)
    _entry(entries, "LOCAL_SlowQueue")["submitter"]["queue_wait"] = 5
    hole = _entry(entries, BLACK_HOLE)
    hole["health"] = {"min_ends": 4, "backoff": BLOCK_SECONDS, "max_backoff": BLOCK_SECONDS}
    down = copy.deepcopy(_entry(entries, "LOCAL_Flaky"))
    down["name"] = DOWN
    down["submitter"]["failure_rate"] = 0.0
    down["attrs"]["GLIDEIN_Site"]["value"] = "Down"
    entries.append(down)
    return out


def prepare_chaos(root: Path, setup: ChaosSetup) -> DemoLayout:
    """The demo's directory, then the chaos factory config, job script and submit file."""
    layout = prepare(root, setup.jobs, use_slurm=False)
    cfg = yaml.safe_load(layout.factory_config.read_text())
    layout.factory_config.write_text(yaml.safe_dump(factory_config(cfg, setup), sort_keys=False))
    load_factory_config(layout.factory_config)  # fail here, not in the daemon, if it is wrong
    records = records_dir(layout)
    records.mkdir()
    (layout.job_dir / "job.sh").write_text(JOB_SH)
    os.chmod(layout.job_dir / "job.sh", 0o700)
    text = JOBS_SUB.format(seed=setup.seed, records=records, jobs=setup.jobs)
    (layout.job_dir / "jobs.sub").write_text(text)
    return layout


def add_downtime(layout: DemoLayout) -> float:
    """An open-ended operator downtime of LOCAL_Down (the CLI an operator uses); its start."""
    start = time.time()
    argv = [*GLIDEIN, "factory", "downtime", "add", "--config", str(layout.factory_config)]
    argv += ["--entry", DOWN, "--comment", "chaos: no pilot may go here"]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if run.returncode != 0:
        raise GlideinError(f"chaos: downtime add failed: {run.stderr.strip() or run.stdout.strip()}")
    return start
