"""`glidein demo --stop DIR`: stop a demo left running with `--keep`, in the order of its own end.

Frontend and factory first (no new pilots), then the pilots still at the sites (through the
factory's submitters), then every other recorded process; then it waits, bounded, until nothing
of the demo runs any more (the recorded processes, their process groups, the local pilots),
SIGKILLs what is left after a grace time, stops a private Slurm cluster, and says what it
stopped. Exit 1 if something still runs at the end.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TextIO

from glidein.demo import cleanup, slurm
from glidein.demo.processes import running_from_pid_file, stop_pid_file

GROUP_GRACE = 10.0  # seconds for pilots and startds in the processes' groups to end by themselves
FINAL_WAIT = 10.0  # seconds for what was SIGKILLed to be gone


def stop_kept(root: Path, out: TextIO = sys.stdout) -> int:
    """Stop the demo in `root`; 0 when nothing of it runs any more, else 1."""
    pid_file = root / "pids.json"
    running = running_from_pid_file(pid_file)
    groups = {name: _pgid(pid) for name, pid in running.items()}
    cluster = slurm.kept_cluster(root)
    if cluster is not None:
        os.environ["SLURM_CONF"] = cluster.conf  # for scancel of its pilots
    killed = stop_pid_file(pid_file, ("frontend", "factory"))
    removed = cleanup.remove_pilots(root / "factory.yaml")
    cleanup.wait_pilots(root / "factory", 20.0)
    killed += stop_pid_file(pid_file)
    pilots = cleanup.kill_pilots(root / "factory")
    killed += [f"{pilots} pilots"] if pilots else []
    killed += [f"the rest of {name}'s group" for name in cleanup.kill_named_groups(groups, GROUP_GRACE)]
    left = cleanup.wait_gone(groups, root / "factory", FINAL_WAIT)
    print(stop_report(root, running, removed, killed, left), file=out, flush=True)
    if cluster is not None and cluster.prefix is not None:
        cluster.stop()
        print(f"stopped the demo's private Slurm cluster in {cluster.prefix}", file=out, flush=True)
    return 1 if left else 0


def _pgid(pid: int) -> int:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return pid


def stop_report(root: Path, running: dict[str, int], removed: int, killed: list[str], left: list[str]) -> str:
    """One line: what was stopped, how many pilots removed, what had to be killed or is left."""
    if not running:
        text = f"nothing of the demo in {root} was running"
    else:
        names = ", ".join(f"{name} ({pid})" for name, pid in running.items())
        text = f"stopped the demo in {root}: {len(running)} processes ({names})"
    text += f"; removed {removed} pilots still at the sites"
    if killed:
        text += f"; had to kill: {', '.join(killed)}"
    if left:
        text += f"; STILL RUNNING after {FINAL_WAIT:.0f} s: {', '.join(left)}"
    return text
