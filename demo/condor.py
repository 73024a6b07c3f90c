"""`glidein demo --htcondor`: the demo's pools on real HTCondor daemons.

A users' pool (collector, negotiator, schedd; the pilots bring the startds) and a WMS collector,
both from one HTCondor release, with IDTOKENS: the factory and the frontend each get a token
for the WMS collector, the frontend one for the users' pool, and the frontend mints the pilots'
tokens from the users' pool signing key. Jobs go in with `condor_submit`; the demo reads them
back with `condor_q` / `condor_history` and the slots with `condor_status`.
"""

from __future__ import annotations

import json
import os
import tarfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glidein.common.errors import GlideinError
from glidein.demo import condor_sites
from glidein.pool.condor.config import PoolSpec
from glidein.pool.condor.personal import NOBODY, CondorPool
from glidein.pool.condor.release import Release

USERS_DOMAIN = "127.0.0.1"
WMS_DOMAIN = "wms.127.0.0.1"
FACTORY_ID = f"factory@{WMS_DOMAIN}"
FRONTEND_WMS_ID = f"frontend@{WMS_DOMAIN}"
FRONTEND_USERS_ID = f"frontend@{USERS_DOMAIN}"
PILOT_ID = f"demo_frontend.main@{USERS_DOMAIN}"  # the frontend mints pilot tokens for <frontend>.<group>
# What the demo's summary reads of every job ad.
JOB_ATTRS: tuple[str, ...] = ("ClusterId", "ProcId", "JobStatus", "ExitCode", "RemoteHost", "QDate")
JOB_ATTRS += ("LastRemoteHost", "JobStartDate")
STATUS_NAMES = {1: "idle", 2: "running", 5: "held"}
RELEASE_PARTS = ("bin", "sbin", "lib", "libexec", "LICENSE", "NOTICE.txt")


@dataclass
class CondorPools:
    """The demo's two pools and the token files it made for the factory and the frontend."""

    users: CondorPool
    wms: CondorPool
    factory_token: Path
    frontend_wms_token: Path
    frontend_users_token: Path

    def stop(self) -> None:
        self.users.stop()
        self.wms.stop()


def start_pools(release: Release, root: Path, ports: tuple[int, int], tokens: Path) -> CondorPools:
    """Start both pools under `root/condor` (collectors on `ports`: users', WMS) and write the
    factory's and the frontend's tokens into `tokens`."""
    base = root / "condor"
    users = CondorPool(
        release,
        PoolSpec(
            base / "users",
            name="demo-users",
            trust_domain=USERS_DOMAIN,
            daemon_identities=(FRONTEND_USERS_ID,),
            startd_identities=(PILOT_ID,),
        ),
    )
    wms = CondorPool(
        release,
        PoolSpec(
            base / "wms",
            roles=("collector",),
            name="demo-wms",
            trust_domain=WMS_DOMAIN,
            daemon_identities=(FACTORY_ID, FRONTEND_WMS_ID),
        ),
    )
    users.port, wms.port = ports
    users.start()
    try:
        wms.start()
    except GlideinError:
        users.stop()
        raise
    authz = ("READ", "WRITE", "DAEMON")
    return CondorPools(
        users,
        wms,
        wms.write_token(tokens / "factory", FACTORY_ID, authz),
        wms.write_token(tokens / "frontend", FRONTEND_WMS_ID, authz),
        users.write_token(tokens / "frontend", FRONTEND_USERS_ID, authz),
    )


def _json_ads(text: str) -> list[dict[str, object]]:
    text = text.strip()
    if not text:
        return []
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise GlideinError(f"HTCondor tool printed no JSON: {exc}") from None
    return [ad for ad in data if isinstance(ad, dict)] if isinstance(data, list) else []


