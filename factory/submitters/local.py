"""Pilots as local processes: a simulated site per entry (demo and tests).

The site lives in a directory: `jobs/<pilot id>/job.json` is a queued pilot; the site starts it
(through `local_run`) once it has waited `queue_wait` seconds and one of `slots` is free. The run
leaves `pid`, `pilot.log` and finally `exit`. `failure_rate` makes that share of pilots fail
validation (exit 1); `black_hole` makes every pilot die at once. The scheduling pass runs at every
`status` call, i.e. once per factory cycle.

A pilot's secrets and report token are in `pilot.params` (0600, in its 0700 directory), never on
its command line; the runner deletes the file when the pilot ends, the status pass any file left
by a pilot that ended otherwise (removed while queued).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from glidein.common.errors import SubmitError
from glidein.factory.pilot_states import PilotState
from glidein.factory.submitters.base import BackendStatus, PilotRef, PilotSpec
from glidein.factory.submitters.local_run import PARAM_FILE
from glidein.factory.submitters.param_file import forget, with_param_file, write_param_file

S = PilotState
FINAL = (S.COMPLETED, S.FAILED, S.REMOVED)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[0] != "Z"
    return True


def _read_int(path: str) -> int | None:
    try:
        with open(path) as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


class LocalSubmitter:
    def __init__(
        self, entry: str, params: object, work_dir: Path, clock: Callable[[], float] = time.time
    ) -> None:
        self.entry = entry
        self.slots = int(getattr(params, "slots", 4))
        self.queue_wait = float(getattr(params, "queue_wait", 0.0))
        self.failure_rate = float(getattr(params, "failure_rate", 0.0))
        self.black_hole = bool(getattr(params, "black_hole", False))
        own_dir = getattr(params, "work_dir", None)
        self.site = Path(own_dir) if own_dir else Path(work_dir) / "local" / entry
        self.jobs = self.site / "jobs"
        self.clock = clock

    def status_key(self) -> str:
        return f"local:{self.site}"

    def submit(self, pilots: Sequence[PilotSpec]) -> dict[str, str]:
        out: dict[str, str] = {}
        for spec in pilots:
            try:
                self._queue(spec, self.clock())
            except (OSError, SubmitError) as exc:
                forget([self.jobs / spec.pilot_id / PARAM_FILE])
                if out:
                    break  # keep the ones queued; the rest waits for the next cycle
                raise SubmitError(f"local site {self.site}: cannot queue pilots: {exc}") from None
            out[spec.pilot_id] = spec.pilot_id
        return out

    def _queue(self, spec: PilotSpec, now: float) -> None:
        job_dir = self.jobs / spec.pilot_id
        job_dir.mkdir(mode=0o711, parents=True, exist_ok=True)
        # not listable by others; traversable, as a condor-mode pilot run as root drops its daemons
        # to another account that must reach the work dir below; the parameter file itself is 0600
        job_dir.chmod(0o711)
        argv = list(spec.argv)
        if spec.secrets:
            write_param_file(job_dir / PARAM_FILE, spec.secrets)
            argv = with_param_file(argv, str(job_dir / PARAM_FILE))
        job = {
            "argv": argv,
            "env": dict(spec.env),
            "queued_at": now,
            "failure_rate": self.failure_rate,
            "black_hole": self.black_hole,
        }
        tmp = job_dir / "job.json.tmp"
        tmp.write_text(json.dumps(job))
        tmp.chmod(0o600)
        tmp.replace(job_dir / "job.json")

    def _job_state(self, pilot_id: str) -> BackendStatus:
        base = f"{self.jobs}/{pilot_id}/"
        code = _read_int(base + "exit")
        removed = os.path.exists(base + "removed")
        if code is not None:
            state = S.REMOVED if removed else (S.COMPLETED if code == 0 else S.FAILED)
            return BackendStatus(pilot_id, state, pilot_id, code)
        pid = _read_int(base + "pid")
        if pid is None:
            return BackendStatus(pilot_id, S.REMOVED if removed else S.IDLE, pilot_id)
        if _alive(pid):
            return BackendStatus(pilot_id, S.RUNNING, pilot_id)
        code = _read_int(base + "exit")  # it may have just finished
        if code is None:
            return BackendStatus(pilot_id, S.REMOVED if removed else S.FAILED, pilot_id, -9)
        return BackendStatus(pilot_id, S.COMPLETED if code == 0 else S.FAILED, pilot_id, code)

    def _scan(self) -> dict[str, BackendStatus]:
        names = os.listdir(self.jobs) if self.jobs.is_dir() else []
        return {n: self._job_state(n) for n in names if os.path.exists(f"{self.jobs}/{n}/job.json")}

    def _schedule(self, states: dict[str, BackendStatus]) -> None:
        """Start queued pilots that waited long enough, while slots are free (updates `states`)."""
        free = self.slots - sum(1 for st in states.values() if st.state == S.RUNNING)
        if free <= 0:
            return
        queued = [n for n, st in states.items() if st.state == S.IDLE]
        queued.sort(key=lambda n: os.stat(f"{self.jobs}/{n}/job.json").st_mtime)
        now = self.clock()
        for name in queued:
            if free <= 0:
                break
            job = json.loads((self.jobs / name / "job.json").read_text())
            if now - float(job["queued_at"]) < self.queue_wait:
                break  # queued in order: later ones waited even less
            self._launch(self.jobs / name)
            states[name] = BackendStatus(name, S.RUNNING, name)
            free -= 1

    def _launch(self, job_dir: Path) -> None:
        argv = [sys.executable, "-m", "glidein.factory.submitters.local_run", str(job_dir)]
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, close_fds=True)
        proc.wait(30)  # the runner forks and returns at once after writing its pid file

    def status(self, pilots: Sequence[PilotRef]) -> dict[str, BackendStatus]:
        """The site's pilots (one scan of its directory, which also starts queued pilots)."""
        if not self.site.exists():
            return {}
        try:
            with open(self.site / ".schedule.lock", "a") as lock:  # one scheduler at a time: a site
                fcntl.flock(lock, fcntl.LOCK_EX)  # relay and the factory may both poll this site
                states = self._scan()
                self._schedule(states)
        except (OSError, ValueError) as exc:
            raise SubmitError(f"local site {self.site}: cannot read pilot status: {exc}") from None
        forget([self.jobs / n / PARAM_FILE for n, st in states.items() if st.state in FINAL])
        return {ref.pilot_id: states[ref.pilot_id] for ref in pilots if ref.pilot_id in states}

    def remove(self, pilots: Sequence[PilotRef]) -> None:
        for ref in pilots:
            job_dir = self.jobs / ref.pilot_id
            if not job_dir.is_dir():
                continue
            (job_dir / "removed").touch()
            pid = _read_int(str(job_dir / "pid"))
            if pid is not None and _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)

    def stdout_path(self, pilot_id: str) -> Path:
        """Where the pilot's stdout (and stderr) goes: a self-contained pilot's output block."""
        return self.jobs / pilot_id / "pilot.log"

    def release(self, pilots: Sequence[PilotRef]) -> None:
        """A local site never holds pilots."""
