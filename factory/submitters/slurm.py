"""Pilots as Slurm batch jobs: `sbatch` to submit, ONE `squeue` per cycle for all pilots, `scancel`.

Each pilot is a batch script `<work_dir>/<pilot id>.sh` (0600) named `glidein_<pilot id>` so that
`squeue` reports by pilot id and a restarted factory recognises jobs it submitted before a crash.
The pilot's secrets and report token are in `<work_dir>/<pilot id>.params` (0600, the factory's
account, which the job runs as; `work_dir` is shared with the nodes, as `--chdir` and the exit
file need), passed as `-param_file`, never on the command line, which `ps` on the node shows to
all; the script deletes the file when the pilot ends, the status pass when Slurm says it ended.
The cluster is the one `SLURM_CONF` (environment) names. Output parsing is in pure functions.

Exit codes: with Slurm accounting (slurmdbd), ONE `sacct` per cycle asks for the pilots that ended
other than COMPLETED or left `squeue` (Slurm forgets finished jobs after `MinJobAge`); its record
(`FAILED 7:0`) is the pilot's end. A pilot `squeue` shows as failed but accounting has not recorded
yet stays RUNNING until it has (or until the pilot leaves `squeue`). Without accounting (`sacct`
says so) or when `sacct` fails, the code comes from `<pilot id>.exit`, which the batch script
writes when the node shares the factory's disk, else it is -1 (unknown).

Slurm's client commands retry for a minute when the cluster cannot be reached (e.g. a missing or
broken `SLURM_CONF`), which would stall the cycle: every command runs with a bounded timeout
(`submitter.command_timeout`), and a `SLURM_CONF` naming a missing or empty file fails at once
without running anything. Either way the entry fails closed with one line naming the cause.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shlex
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from glidein.common.errors import SubmitError
from glidein.factory.pilot_states import PilotState
from glidein.factory.selfcontained import shell_embedded
from glidein.factory.submitters.base import JOB_PREFIX, BackendStatus, PilotRef, PilotSpec
from glidein.factory.submitters.param_file import SUFFIX, forget, with_param_file, write_param_file

log = logging.getLogger(__name__)
S = PilotState
SQUEUE_FORMAT = "%A|%j|%T|%r"
SACCT_FORMAT = "JobIDRaw,JobName,State,ExitCode"
NO_ACCOUNTING = "accounting storage is disabled"  # sacct on a cluster without slurmdbd (rc 1)
UNKNOWN_EXIT = -1
HOLD_REASONS = ("JobHeldUser", "JobHeldAdmin")
_STATES: dict[str, PilotState] = {
    "PENDING": S.IDLE,
    "REQUEUED": S.IDLE,
    "REQUEUE_HOLD": S.HELD,
    "REQUEUE_FED": S.IDLE,
    "RESIZING": S.IDLE,
    "CONFIGURING": S.RUNNING,
    "RUNNING": S.RUNNING,
    "COMPLETING": S.RUNNING,
    "SUSPENDED": S.RUNNING,
    "STOPPED": S.RUNNING,
    "SIGNALING": S.RUNNING,
    "STAGE_OUT": S.RUNNING,
    "COMPLETED": S.COMPLETED,
    "CANCELLED": S.REMOVED,
    "FAILED": S.FAILED,
    "TIMEOUT": S.FAILED,
    "NODE_FAIL": S.FAILED,
    "OUT_OF_MEMORY": S.FAILED,
    "BOOT_FAIL": S.FAILED,
    "DEADLINE": S.FAILED,
    "PREEMPTED": S.FAILED,
    "SPECIAL_EXIT": S.HELD,
    "REVOKED": S.REMOVED,
}


class SlurmTimeout(SubmitError):
    """A Slurm command was cut at its timeout: what it did (e.g. an sbatch) is unknown."""


@dataclass(frozen=True)
class SlurmJob:
    job_id: str
    name: str
    state: str
    reason: str


@dataclass(frozen=True)
class AccountedJob:
    """One job as `sacct -X` records it: state `FAILED`, `CANCELLED` (of "CANCELLED by 0"), ..."""

    job_id: str
    name: str
    state: str
    exit_code: int  # the exit status, 128 + signal when a signal ended it

    @property
    def ended(self) -> bool:
        return _STATES.get(self.state) in (S.COMPLETED, S.FAILED, S.REMOVED)


Accounting = Mapping[str, AccountedJob | None]  # pilot id -> its end as recorded, None: not yet


Runner = Callable[[Sequence[str]], tuple[int, str, str]]


DEFAULT_TIMEOUT = 20.0
TIMED_OUT = 124


def run_command(argv: Sequence[str], timeout: float = DEFAULT_TIMEOUT) -> tuple[int, str, str]:
    """Run a Slurm client command; (return code, stdout, stderr). Missing tools are rc 127, a
    command still running after `timeout` seconds is killed: rc 124."""
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        return 127, "", f"{argv[0]}: command not found"
    except subprocess.TimeoutExpired:
        return TIMED_OUT, "", f"{argv[0]}: timed out after {timeout:g} s"
    return proc.returncode, proc.stdout, proc.stderr


def conf_problem(env: Mapping[str, str]) -> str:
    """Why the `SLURM_CONF` of `env` cannot work (missing, unreadable or empty file), or ""."""
    path = env.get("SLURM_CONF")
    if not path:
        return ""  # the default file, or configless Slurm: only the command can tell
    try:
        size = os.stat(path).st_size
        with open(path, "rb"):
            pass
    except OSError as exc:
        return f"SLURM_CONF={path}: {exc.strerror or exc}"
    return f"SLURM_CONF={path}: empty file" if size == 0 else ""


# ---------------------------------------------------------------- pure parsing


def parse_sbatch(stdout: str) -> str:
    """`sbatch --parsable` prints `<job id>[;<cluster>]`; the job id."""
    text = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    job_id = text.split(";", 1)[0]
    if not job_id.isdigit():
        raise SubmitError(f"sbatch printed no job id: {stdout.strip()[:200]!r}")
    return job_id


def _job_fields(line: str, tool: str) -> tuple[str, str, str, str]:
    """`<job id>|<name>|<a>|<b>` of squeue or sacct, where the job name may contain '|'."""
    job_id, sep, rest = line.partition("|")
    parts = rest.rsplit("|", 2)
    if not sep or len(parts) != 3 or not job_id.strip().isdigit():
        raise SubmitError(f"unexpected {tool} line: {line[:200]!r}")
    return job_id.strip(), parts[0], parts[1].strip(), parts[2].strip()


def parse_squeue(stdout: str) -> list[SlurmJob]:
    """Lines of `squeue -h -t all -o '%A|%j|%T|%r'`."""
    return [SlurmJob(*_job_fields(line, "squeue")) for line in stdout.splitlines() if line.strip()]


def parse_exit_code(field: str) -> int:
    """sacct's `ExitCode` `<status>:<signal>`: `7:0` is 7, `0:9` (killed) is 137."""
    status, _, signal = field.strip().partition(":")
    if not status.isdigit() or not (signal or "0").isdigit():
        raise SubmitError(f"unexpected sacct exit code: {field[:50]!r}")
    return int(status) or (128 + int(signal) if int(signal or "0") else 0)


