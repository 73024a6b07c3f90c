"""One job in its own sandbox: files written, environment set, process group, outputs read back.

Stdlib, Python >= 3.6. Arguments: a value in double quotes is HTCondor's new syntax (shell-like
words, single quotes group, "" is a literal quote); otherwise words split on white space.
Environment: "A=1 B='x y'" (new syntax) or "A=1;B=2" (old syntax).
The job finds its ad in $_CONDOR_JOB_AD and, as under HTCondor's starter, the slot's ad (old syntax,
one attribute a line) in $_CONDOR_MACHINE_AD.
A job dies with its startd: the shell leading it gets SIGTERM when the startd dies (Linux
PR_SET_PDEATHSIG) and SIGKILLs the job's process group; the group id is also recorded in
<work_dir>/job_pgids/<pgid> while it runs, so that the pilot wrapper, which outlives the startd,
kills whatever of it is left (see glidein_startup.py). The shell writes the job's exit code in the
sandbox (EXIT_FILE): a job that ended unseen by a startd killed -9 is reported by `--flush`.
"""

import base64
import contextlib
import errno
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional

from glidein.pool.startd.results import Result
from glidein.pool.startd.v2args import split_v2

MAX_OUTPUT = 16 * 1024 * 1024
PGID_DIR = "job_pgids"  # in the startd's work dir: one empty file per running job, named by its pgid
PR_SET_PDEATHSIG = 1
EXIT_FILE = ".exit_code"  # in the sandbox: the job's exit code, written by the shell around it
CLAIM_FILE = ".claim"  # in the sandbox: {"claim_id", "job_id"}
# The job runs under a shell that writes its exit code into the sandbox when it ends, so that a job
# ending just before its startd is killed -9 (never seen ending) is still reported once (--flush).
# The shell gets SIGTERM when the startd dies (PR_SET_PDEATHSIG) and then SIGKILLs the job's whole
# process group, itself included: the job and what it forked die with the startd.
EXIT_WRAP = (
    'trap "kill -KILL 0" TERM; "$@" & wait $!; rc=$?; '
    'echo "$rc" > "$0.tmp" && mv -f "$0.tmp" "$0"; exit "$rc"'
)


class JobSetupError(Exception):
    """The claimed job cannot be set up here (bad payload, disk full)."""


def split_args(args: str) -> List[str]:
    text = args.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return split_v2(text[1:-1].replace('""', '"'))
    return text.split()


def parse_env(env: str) -> Dict[str, str]:
    text = env.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        words = split_v2(text[1:-1].replace('""', '"'))
    else:
        old_style = ";" in text and "'" not in text and '"' not in text
        words = text.split(";") if old_style else shlex.split(text)
    out = {}  # type: Dict[str, str]
    for word in words:
        name, sep, value = word.strip().partition("=")
        if sep and name:
            out[name] = value
    return out


def _read_tail(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - MAX_OUTPUT))
            return base64.b64encode(handle.read()).decode("ascii")
    except OSError:
        return ""


