"""The suite's one-node Slurm on loopback, with accounting (slurmdbd + MariaDB: real `sacct`).

`slurm_conf` (made visible to every test package by tests/conftest.py) starts it at most once
per session with scripts/slurm_up.sh and stops it at the end with scripts/slurm_down.sh, which
signals only the daemons named by its pid files. Everything lives under PREFIX, on the ports of
ENV. Two pytest sessions on one host share the cluster: each registers under PREFIX/sessions/
(a file named by its pid, under a lock), and the last one to leave stops the cluster, only if a
pytest session started it (a cluster somebody started by hand is left running).

Without Slurm (or root) the tests that need it are skipped with the reason; under CI=true that,
like any cluster that cannot start, is a failure.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from glidein.demo.processes import alive

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
PREFIX = Path("/tmp/glidein-slurm-pytest")
ENV = {
    "SLURM_PREFIX": str(PREFIX),
    "SLURM_CTLD_PORT": "17917",
    "SLURM_SLURMD_PORT": "17918",
    "SLURM_CPUS": "8",
    "SLURM_ACCOUNTING": "1",
    "SLURM_DBD_PORT": "17916",
    "SLURM_MYSQL_PORT": "17915",
}
TOOLS = ("slurmctld", "slurmd", "munged", "sbatch", "sacct", "slurmdbd", "mariadbd")
SCRIPT_TIMEOUT = 120.0
SESSIONS = PREFIX / "sessions"
OWNED = SESSIONS / "started-by-pytest"  # present: a pytest session started the running cluster


def cannot_run(reason: str) -> None:
    """Skip (fail under CI=true, where Slurm must work) with `reason`."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and no Slurm cluster: {reason}")
    pytest.skip(reason)


def _script(name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPTS / name)],
        env={**os.environ, **ENV},
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT,
        check=False,
    )


def _ctld_running() -> bool:
    """slurmctld named by our pid file is alive and is ours (its command line names PREFIX)."""
    try:
        pid = int((PREFIX / "run" / "slurmctld.pid").read_text().strip())
        return str(PREFIX) in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    except (OSError, ValueError):
        return False


def _other_sessions() -> list[int]:
    """Live pytest sessions registered besides this one (stale entries are dropped)."""
    others = []
    for entry in SESSIONS.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        if alive(int(entry.name)):
            others.append(int(entry.name))
        else:
            entry.unlink(missing_ok=True)
    return others


class _Lock:
    """An exclusive flock on PREFIX/sessions.lock: one session starts or stops the cluster at a time."""

    def __enter__(self) -> None:
        SESSIONS.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(PREFIX / "sessions.lock", os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)  # releases the lock


def _join() -> None:
    """Register this session and bring the cluster up (slurm_up.sh only re-checks a running one)."""
    with _Lock():
        if not _ctld_running() and not _other_sessions():
            OWNED.touch()  # we start it: the last pytest session stops it
        (SESSIONS / str(os.getpid())).touch()
        up = _script("slurm_up.sh")
    if up.returncode != 0:
        _leave()
        cannot_run(f"slurm_up.sh failed (rc {up.returncode}): {up.stdout[-1500:]} {up.stderr[-1500:]}")


def _leave() -> None:
    """Unregister; the last session stops a cluster that a pytest session started."""
    with _Lock():
        (SESSIONS / str(os.getpid())).unlink(missing_ok=True)
        if OWNED.exists() and not _other_sessions():
            _script("slurm_down.sh")
            OWNED.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def slurm_conf() -> Iterator[str]:
    """SLURM_CONF of the running cluster (accounting on: `sacct` reports real exit codes)."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        cannot_run(f"Slurm is not installed: no {', '.join(missing)} (scripts/system_deps.sh installs it)")
    if os.geteuid() != 0:
        cannot_run("the test Slurm cluster needs root")
    _join()
    try:
        yield str(PREFIX / "etc" / "slurm.conf")
    finally:
        _leave()