def parse_sacct(stdout: str) -> list[AccountedJob]:
    """Lines of `sacct -X -n -P -o JobIDRaw,JobName,State,ExitCode` (job names may contain '|')."""
    jobs: list[AccountedJob] = []
    for line in stdout.splitlines():
        if line.strip():
            job_id, name, state, code = _job_fields(line, "sacct")
            jobs.append(
                AccountedJob(job_id, name, state.split(" ", 1)[0], parse_exit_code(code))
            )  # "CANCELLED by 0"
    return jobs


def _pilot_id(job_name: str) -> str:
    return job_name[len(JOB_PREFIX) :] if job_name.startswith(JOB_PREFIX) else ""


def jobs_to_account(jobs: Sequence[SlurmJob], pilots: Sequence[PilotRef]) -> dict[str, str]:
    """Job id -> pilot id of the `pilots` whose end only accounting knows: those `squeue` shows as
    failed (it has no exit code) and those it no longer lists (by the job id they were given)."""
    wanted = {p.pilot_id for p in pilots}
    listed: set[str] = set()
    out: dict[str, str] = {}
    for job in jobs:
        pilot_id = _pilot_id(job.name)
        if pilot_id in wanted:
            listed.add(pilot_id)
            if _STATES.get(job.state) == S.FAILED:
                out[job.job_id] = pilot_id
    for ref in pilots:
        if ref.pilot_id not in listed and ref.backend_id.isdigit():
            out[ref.backend_id] = ref.pilot_id
    return out


def accounted_pilots(
    records: Sequence[AccountedJob], asked: Mapping[str, str]
) -> dict[str, AccountedJob | None]:
    """Pilot id -> the ended record of each pilot `asked` (job id -> pilot id) for, None if none."""
    out: dict[str, AccountedJob | None] = dict.fromkeys(asked.values())
    for rec in records:
        pilot_id = asked.get(rec.job_id)
        if pilot_id and rec.name == f"{JOB_PREFIX}{pilot_id}" and rec.ended:
            out[pilot_id] = rec
    return out


def _ended(pilot_id: str, rec: AccountedJob) -> BackendStatus:
    state = _STATES[rec.state]
    code = rec.exit_code if state in (S.COMPLETED, S.FAILED) else None
    if state == S.FAILED and code == 0:
        code = UNKNOWN_EXIT  # ended by Slurm (node failure, ...) rather than by a status of its own
    return BackendStatus(pilot_id, state, rec.job_id, code)


