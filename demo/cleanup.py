"""The end of a demo: the pilots still at the sites are removed through the factory's own
submitters (local: SIGTERM by pid; Slurm: scancel), then anything left is killed by pid.

Local pilots are started by the factory, so they belong to its process group; `kill_groups`
SIGKILLs what is left in the groups of the processes the demo started.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from pathlib import Path

from glidein.common.config import load_factory_config
from glidein.common.errors import GlideinError
from glidein.demo.processes import Supervisor, alive
from glidein.factory.state import PilotStore
from glidein.factory.submitters.base import PilotRef
from glidein.factory.worker import make_submitter

log = logging.getLogger(__name__)


def remove_pilots(factory_config: Path) -> int:
    """Ask every entry's backend to remove the pilots the bookkeeping still has; return how many."""
    cfg = load_factory_config(factory_config)
    db = Path(cfg.state_dir) / "factory.db"
    if not db.exists():
        return 0
    store = PilotStore(db)
    removed = 0
    try:
        for entry in cfg.all_entries():
            refs = [PilotRef(r.pilot_id, r.backend_id) for r in store.active(entry.name) if r.backend_id]
            if not refs:
                continue
            try:
                make_submitter(entry, str(cfg.state_dir)).remove(refs)
                removed += len(refs)
            except GlideinError as exc:
                log.warning("entry=%s could not remove %d pilots: %s", entry.name, len(refs), exc)
    finally:
        store.close()
    return removed


def _pilot_pids(factory_state: Path) -> list[int]:
    pids = []
    for pid_file in factory_state.glob("local/*/jobs/*/pid"):
        with contextlib.suppress(OSError, ValueError):
            pids.append(int(pid_file.read_text().strip()))
    return pids


def wait_pilots(factory_state: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in _pilot_pids(factory_state)):
        time.sleep(0.2)


def kill_pilots(factory_state: Path) -> int:
    """SIGKILL local pilots still alive (recorded pids only); return how many."""
    count = 0
    for pid in _pilot_pids(factory_state):
        if alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                count += 1
    return count


def _group_alive(pgid: int) -> bool:
    """A process of group `pgid` still runs (zombies waiting for a slow init to reap them do not)."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return any(_live_member(entry, pgid) for entry in os.listdir("/proc") if entry.isdigit())


def _live_member(pid: str, pgid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rpartition(")")[2].split()
    except OSError:
        return False
    return len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z"


def kill_groups(sup: Supervisor, grace: float = 10.0) -> list[str]:
    """Wait up to `grace` s for the process groups of the demo's processes to empty (pilots and
    startds ending), then SIGKILL what is left; return the names of the groups killed."""
    return kill_named_groups({s.name: s.proc.pid for s in sup.started}, grace)


def kill_named_groups(groups: dict[str, int], grace: float) -> list[str]:
    """`kill_groups` for process groups by name -> pgid (a demo left running has no Supervisor)."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_group_alive(g) for g in groups.values()):
        time.sleep(0.2)
    killed = []
    for name, pgid in groups.items():
        if _group_alive(pgid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
                killed.append(name)
    return killed


def wait_gone(groups: dict[str, int], pilot_state: Path, timeout: float) -> list[str]:
    """Wait up to `timeout` s until no process of `groups` and no local pilot of `pilot_state` runs;
    return what still runs then (group names, `pilot <pid>`)."""
    deadline = time.monotonic() + timeout
    while True:
        left = [name for name, pgid in groups.items() if _group_alive(pgid)]
        left += [f"pilot {pid}" for pid in _pilot_pids(pilot_state) if alive(pid)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.2)
