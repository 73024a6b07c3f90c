"""The processes the demo starts: each in its own session with its own log, stopped by pid.

`Supervisor.stop_all` sends SIGTERM in reverse start order, waits, then SIGKILLs the process
group of any that did not stop. The pids are also written to `<dir>/pids.json` so that a demo
left running with `--keep` can be stopped later (`glidein demo --stop DIR`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from glidein.common.errors import GlideinError

log = logging.getLogger(__name__)
GLIDEIN = [sys.executable, "-m", "glidein.cli"]


@dataclass
class Started:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise GlideinError(f"demo: {what} not ready within {timeout:.0f} s")


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        return False


class Supervisor:
    def __init__(self, log_dir: Path, pid_file: Path) -> None:
        self.log_dir, self.pid_file = log_dir, pid_file
        self.started: list[Started] = []

    def glidein(self, name: str, args: Sequence[str], env: dict[str, str] | None = None) -> Started:
        return self.start(name, [*GLIDEIN, *args], env)

    def start(self, name: str, argv: Sequence[str], env: dict[str, str] | None = None) -> Started:
        path = self.log_dir / f"{name}.log"
        full_env = dict(os.environ, **(env or {}))
        with open(path, "ab") as out:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=full_env,
                start_new_session=True,
            )
        started = Started(name, proc, path)
        self.started.append(started)
        self._save()
        log.debug("started %s pid=%d", name, proc.pid)
        return started

    def adopt(self, name: str, proc: subprocess.Popen[bytes], log_path: Path) -> Started:
        """Track a process started elsewhere (an HTCondor pool's condor_master) like our own."""
        started = Started(name, proc, log_path)
        self.started.append(started)
        self._save()
        return started

    def _save(self) -> None:
        data = {s.name: s.proc.pid for s in self.started}
        tmp = self.pid_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(self.pid_file)

    def dead(self) -> list[str]:
        """Names of the processes that have exited."""
        return [s.name for s in self.started if s.proc.poll() is not None]

    def tail(self, name: str, lines: int = 15) -> str:
        path = self.log_dir / f"{name}.log"
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop_named(self, name: str, timeout: float = 15.0) -> bool:
        """SIGTERM one process and wait for it; SIGKILL its group after `timeout`. False if killed."""
        for item in self.started:
            if item.name == name and item.proc.poll() is None:
                item.proc.send_signal(signal.SIGTERM)
                try:
                    item.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(item.proc.pid, signal.SIGKILL)
                    item.proc.wait(5)
                    return False
        return True

    def stop_all(self, timeout: float = 15.0) -> list[str]:
        """Stop every process started, newest first; return the names that had to be killed."""
        for item in reversed(self.started):
            if item.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    item.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        killed = []
        for item in reversed(self.started):
            try:
                item.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                killed.append(item.name)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(item.proc.pid, signal.SIGKILL)
                item.proc.wait(5)
        return killed


def _ours(pid: int) -> bool:
    """The pid is still one of the demo's processes, `python -m glidein.cli` or an HTCondor pool's
    condor_master (not a reused pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        return b"glidein.cli" in cmdline or cmdline.split(b"\0")[0].endswith(b"/condor_master")
    except OSError:
        return False


def running_from_pid_file(pid_file: Path) -> dict[str, int]:
    """The processes of `<dir>/pids.json` (a demo left running) that still run: name -> pid."""
    try:
        recorded: dict[str, int] = json.loads(pid_file.read_text())
    except (OSError, ValueError) as exc:
        raise GlideinError(f"{pid_file}: no demo processes recorded ({exc})") from None
    return {name: pid for name, pid in recorded.items() if _ours(pid)}


def stop_pid_file(pid_file: Path, names: Sequence[str] | None = None, timeout: float = 15.0) -> list[str]:
    """Stop processes of a demo left running (`--keep`), all or only `names`; return those killed."""
    pids = {n: p for n, p in running_from_pid_file(pid_file).items() if names is None or n in names}
    for pid in reversed(list(pids.values())):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids.values()):
        time.sleep(0.2)
    left = [name for name, pid in pids.items() if alive(pid)]
    for name in left:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pids[name], signal.SIGKILL)
    return left
