"""The demo's daemons kept alive as systemd would (Restart=, RestartSec=, TimeoutStopSec=), the
victims the chaos loop picks, and the processes of pilots found under the demo directory.

A kill goes to the daemon's main pid only (systemd's KillMode=process): the pilots of the local
sites are the factory's children here, but at a real site they are not the factory's to lose.
A daemon that exits without being killed is restarted the same way and counted as a crash.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from glidein.demo.processes import Started, Supervisor

DAEMONS = ("collector-wms", "collector-pool", "schedd", "factory-web", "factory", "frontend")
PILOT_KINDS = ("startd", "wrapper")
STOP_TIMEOUT = 60.0  # TimeoutStopSec of etc/systemd/*.service


@dataclass(frozen=True)
class Kill:
    at: float  # seconds since the start of the run
    victim: str  # a daemon name, or "startd" / "wrapper" (not restarted: the factory replaces pilots)
    signal: str
    pid: int


@dataclass
class Keeper:
    """Restarts every daemon of `names` that exited, after RestartSec, with the same command line
    (so the same state directory and ports)."""

    sup: Supervisor
    rng: random.Random
    restart_sec: tuple[float, float] = (1.0, 3.0)
    clock: Callable[[], float] = time.monotonic
    names: tuple[str, ...] = DAEMONS
    due: dict[str, float] = field(default_factory=dict)
    stopping: dict[str, float] = field(default_factory=dict)  # SIGTERM sent: SIGKILL at this time
    expected: set[str] = field(default_factory=set)
    crashes: Counter[str] = field(default_factory=Counter)
    restarts: Counter[str] = field(default_factory=Counter)

    def current(self, name: str) -> Started:
        return [s for s in self.sup.started if s.name == name][-1]

    def kill(self, name: str, signum: int) -> int:
        proc = self.current(name).proc
        self.expected.add(name)
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signum)
        if signum == signal.SIGTERM:
            self.stopping[name] = self.clock() + STOP_TIMEOUT
        return proc.pid

    def tick(self) -> list[str]:
        """Schedule restarts of daemons that exited, start those due; the names started now."""
        now = self.clock()
        for name in self.names:
            proc = self.current(name).proc
            if proc.poll() is None:
                if name in self.stopping and now >= self.stopping.pop(name):
                    proc.kill()  # did not stop within TimeoutStopSec
                continue
            self.stopping.pop(name, None)
            if name not in self.due:
                self.due[name] = now + self.rng.uniform(*self.restart_sec)
                if name not in self.expected:
                    self.crashes[name] += 1
                self.expected.discard(name)
        started = [name for name, when in self.due.items() if now >= when]
        for name in started:
            del self.due[name]
            self.sup.start(name, [str(a) for a in self.current(name).proc.args])  # type: ignore[union-attr]
            self.restarts[name] += 1
        return started

    def up(self) -> list[str]:
        return [n for n in self.names if n not in self.due and self.current(n).proc.poll() is None]

    def all_up(self) -> bool:
        return not self.due and all(self.current(n).proc.poll() is None for n in self.names)


@dataclass(frozen=True)
class Proc:
    pid: int
    kind: str  # startd | wrapper | site (local_run) | daemon | job (anything else under the dir)
    cmdline: str


def _kind(cmdline: str) -> str:
    for marker, kind in (
        ("glidein.pool.startd", "startd"),
        ("glidein_startup", "wrapper"),
        ("local_run", "site"),
        ("glidein.cli", "daemon"),
        ("glidein.pool.schedd.advertise", "daemon"),
    ):
        if marker in cmdline:
            return kind
    return "job"


def processes_under(root: Path, groups: frozenset[int] = frozenset()) -> list[Proc]:
    """Live processes whose cwd or command line is under `root`, or whose process group is one of
    `groups` (this process excluded; zombies are not live)."""
    found = []
    prefix = str(root)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            raw = Path(entry.path, "cmdline").read_bytes()
            cwd = os.readlink(Path(entry.path, "cwd"))
            fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        cmdline = raw.replace(b"\0", b" ").decode(errors="replace").strip()
        under = cwd == prefix or cwd.startswith(prefix + "/") or prefix + "/" in cmdline
        if fields[0] != "Z" and (under or int(fields[2]) in groups):
            found.append(Proc(int(entry.name), _kind(cmdline), cmdline))
    return found


def pick_victim(rng: random.Random, root: Path, pilot_share: float, up: list[str]) -> tuple[str, int | None]:
    """A daemon that is up (pid None: the keeper's current one), or a live startd / pilot wrapper."""
    if rng.random() < pilot_share or not up:
        kind = rng.choice(PILOT_KINDS)
        pids = sorted(p.pid for p in processes_under(root) if p.kind == kind)
        if pids:
            return kind, rng.choice(pids)
    return rng.choice(up or list(DAEMONS)), None
