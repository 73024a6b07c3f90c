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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from glidein.common.errors import ConfigError
from glidein.pool.condor.config import PoolSpec
from glidein.pool.condor.personal import CondorPool, pool_account
from glidein.pool.condor.release import Release, find_release
from tests.integration.condor.pilots_support import Factory, Sites, start_factory
from tests.procs import Processes

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


@pytest.fixture
def factory_for(sites: Sites, tmp_path: Path, processes: Processes) -> Iterator[Callable[..., Factory]]:
    """Start a factory for the test's entries (the module's `sites`); its pilots are removed after."""
    made: list[Factory] = []

    def make(entries: list[dict[str, Any]], workers: int = 1) -> Factory:
        factory = start_factory(sites, entries, tmp_path, processes, workers)
        made.append(factory)
        return factory

    yield make
    for factory in made:  # leave no pilot behind in the shared schedds
        factory.remove_all()
