"""Run condor_master for the pilot and report how it went (stdlib only, Python >= 3.6).

Staged as a `source` file; the wrapper starts `python -S condor_launch.py <glidein_config>` in
`condor` mode (GLIDEIN_STARTD_LAUNCHER). It runs `condor_master -f` in its own session and
waits. SIGTERM/SIGINT: SIGTERM to the master (graceful: running jobs are vacated), SIGQUIT after
GLIDEIN_Condor_Stop_Timeout seconds (default 30, fast shutdown), SIGKILL to whatever is left 10 s
later. The launcher is a child subreaper (Linux), so daemons the master leaves behind are found
and killed too: the whole tree ends within a bounded time. At the end it writes
`<work>/execute/startd_result.json` (jobs_run, reason, master_exit) as the embedded startd does,
and, when the master ended badly, prints the tails of MasterLog and StartLog (the wrapper streams
the end of this output). Exit code: 0 when the master ended normally (exit 0, or 99 after
DAEMON_SHUTDOWN), else 1.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional

KILL_AFTER_QUIT = 10.0
# condor_master's exit codes of a normal end: 0, or 99 (DAEMON_SHUTDOWN: "do not restart me").
NORMAL_EXITS = (0, 99)
TAIL_LINES = 25
# StartLog lines that mark a job starting, and why the startd ended.
JOB_MARK = "Changing activity: Idle -> Busy"
SHUTDOWN_MARK = "DaemonShutdown expression"
REASONS = (
    ("No resources have been claimed for", "no claim within STARTD_NOCLAIM_SHUTDOWN"),
    (SHUTDOWN_MARK, "startd DAEMON_SHUTDOWN"),
    ("Got SIGTERM", "SIGTERM"),
    ("Got SIGQUIT", "SIGQUIT"),
)


def read_config(path: str) -> Dict[str, str]:
    values: Dict[str, str] = {}
    with open(path) as handle:
        for line in handle:
            parts = line.rstrip("\n").split(" ", 1)
            if parts[0] and not parts[0].startswith("#"):
                values[parts[0]] = parts[1] if len(parts) > 1 else ""
    return values


def become_subreaper() -> bool:
    """Orphaned descendants re-parent to this process (prctl PR_SET_CHILD_SUBREAPER)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(36, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def children(parent: int) -> List[int]:
    """Pids whose parent is `parent` (from /proc)."""
    found = []
    for name in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and fields[1] == str(parent):
            found.append(int(name))
    return found


def kill_leftovers(deadline: float) -> List[int]:
    """SIGKILL and reap every remaining child (orphans re-parented here) until none or deadline."""
    killed: List[int] = []
    while time.time() < deadline:
        pids = children(os.getpid())
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        time.sleep(0.1)
        reap()
    return sorted(set(killed))


def reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


class Launcher:
    """condor_master under supervision: graceful stop on request, bounded escalation."""

    def __init__(self, config: Dict[str, str]) -> None:
        self.config = config
        self.work = config.get("GLIDEIN_WORK_DIR") or os.path.dirname(config["CONDOR_CONFIG"])
        self.stop_timeout = float(config.get("GLIDEIN_Condor_Stop_Timeout") or 30)
        self.stop_requested: Optional[float] = None
        self.quit_sent: Optional[float] = None
        self.proc: Optional["subprocess.Popen[bytes]"] = None

    def on_signal(self, signum: int, frame: Any) -> None:
        if self.stop_requested is None:
            self.stop_requested = time.time()
            self.send(signal.SIGTERM)

    def send(self, signum: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(OSError):
                os.kill(self.proc.pid, signum)

    def run(self) -> int:
        env = dict(os.environ, CONDOR_CONFIG=self.config["CONDOR_CONFIG"])
        if self.config.get("GLIDEIN_CONDOR_IDS"):
            env["_CONDOR_CONDOR_IDS"] = self.config["GLIDEIN_CONDOR_IDS"]
        master = self.config.get("GLIDEIN_CONDOR_MASTER") or "condor_master"
        become_subreaper()
        signal.signal(signal.SIGTERM, self.on_signal)
        signal.signal(signal.SIGINT, self.on_signal)
        print("condor_launch: starting %s -f" % master, flush=True)
        self.proc = subprocess.Popen([master, "-f"], cwd=self.work, env=env, start_new_session=True)
        while self.proc.poll() is None:
            time.sleep(0.2)
            self.escalate(time.time())
        code = self.proc.returncode
        leftovers = kill_leftovers(time.time() + KILL_AFTER_QUIT)
        if leftovers:
            print("condor_launch: killed leftover processes %s" % leftovers, flush=True)
        return code

    def escalate(self, now: float) -> None:
        if self.stop_requested is None:
            return
        if self.quit_sent is None and now - self.stop_requested > self.stop_timeout:
            print("condor_launch: no graceful end in %.0f s: SIGQUIT" % self.stop_timeout, flush=True)
            self.quit_sent = now
            self.send(signal.SIGQUIT)
        elif self.quit_sent is not None and now - self.quit_sent > KILL_AFTER_QUIT:
            print("condor_launch: SIGKILL to the master's session", flush=True)
            assert self.proc is not None
            with contextlib.suppress(OSError):
                os.killpg(self.proc.pid, signal.SIGKILL)


def log_lines(log_dir: str, name: str) -> List[str]:
    try:
        with open(os.path.join(log_dir, name), errors="replace") as handle:
            return handle.read().splitlines()
    except OSError:
        return []


def shutdown_rule(condor_config: str, jobs: int, now: float) -> str:
    """Which lifetime of the startd's DAEMON_SHUTDOWN ended it (names as the embedded startd's):
    past GLIDEIN_ToDie or GLIDEIN_ToRetire (absolute, in the condor_config), else max idle when no
    job ever ran, else max tail."""
    limits = {}
    for line in log_lines(os.path.dirname(condor_config), os.path.basename(condor_config)):
        name, _, value = line.partition(" = ")
        if name in ("GLIDEIN_ToDie", "GLIDEIN_ToRetire") and value.strip().isdigit():
            limits[name] = int(value)
    if now >= limits.get("GLIDEIN_ToDie", now + 1):
        return "die_time"
    if now >= limits.get("GLIDEIN_ToRetire", now + 1):
        return "retire_time"
    return "max_idle_time" if jobs == 0 else "max_tail_time"


def summary(
    log_dir: str, code: int, stopped: bool, condor_config: str = "", now: float = 0.0
) -> Dict[str, Any]:
    """jobs_run and the reason the startd ended, read from StartLog (and MasterLog)."""
    start_log = log_lines(log_dir, "StartLog")
    text = "\n".join(start_log[-200:] + log_lines(log_dir, "MasterLog")[-200:])
    jobs = sum(1 for line in start_log if JOB_MARK in line)
    reason = "SIGTERM to the pilot" if stopped else "condor_master exited with %s" % code
    for needle, why in REASONS:
        if needle in text and not stopped:
            reason = why
            if needle == SHUTDOWN_MARK and condor_config:
                reason += ": " + shutdown_rule(condor_config, jobs, now or time.time())
            break
    return {"jobs_run": jobs, "reason": reason, "master_exit": code}


def main(argv: List[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: condor_launch.py <glidein_config>\n")
        return 2
    launcher = Launcher(read_config(argv[0]))
    code = launcher.run()
    log_dir = os.path.join(launcher.work, "condor_local", "log")
    stopped = launcher.stop_requested is not None
    result = summary(log_dir, code, stopped, launcher.config["CONDOR_CONFIG"], time.time())
    os.makedirs(os.path.join(launcher.work, "execute"), exist_ok=True)
    with open(os.path.join(launcher.work, "execute", "startd_result.json"), "w") as handle:
        json.dump(result, handle, sort_keys=True)
    print("condor_launch: %s" % json.dumps(result, sort_keys=True), flush=True)
    if code not in NORMAL_EXITS:
        for name in ("MasterLog", "StartLog"):
            for line in log_lines(log_dir, name)[-TAIL_LINES:]:
                print("%s: %s" % (name, line))
    return 0 if code in NORMAL_EXITS else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