class CondorSchedd:
    """The users' pool's schedd as the demo sees it (the same shape as the embedded ScheddClient)."""

    def __init__(self, pool: CondorPool) -> None:
        self.pool = pool

    def submit(self, sub: Path) -> int:
        """`condor_submit` the file from its directory; the number of jobs queued."""
        out = self.pool.tool("condor_submit", "-terse", sub.name, cwd=sub.parent, timeout=120)
        first, _, last = out.strip().partition(" - ")
        try:
            cluster, proc0 = (int(x) for x in first.split("."))
            cluster_end, proc1 = (int(x) for x in last.split("."))
        except ValueError:
            raise GlideinError(f"condor_submit -terse printed {out.strip()!r}") from None
        return proc1 - proc0 + 1 if cluster == cluster_end else 0

    def status(self) -> dict[str, int]:
        """Jobs in the queue by state: idle, running, held."""
        out = self.pool.tool("condor_q", "-allusers", "-af", "JobStatus", timeout=30)
        counts = Counter(STATUS_NAMES.get(int(word), "other") for word in out.split() if word.isdigit())
        return {name: counts.get(name, 0) for name in ("idle", "running", "held")}

    def jobs(self, include_done: bool = True) -> list[dict[str, object]]:
        """Job ads of the queue and, with include_done, of the history (newest record per job)."""
        attrs = ",".join(JOB_ATTRS)
        ads = _json_ads(self.pool.tool("condor_q", "-allusers", "-json", "-attributes", attrs))
        if include_done:
            ads += _json_ads(self.pool.tool("condor_history", "-json", "-attributes", attrs))
        seen: dict[tuple[object, object], dict[str, object]] = {}
        for ad in ads:
            ad.setdefault("RemoteHost", ad.get("LastRemoteHost"))
            seen.setdefault((ad.get("ClusterId"), ad.get("ProcId")), ad)
        return list(seen.values())

    def slot_pilots(self) -> set[str]:
        """Pilot ids of the startds in the pool now."""
        try:
            out = self.pool.tool("condor_status", "-af", "GLIDEIN_Pilot_ID", timeout=20)
        except GlideinError:
            return set()
        return {word.strip('"') for word in out.split()} - {"undefined", ""}


def pack_release(release: Release, target: Path) -> Path:
    """A tarball of the release for the stage (what glideinWMS calls a condor tarball)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, "w:gz", compresslevel=6) as archive:
        for part in RELEASE_PARTS:
            if (release.root / part).exists():
                archive.add(release.root / part, arcname=part)
    return target


def template_values(layout: Any, release: Release) -> dict[str, str]:
    """Template values of etc/demo/*.yaml for real HTCondor: tokens, the tarball, pilot knobs, and
    the entries of the CE and of the factory's blahp (demo/condor_sites.py)."""
    root = layout.root
    tokens = root / "keys" / "tokens"
    tarball = pack_release(release, root / "condor" / "htcondor-release.tar.gz")
    params = {
        "GLIDEIN_Condor_Trust_Domain": USERS_DOMAIN,
        "GLIDEIN_Condor_Daemon_Identities": "nobody@*",
        "GLIDEIN_Condor_Network_Interface": "127.0.0.1",
        "GLIDEIN_Condor_Update_Interval": "5",
    }
    return {
        "factory_bus": f"condor_tokens: {tokens / 'factory'}\n",
        "factory_staging": f"  startd_mode: condor\n  condor_tarball: {tarball}\n",
        "condor_entries": condor_sites.entries_yaml(root, layout.ports, layout.slurm),
        "frontend_bus": f"condor_tokens: {tokens / 'frontend'}   # WMS and users' pool tokens\n",
        "frontend_schedds": "schedds: []\ndiscover_schedds: true   # the users' pool's schedd ads",
        "credential_type": "idtoken",
        "credential_key": str(root / "condor" / "users" / "local" / "passwords.d" / "POOL"),
        "group_params": "".join(f'      {key}: "{value}"\n' for key, value in params.items()),
        "frontend_identity": FRONTEND_WMS_ID,  # what condor_collector authenticates its ads as
    }


def share_job_dir(root: Path, job_dir: Path) -> None:
    """Jobs of root run as the pool account (nobody): it must reach and write the job dir."""
    if os.geteuid() != 0:
        return
    os.chmod(root, 0o755)  # noqa: S103 - the demo dir holds no secret itself (keys/ stays 0700)
    for path in (job_dir, *job_dir.rglob("*")):
        os.chown(path, NOBODY, NOBODY)