def die_with_parent(signum: int) -> Optional[Callable[[], None]]:
    """A preexec_fn that makes the child get `signum` when this process dies; None off Linux or
    without a usable libc (the job then runs as before)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError, ImportError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        try:
            prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0)
            if os.getppid() != parent:  # the parent died before prctl: too late to be told
                os.kill(os.getpid(), signum)
        except Exception:  # noqa: S110 - never keep the job from starting
            pass

    return preexec


class RunningJob(object):
    def __init__(
        self, payload: Dict[str, Any], execute_dir: str, base_env: Dict[str, str], pgid_dir: str = ""
    ) -> None:
        self.claim_id = str(payload["claim_id"])
        self.job_id = str(payload["job_id"])
        self.requests = dict(payload.get("requests") or {})  # type: Dict[str, int]
        self.lease = float(payload.get("lease") or 30.0)
        self.last_heartbeat = time.time()
        safe_id = "".join(c if c.isalnum() or c in "._-" else "_" for c in self.job_id)
        self.sandbox = os.path.join(execute_dir, "dir_{}_{}".format(safe_id, self.claim_id[:8]))
        self.proc = None  # type: Optional[subprocess.Popen[bytes]]
        self.pgid_file = ""
        try:
            self._prepare(payload)
            self._spawn(payload, base_env)
            self._record(pgid_dir)
        except (OSError, KeyError, TypeError, ValueError) as exc:
            self.kill()
            self.cleanup()
            raise JobSetupError("job {}: cannot start: {}".format(self.job_id, exc)) from None

    def cpus(self) -> int:
        return int(self.requests.get("RequestCpus", 1) or 0)

    def _prepare(self, payload: Dict[str, Any]) -> None:
        os.makedirs(self.sandbox, mode=0o700)
        for item in payload.get("files") or []:
            name = os.path.basename(str(item["name"]))
            if not name or name in (".", ".."):
                raise ValueError("bad file name {!r}".format(item["name"]))
            path = os.path.join(self.sandbox, name)
            with open(path, "wb") as handle:
                handle.write(base64.b64decode(str(item["data"])))
            os.chmod(path, int(item.get("mode", 0o644)) & 0o755)
        with open(os.path.join(self.sandbox, ".job.ad"), "w") as handle:
            handle.write(str(payload.get("ad", "")))
        with open(os.path.join(self.sandbox, ".machine.ad"), "w") as handle:
            handle.write(str(payload.get("machine_ad", "")))  # the slot ad, as HTCondor's starter
        with open(os.path.join(self.sandbox, CLAIM_FILE), "w") as handle:
            json.dump({"claim_id": self.claim_id, "job_id": self.job_id}, handle)

    def _spawn(self, payload: Dict[str, Any], base_env: Dict[str, str]) -> None:
        cmd = str(payload["cmd"])
        if payload.get("transfer_executable", True):
            cmd = os.path.join(self.sandbox, os.path.basename(cmd))
        env = dict(base_env)
        env.update(
            {
                "_CONDOR_SCRATCH_DIR": self.sandbox,
                "_CONDOR_JOB_AD": os.path.join(self.sandbox, ".job.ad"),
                "_CONDOR_MACHINE_AD": os.path.join(self.sandbox, ".machine.ad"),
                "TMPDIR": self.sandbox,
                "HOME": self.sandbox,
                "OMP_NUM_THREADS": str(max(1, self.cpus())),
            }
        )
        env.update(parse_env(str(payload.get("env") or "")))
        found = cmd if os.sep in cmd else shutil.which(cmd, path=env.get("PATH"))
        if not found or not os.access(found, os.X_OK):
            raise OSError(errno.ENOENT, "not an executable file", cmd)
        argv = ["/bin/sh", "-c", EXIT_WRAP, os.path.join(self.sandbox, EXIT_FILE), cmd]
        argv += split_args(str(payload.get("args") or ""))
        with contextlib.ExitStack() as files:  # one `with` per file: Python 3.6 has no parenthesized form
            out = files.enter_context(open(os.path.join(self.sandbox, "_condor_stdout"), "wb"))
            err = files.enter_context(open(os.path.join(self.sandbox, "_condor_stderr"), "wb"))
            self.proc = subprocess.Popen(
                argv, cwd=self.sandbox, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=die_with_parent(signal.SIGTERM),  # noqa: PLW1509 - one thread; it only calls prctl
            )  # fmt: skip

    def _record(self, pgid_dir: str) -> None:
        """<pgid_dir>/<pgid>: the job's process group (its session: start_new_session) while it runs."""
        if not pgid_dir or self.proc is None:
            return
        os.makedirs(pgid_dir, exist_ok=True)
        self.pgid_file = os.path.join(pgid_dir, str(self.proc.pid))
        with open(self.pgid_file, "w") as handle:
            handle.write(self.job_id + "\n")

    def poll(self) -> Optional[int]:
        """The exit code once the job ended (negative: killed by that signal), else None."""
        return None if self.proc is None else self.proc.poll()

    def outputs(self) -> List[str]:
        return [_read_tail(os.path.join(self.sandbox, name)) for name in ("_condor_stdout", "_condor_stderr")]

    def kill(self) -> None:
        """SIGKILL the job's process group, also what is left of it after its leader ended."""
        if self.proc is None:
            return
        with contextlib.suppress(OSError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)

    def cleanup(self) -> None:
        shutil.rmtree(self.sandbox, ignore_errors=True)
        if self.pgid_file:
            with contextlib.suppress(OSError):
                os.remove(self.pgid_file)


def ended_unseen(execute_dir: str) -> List[Result]:
    """Results of jobs that ended (their exit code file written) in sandboxes a killed startd left;
    each sandbox taken is removed, so a result is recovered once."""
    out = []  # type: List[Result]
    names = sorted(os.listdir(execute_dir)) if os.path.isdir(execute_dir) else []
    for name in (n for n in names if n.startswith("dir_")):
        sandbox = os.path.join(execute_dir, name)
        try:
            with open(os.path.join(sandbox, EXIT_FILE)) as handle:
                code = int(handle.read().strip())
            with open(os.path.join(sandbox, CLAIM_FILE)) as handle:
                claim = json.load(handle)
            outputs = [_read_tail(os.path.join(sandbox, n)) for n in ("_condor_stdout", "_condor_stderr")]
            out.append(Result(str(claim["claim_id"]), str(claim["job_id"]), code, outputs[0], outputs[1]))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # still running when the startd died, or not ours: nothing to report
        shutil.rmtree(sandbox, ignore_errors=True)
    return out
