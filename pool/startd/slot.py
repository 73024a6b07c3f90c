"""The slot ad: (name, old-syntax expression) pairs as pool/cedar.py sends them. Stdlib, Python >= 3.6."""

import platform
import socket
from typing import List, NamedTuple, Tuple

from glidein.pool.startd.config import StartdConfig

Pairs = List[Tuple[str, str]]


class Free(NamedTuple):
    cpus: int
    memory_mb: int
    disk_mb: int
    gpus: int


def quote(value: str) -> str:
    """An old-syntax ClassAd string literal (a backslash is literal; only quotes are escaped)."""
    return '"' + value.replace('"', '\\"').replace("\n", " ") + '"'


def slot_ad(config: StartdConfig, free: Free, started_at: float, state: Tuple[int, int, bool]) -> Pairs:
    """The ad this startd advertises and claims with; `state` is (jobs running, jobs run, retiring)."""
    running, jobs_run, retiring = state
    start = "false" if retiring else "({})".format(config.start_expr)
    pairs = [
        ("MyType", quote("Machine")),
        ("TargetType", quote("Job")),
        ("Name", quote(config.name)),
        ("Machine", quote(socket.getfqdn())),
        ("OpSys", quote("LINUX")),
        ("Arch", quote(platform.machine().upper().replace("AMD64", "X86_64"))),
        ("Cpus", str(free.cpus)),
        ("Memory", str(free.memory_mb)),
        ("Disk", str(free.disk_mb * 1024)),
        ("GPUs", str(free.gpus)),
        ("TotalCpus", str(config.cpus)),
        ("TotalMemory", str(config.memory_mb)),
        ("TotalDisk", str(config.disk_mb * 1024)),
        ("TotalGPUs", str(config.gpus)),
        ("State", quote("Claimed" if running else "Unclaimed")),
        ("Activity", quote("Busy" if running else "Idle")),
        ("JobsRunning", str(running)),
        ("JobsRun", str(jobs_run)),
        ("START", start),
        ("Requirements", "START"),
        ("DaemonStartTime", str(int(started_at))),
        ("ClassAdLifetime", str(int(config.advertise_interval * 3))),
        ("GLIDEIN_ScheddURL", quote(config.schedd_url)),
    ]  # type: Pairs
    if config.retire_time:
        pairs.append(("GLIDEIN_ToRetire", str(int(started_at + config.retire_time))))
    if config.die_time:
        pairs.append(("GLIDEIN_ToDie", str(int(started_at + config.die_time))))
    names = {name.lower() for name, _ in pairs}
    pairs.extend((name, expr) for name, expr in sorted(config.attrs.items()) if name.lower() not in names)
    return pairs
