"""Real HTCondor pools for the tests: one users' pool and one WMS collector per test module.

The release comes from `glidein.pool.condor.release.find_release` (`make` unpacks the one in
../shared/htcondor into the venv). Without one the tests are skipped with the reason; under
CI=true that is a failure. Pools live under a world-traversable temp dir (they run as nobody
when the tests run as root) and are stopped by pid at the end of the module.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from glidein.common.errors import ConfigError
from glidein.pool.condor.config import PoolSpec
from glidein.pool.condor.personal import CondorPool, pool_account
from glidein.pool.condor.release import Release, find_release
from glidein.pool.condor.sites import CE_SCHEDD, FACTORY_SCHEDD, schedd_pool_spec, start_schedd_pool

USERS_DOMAIN = "127.0.0.1"
WMS_DOMAIN = "wms.127.0.0.1"
FRONTEND_USERS = f"frontend@{USERS_DOMAIN}"
PILOT_ID = f"pilot@{USERS_DOMAIN}"
FRONTEND_GROUP_USERS = f"fe.main@{USERS_DOMAIN}"  # whom the frontend mints pilot IDTOKENs for
FACTORY_WMS = f"factory@{WMS_DOMAIN}"
FRONTEND_WMS = f"frontend@{WMS_DOMAIN}"


@pytest.fixture(scope="session")
def condor_release() -> Release:
    try:
        return find_release()
    except ConfigError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and no HTCondor: {exc}")
        pytest.skip(f"needs HTCondor: {exc}")


@pytest.fixture(scope="module")
def condor_dir() -> Iterator[Path]:
    """A fresh directory the pool account can enter (pytest's tmp dirs are 0700)."""
    path = Path(tempfile.mkdtemp(prefix="glidein-condor-test-"))
    os.chmod(path, 0o755)
    uid, gid, _ = pool_account()
    os.chown(path, uid, gid)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def users_spec(root: Path) -> PoolSpec:
    return PoolSpec(
        root / "users",
        name="users-pool",
        trust_domain=USERS_DOMAIN,
        daemon_identities=(FRONTEND_USERS,),
        startd_identities=(PILOT_ID, FRONTEND_GROUP_USERS),
    )


def wms_spec(root: Path) -> PoolSpec:
    return PoolSpec(
        root / "wms",
        roles=("collector",),
        name="wms",
        trust_domain=WMS_DOMAIN,
        daemon_identities=(FACTORY_WMS, FRONTEND_WMS),
    )


@pytest.fixture(scope="module")
def users_pool(condor_release: Release, condor_dir: Path) -> Iterator[CondorPool]:
    """Collector, negotiator and schedd (no startd: pilots bring them)."""
    pool = CondorPool(condor_release, users_spec(condor_dir))
    pool.start()
    try:
        yield pool
    finally:
        pool.stop()


@pytest.fixture(scope="module")
def wms_pool(condor_release: Release, condor_dir: Path) -> Iterator[CondorPool]:
    """A WMS collector alone (the ClassAd bus)."""
    pool = CondorPool(condor_release, wms_spec(condor_dir))
    pool.start()
    try:
        yield pool
    finally:
        pool.stop()


@pytest.fixture
def job_dir(condor_dir: Path, tmp_path: Path) -> Path:
    """A submit directory the pool account may write (jobs of root run as the pool account)."""
    path = Path(tempfile.mkdtemp(prefix="jobs-", dir=condor_dir))
    os.chmod(path, 0o777)
    return path


FACTORY_DOMAIN = "factory.127.0.0.1"
CE_DOMAIN = "ce.127.0.0.1"
FACTORY_SUBMITTER = f"gfactory@{FACTORY_DOMAIN}"  # the factory's identity at its own schedd


@dataclass
class Sites:
    """The factory's schedd, a CE (its own collector and schedd), and the factory's token dir."""

    factory: CondorPool
    ce: CondorPool
    tokens: Path
    slurm_conf: str | None


def start_sites(release: Release, root: Path, slurm_conf: str | None) -> Sites:
    factory = CondorPool(
        release, schedd_pool_spec(root / "factory", FACTORY_SCHEDD, FACTORY_DOMAIN, slurm_conf)
    )
    ce = CondorPool(release, schedd_pool_spec(root / "ce", CE_SCHEDD, CE_DOMAIN, slurm_conf))
    start_schedd_pool(factory)
    try:
        start_schedd_pool(ce)
    except Exception:
        factory.stop()
        raise
    tokens = root / "factory-tokens"
    factory.write_token(tokens, FACTORY_SUBMITTER, authz=("READ", "WRITE"))
    return Sites(factory, ce, tokens, slurm_conf)
