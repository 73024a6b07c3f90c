"""Runs one pilot of a simulated local site: `python -m glidein.factory.submitters.local_run JOB_DIR`.

Forks at once and writes the child's `pid` before returning (the submitter waits for that); the
child runs the pilot
(or fails it, per the site's failure rate / black-hole mode) and writes `exit` with its code.
SIGTERM is passed on to the pilot (removal). The pilot's parameter file (its tokens) is deleted
when it ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

PARAM_FILE = "pilot.params"  # the pilot's -param_file in its job directory (0600)


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _node_failure(job_dir: Path, what: str) -> int:
    """A simulated node that fails the job before the pilot wrapper starts: exit 1, and the batch
    output a real site would give (the pilot's stdout), so the failure is visible, not silent."""
    with open(job_dir / "pilot.log", "a") as log:
        log.write(f"local site: {what}: the job exited 1 before the pilot wrapper started\n")
    return 1


def _run(job_dir: Path) -> int:
    job = json.loads((job_dir / "job.json").read_text())
    _write(job_dir / "started", str(time.time()))
    if job.get("black_hole"):
        return _node_failure(job_dir, "black-hole node")
    if random.random() < float(job.get("failure_rate", 0.0)):
        time.sleep(0.2)
        return _node_failure(job_dir, "failing node (failure_rate)")
    env = dict(os.environ)
    env.update(job.get("env", {}))
    procs: list[subprocess.Popen[bytes]] = []
    stop: list[int] = []

    def forward(signum: int, _frame: FrameType | None) -> None:
        stop.append(signum)
        for proc in procs:
            proc.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)  # before the pilot starts: no window to lose it
    with open(job_dir / "pilot.log", "ab") as log:
        procs.append(
            subprocess.Popen(
                job["argv"], cwd=job_dir, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        )
    if stop:
        procs[0].send_signal(stop[0])
    return procs[0].wait()


def main(argv: list[str]) -> int:
    job_dir = Path(argv[1])
    child = os.fork()
    if child > 0:
        _write(job_dir / "pid", str(child))  # before returning: the site never starts a pilot twice
        return 0
    os.chdir(job_dir)
    try:
        code = _run(job_dir)
    except Exception as exc:  # the forked child must never unwind into the caller: record and exit
        _write(job_dir / "error", f"{type(exc).__name__}: {exc}")
        code = 127
    finally:
        with contextlib.suppress(OSError):
            (job_dir / PARAM_FILE).unlink(missing_ok=True)
    _write(job_dir / "exit", str(code))
    return 0


if __name__ == "__main__":
    os._exit(main(sys.argv))
