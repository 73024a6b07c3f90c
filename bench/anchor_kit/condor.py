"""A real condor_collector (and condor_schedd) for side-by-side benches, from the HTCondor harness.

`start_anchor` runs a personal pool (`pool.condor.personal.CondorPool`: condor_master and the daemons
of `roles`, from the release `make htcondor` unpacks, run as nobody under root) with security off on
every server (no authentication, encryption or integrity, everyone allowed), so that it does what
`glidein collector` does. `client_env` is the environment the htcondor2 client processes of a
bench use against both servers (the same config file, so the same client for both).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from glidein.common.errors import ConfigError, GlideinError
from glidein.pool.condor.config import PoolSpec
from glidein.pool.condor.personal import CondorPool, children_of
from glidein.pool.condor.release import find_release

NO_SECURITY = {
    "SEC_DEFAULT_AUTHENTICATION": "NEVER",
    "SEC_DEFAULT_ENCRYPTION": "NEVER",
    "SEC_DEFAULT_INTEGRITY": "NEVER",
    "SEC_CLIENT_AUTHENTICATION": "NEVER",
    "SEC_CLIENT_ENCRYPTION": "NEVER",
    "SEC_CLIENT_INTEGRITY": "NEVER",
    **{
        f"ALLOW_{level}": "*"
        for level in ("READ", "WRITE", "DAEMON", "ADMINISTRATOR", "NEGOTIATOR", "CONFIG")
    },
    "ALLOW_ADVERTISE_STARTD": "*",
    "ALLOW_ADVERTISE_SCHEDD": "*",
    "ALLOW_ADVERTISE_MASTER": "*",
    "COLLECTOR_QUERY_WORKERS": "4",  # the default, said here for the record
}


@dataclass
class Anchor:
    """A running pool and where its pieces are."""

    pool: CondorPool
    tmp: tempfile.TemporaryDirectory[str]

    @property
    def collector(self) -> str:
        return self.pool.collector

    def daemon_pid(self, name: str) -> int:
        """Pid of the pool's daemon called `name` (condor_collector, condor_schedd); 0 if none."""
        if self.pool.proc is None:
            return 0
        for pid in children_of(self.pool.proc.pid):
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == name[:15]:  # comm is cut at 15
                    return pid
            except OSError:
                continue
        return 0

    def version(self) -> str:
        return self.pool.release.version()

    def stop(self) -> None:
        try:
            self.pool.stop()
        finally:
            self.tmp.cleanup()


def start_anchor(roles: tuple[str, ...] = ("collector",), secure: bool = False) -> Anchor | None:
    """A running pool with `roles`; None (after one printed line) when no HTCondor release is there.

    `secure`: keep the harness's recommended security (the schedd needs to know who submits)."""
    try:
        release = find_release()
    except ConfigError as exc:
        print(f"no HTCondor release, the condor side is skipped: {exc}")
        return None
    tmp = tempfile.TemporaryDirectory(prefix="bench-anchor-")
    os.chmod(tmp.name, 0o755)
    extra = {} if secure else dict(NO_SECURITY)
    spec = PoolSpec(Path(tmp.name) / "pool", roles=roles, name="bench-anchor", fast=False, extra=extra)
    pool = CondorPool(release, spec)
    try:
        pool.start(timeout=90)
    except GlideinError as exc:
        tmp.cleanup()
        print(f"the HTCondor pool did not start, the condor side is skipped: {exc}")
        return None
    return Anchor(pool, tmp)


def client_env(anchor: Anchor | None) -> dict[str, str]:
    """Environment for the htcondor2 clients: the anchor's config (security off), else none."""
    return anchor.pool.env() if anchor is not None else {}