def _listed(
    job: SlurmJob, pilot_id: str, exit_codes: Mapping[str, int], accounting: Accounting | None
) -> BackendStatus:
    state = _STATES.get(job.state, S.IDLE)
    if job.state == "PENDING" and job.reason in HOLD_REASONS:
        return BackendStatus(pilot_id, S.HELD, job.job_id, None, job.reason)
    rec = (accounting or {}).get(pilot_id)
    if state == S.FAILED and rec is not None:
        return _ended(pilot_id, rec)
    code = exit_codes.get(pilot_id)
    if state == S.FAILED and code is None:
        if accounting is not None and pilot_id in accounting:
            return BackendStatus(pilot_id, S.RUNNING, job.job_id)  # its end is not accounted yet
        code = UNKNOWN_EXIT
    if state == S.COMPLETED and code is None:
        code = 0  # COMPLETED: every step exited 0
    return BackendStatus(pilot_id, state, job.job_id, code if state in (S.COMPLETED, S.FAILED) else None)


def pilot_statuses(
    jobs: Sequence[SlurmJob],
    exit_codes: Mapping[str, int] | None = None,
    accounting: Accounting | None = None,
) -> dict[str, BackendStatus]:
    """Our pilots among `jobs` (squeue), by pilot id; the newest job wins if a name repeats.

    `exit_codes` are the pilots' exit files; `accounting` what sacct answered for the pilots asked
    about (`accounted_pilots`), None when it did not answer: a failed pilot gets its recorded code,
    and a pilot gone from squeue whose end is recorded is reported as it ended.
    """
    out: dict[str, BackendStatus] = {}
    for job in sorted(jobs, key=lambda j: int(j.job_id)):
        pilot_id = _pilot_id(job.name)
        if pilot_id:
            out[pilot_id] = _listed(job, pilot_id, exit_codes or {}, accounting)
    for pilot_id, rec in (accounting or {}).items():
        if pilot_id not in out and rec is not None:
            out[pilot_id] = _ended(pilot_id, rec)
    return out


def batch_script(spec: PilotSpec, exit_file: Path, param_file: Path | None = None) -> str:
    """The job script: the pilot's environment, its command line (reading `param_file`, deleted
    when the pilot ends), and the exit-code record."""
    lines = ["#!/bin/sh", f"# glidein pilot {spec.pilot_id} of entry {spec.entry} for {spec.client}"]
    lines += [f"export {k}={shlex.quote(v)}" for k, v in sorted(spec.env.items())]
    argv = with_param_file(spec.argv, str(param_file)) if param_file is not None else spec.argv
    packed = shell_embedded(argv)  # a self-contained pilot travels inside the script
    lines += [*packed[0], packed[1]] if packed else [shlex.join(argv)]
    lines.append("rc=$?" + ('; rm -f "$packed"' if packed else ""))
    if param_file is not None:
        lines.append(f"rm -f {shlex.quote(str(param_file))}")
    lines += [f"echo $rc > {shlex.quote(str(exit_file))}", "exit $rc", ""]
    return "\n".join(lines)


def sbatch_argv(spec: PilotSpec, script: Path, out_dir: Path, params: object) -> list[str]:
    argv = ["sbatch", "--parsable", f"--job-name={JOB_PREFIX}{spec.pilot_id}"]
    argv += [f"--output={out_dir / spec.pilot_id}.out", f"--chdir={out_dir}"]
    argv += [f"--time={int(getattr(params, 'time_limit', 60))}", f"--cpus-per-task={max(1, spec.cpus)}"]
    if spec.memory_mb:
        argv.append(f"--mem={spec.memory_mb}")
    if getattr(params, "partition", None):
        argv.append(f"--partition={params.partition}")  # type: ignore[attr-defined]
    if getattr(params, "account", None):
        argv.append(f"--account={params.account}")  # type: ignore[attr-defined]
    argv += [str(a) for a in getattr(params, "sbatch_args", [])]
    return [*argv, str(script)]


# ---------------------------------------------------------------- the adapter


