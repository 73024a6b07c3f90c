"""A personal HTCondor pool on loopback: started by pid, checked ready, stopped by pid.

Used by the tests, `glidein demo --htcondor` and `glidein condor pool`. When run as root the pool
runs as `nobody` (as shared/htcondor/README.md recommends): its directory is chowned to that
account, and the parents of the directory must be traversable by it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from glidein.common.errors import GlideinError
from glidein.frontend import idtokens
from glidein.pool.condor.config import LOCAL_SUBDIRS, PoolSpec, config_text
from glidein.pool.condor.release import Release

NOBODY = 65534
PID_FILE = "master.pid"
PORT_FILE = "collector.port"
DAEMON_AD_TYPES = {"collector": "Collector", "negotiator": "Negotiator", "schedd": "Scheduler"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def token_name(identity: str) -> str:
    """The file name of the token of `identity` (`frontend@pool` -> `frontend_at_pool.token`)."""
    return identity.replace("@", "_at_").replace("/", "_") + ".token"


def pool_account() -> tuple[int, int, str]:
    """(uid, gid, name) the pool runs as: nobody when we are root, else ourselves."""
    uid = os.geteuid()
    if uid == 0:
        return NOBODY, NOBODY, pwd.getpwuid(NOBODY).pw_name
    return uid, os.getegid(), pwd.getpwuid(uid).pw_name


def children_of(root_pid: int) -> list[int]:
    """Every live descendant of `root_pid` (from /proc), deepest last."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = int(stat[1])
    found, frontier = [], [root_pid]
    while frontier:
        pid = frontier.pop()
        kids = [child for child, parent in parents.items() if parent == pid]
        found += kids
        frontier += kids
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def stop_master(pid: int, timeout: float = 30.0) -> None:
    """SIGTERM (graceful) to condor_master, then SIGKILL to it and every daemon it left."""
    family = children_of(pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (_alive(pid) or any(_alive(p) for p in family)):
        time.sleep(0.2)
    for other in [pid, *family, *children_of(pid)]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(other, signal.SIGKILL)


def check_traversable(directory: Path, account: str) -> None:
    """GlideinError naming the first parent that `account` (not its owner) cannot enter."""
    for path in [directory, *directory.parents]:
        if not path.stat().st_mode & 0o001:
            raise GlideinError(
                f"{path}: the pool runs as {account} and cannot enter this directory (chmod o+x it)"
            )


class CondorPool:
    """One condor_master with the daemons of `spec.roles`, its own directory and collector port."""

    def __init__(self, release: Release, spec: PoolSpec) -> None:
        self.release, self.spec = release, spec
        self.uid, self.gid, self.account = pool_account()
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def collector(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pool_key(self) -> Path:
        return self.spec.local_dir / "passwords.d" / "POOL"

    def env(self) -> dict[str, str]:
        """Environment for HTCondor's own tools run against this pool (as root too)."""
        env = {"CONDOR_CONFIG": str(self.spec.config_path)}
        if os.geteuid() == 0:
            env["_CONDOR_CONDOR_IDS"] = f"{self.uid}.{self.gid}"
        return env

    def tool(self, name: str, *args: str, timeout: float = 60.0, cwd: Path | None = None) -> str:
        """stdout of the tool `name` (bin/ or sbin/) run with `args`; GlideinError with its stderr."""
        env = dict(os.environ, **self.env())
        argv = [str(self.release.program(name)), *args]
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd, check=False
            )
        except subprocess.TimeoutExpired:
            raise GlideinError(f"{name} did not answer within {timeout:.0f} s") from None
        if done.returncode != 0:
            raise GlideinError(f"{name} {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
        return done.stdout

    def _prepare(self) -> None:
        self.spec.root.mkdir(parents=True, exist_ok=True)
        if self.uid != os.geteuid():
            check_traversable(self.spec.root.resolve().parent, self.account)
        for sub in LOCAL_SUBDIRS:
            (self.spec.local_dir / sub).mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        text = config_text(self.spec, self.release.root, self.port, self.account)
        self.spec.config_path.write_text(text)
        (self.spec.root / PORT_FILE).write_text(str(self.port))
        os.chmod(self.spec.root, 0o755)  # noqa: S103 - daemons of the pool account read it
        for path in [self.spec.root, *self.spec.root.rglob("*")]:
            os.chown(path, self.uid, self.gid)

    def start(self, timeout: float = 60.0) -> None:
        """Write the config, start condor_master -f, wait until every daemon is in the collector."""
        self._prepare()
        out = open(self.spec.root / "master.out", "ab")  # noqa: SIM115 - closed below
        kwargs: dict[str, object] = {}
        if os.geteuid() == 0:
            kwargs = {"user": self.uid, "group": self.gid, "extra_groups": []}
        self.proc = subprocess.Popen(  # type: ignore[call-overload]
            [str(self.release.sbin("condor_master")), "-f"],
            env=dict(os.environ, CONDOR_CONFIG=str(self.spec.config_path)),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.spec.root,
            start_new_session=True,
            **kwargs,
        )
        out.close()
        (self.spec.root / PID_FILE).write_text(str(self.proc.pid))
        try:
            self.wait_ready(timeout)
        except GlideinError:
            self.stop()
            raise

    def daemons_up(self) -> set[str]:
        """MyTypes of the daemon ads this pool's collector holds now (empty when it does not answer)."""
        try:
            return set(self.tool("condor_status", "-any", "-af", "MyType", timeout=10).split())
        except GlideinError:
            return set()

    def wait_ready(self, timeout: float) -> None:
        wanted = {DAEMON_AD_TYPES[r] for r in self.spec.roles if r in DAEMON_AD_TYPES}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise GlideinError(f"condor_master exited with {self.proc.returncode}: {self.log_tail()}")
            if wanted <= self.daemons_up() and self.pool_key.exists():
                return
            time.sleep(0.5)
        raise GlideinError(f"pool {self.spec.name} not ready within {timeout:.0f} s: {self.log_tail()}")

    def log_tail(self, name: str = "MasterLog", lines: int = 5) -> str:
        path = self.spec.local_dir / "log" / name
        text = path.read_text(errors="replace") if path.exists() else "(no log)"
        return " | ".join(text.strip().splitlines()[-lines:])

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc is not None:
            stop_master(self.proc.pid, timeout)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)
            self.proc = None
        (self.spec.root / PID_FILE).unlink(missing_ok=True)

    def mint_token(
        self, identity: str, authz: Sequence[str] = idtokens.STARTD_AUTHZ, lifetime: int = 3600
    ) -> str:
        """An IDTOKEN for `identity` signed with this pool's POOL key."""
        key = idtokens.load_signing_key(self.pool_key)
        return idtokens.mint(key, identity, self.spec.trust_domain, authz, lifetime_s=lifetime)

    def write_token(
        self, directory: Path, identity: str, authz: Sequence[str] = idtokens.STARTD_AUTHZ
    ) -> Path:
        """A 0600 token file for `identity` in `directory` (0700), named after the identity."""
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        target = directory / token_name(identity)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self.mint_token(identity, authz) + "\n")
        return target