class SlurmSubmitter:
    def __init__(
        self,
        entry: str,
        params: object,
        work_dir: Path,
        runner: Runner | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.entry, self.params = entry, params
        self.timeout = float(getattr(params, "command_timeout", DEFAULT_TIMEOUT))
        self.runner: Runner = runner or functools.partial(run_command, timeout=self.timeout)
        self.env = os.environ if env is None else env
        own = getattr(params, "work_dir", None)
        self.out_dir = Path(own) if own else Path(work_dir) / "slurm"
        self.uncertain: set[str] = set()  # pilots whose sbatch timed out: maybe queued

    def status_key(self) -> str:
        return f"slurm:{self.out_dir}"  # one squeue serves every Slurm entry sharing the work dir

    def _run(self, argv: Sequence[str], what: str) -> str:
        problem = conf_problem(self.env)
        if problem:
            raise SubmitError(f"entry {self.entry}: {what} not run: {problem}")
        rc, out, err = self.runner(argv)
        if rc == TIMED_OUT:
            raise SlurmTimeout(
                f"entry {self.entry}: {what} timed out after {self.timeout:g} s (submitter.command_timeout;"
                f" SLURM_CONF={self.env.get('SLURM_CONF', '(default)')}): is slurmctld reachable?"
            )
        if rc != 0:
            raise SubmitError(f"entry {self.entry}: {what} failed (rc {rc}): {err.strip()[:300]}")
        return out

    def _script(self, spec: PilotSpec) -> Path:
        """The pilot's batch script (0600) and, with secrets, its parameter file (0600)."""
        params = self.out_dir / f"{spec.pilot_id}{SUFFIX}" if spec.secrets else None
        if params is not None:
            write_param_file(params, spec.secrets)
        script = self.out_dir / f"{spec.pilot_id}.sh"
        try:
            script.touch(mode=0o600)
            script.write_text(batch_script(spec, self.out_dir / f"{spec.pilot_id}.exit", params))
        except OSError as exc:
            raise SubmitError(f"entry {self.entry}: cannot write {script}: {exc}") from None
        return script

    def submit(self, pilots: Sequence[PilotSpec]) -> dict[str, str]:
        self.out_dir.mkdir(mode=0o711, parents=True, exist_ok=True)  # traversable: see local.py
        accepted: dict[str, str] = {}
        for spec in pilots:
            try:
                script = self._script(spec)
                out = self._run(sbatch_argv(spec, script, self.out_dir, self.params), "sbatch")
                accepted[spec.pilot_id] = parse_sbatch(out)
            except SubmitError as exc:
                if isinstance(exc, SlurmTimeout):  # it may be queued: squeue will tell (by job name)
                    self.uncertain.add(spec.pilot_id)
                else:
                    forget([self.out_dir / f"{spec.pilot_id}{SUFFIX}"])
                if not accepted:
                    raise
                break  # keep what was accepted; the rest waits for the next cycle
        return accepted

    def status(self, pilots: Sequence[PilotRef]) -> dict[str, BackendStatus]:
        jobs = parse_squeue(self._run(["squeue", "-h", "-t", "all", "-o", SQUEUE_FORMAT], "squeue"))
        codes: dict[str, int] = {}
        for job in jobs:
            pilot_id = _pilot_id(job.name)
            if pilot_id and _STATES.get(job.state) in (S.COMPLETED, S.FAILED):
                with contextlib.suppress(OSError, ValueError):
                    codes[pilot_id] = int((self.out_dir / f"{pilot_id}.exit").read_text().strip())
        statuses = pilot_statuses(jobs, codes, self._accounting(jobs_to_account(jobs, pilots)))
        ended = [p for p, st in statuses.items() if st.state in (S.COMPLETED, S.FAILED, S.REMOVED)]
        forget([self.out_dir / f"{p}{SUFFIX}" for p in ended if "/" not in p])
        return statuses

    def _accounting(self, asked: Mapping[str, str]) -> Accounting | None:
        """ONE sacct for the ended pilots `asked` (job id -> pilot id); None without an answer."""
        if not asked:
            return None
        ids = ",".join(sorted(asked, key=int))
        rc, out, err = self.runner(["sacct", "-X", "-n", "-P", "-j", ids, "-o", SACCT_FORMAT])
        if rc == 0:
            try:
                return accounted_pilots(parse_sacct(out), asked)
            except SubmitError as exc:
                err = str(exc)
        if NO_ACCOUNTING in err or NO_ACCOUNTING in out:
            log.debug("entry=%s no Slurm accounting: exit codes from the pilots' exit files", self.entry)
        else:
            why = (
                f"timed out after {self.timeout:g} s" if rc == TIMED_OUT else f"rc {rc}: {err.strip()[:200]}"
            )
            log.warning("entry=%s sacct failed (%s): exit codes from the pilots' exit files", self.entry, why)
        return None

    def remove(self, pilots: Sequence[PilotRef]) -> None:
        ids = [p.backend_id for p in pilots if p.backend_id]
        if ids:
            self._run(["scancel", *ids], "scancel")

    def stdout_path(self, pilot_id: str) -> Path:
        """The pilot's `--output` file: a self-contained pilot's output block."""
        return self.out_dir / f"{pilot_id}.out"

    def release(self, pilots: Sequence[PilotRef]) -> None:
        ids = [p.backend_id for p in pilots if p.backend_id]
        if ids:
            self._run(["scontrol", "release", ",".join(ids)], "scontrol release")
