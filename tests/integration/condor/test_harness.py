"""The pool harness itself: real daemons, real security, stopped by pid."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from glidein.common.errors import ConfigError, GlideinError
from glidein.pool.condor.personal import CondorPool, children_of
from glidein.pool.condor.release import ENV_VAR, Release, find_release
from tests.integration.condor.conftest import FRONTEND_USERS, USERS_DOMAIN


def test_release_found_and_versioned(condor_release: Release) -> None:
    assert condor_release.sbin("condor_master").exists()
    assert condor_release.version().count(".") == 2


def test_explicit_release_must_be_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    with pytest.raises(ConfigError, match=f"{ENV_VAR}: .* is not an HTCondor release .*condor_master"):
        find_release()
    with pytest.raises(ConfigError, match="--htcondor"):
        find_release(tmp_path / "nothing")


def test_users_pool_runs_its_daemons_securely(users_pool: CondorPool) -> None:
    types = users_pool.daemons_up()
    assert {"Collector", "Negotiator", "Scheduler"} <= types
    assert "Machine" not in types  # no static startd: pilots bring them
    config = users_pool.spec.config_path.read_text()
    assert "use SECURITY : recommended" in config and "IDTOKENS" in config
    assert users_pool.pool_key.stat().st_mode & 0o077 == 0


def test_token_identity_is_what_the_collector_sees(users_pool: CondorPool, tmp_path: Path) -> None:
    """A token minted from the POOL key authenticates; without one, advertising is refused."""
    ad = tmp_path / "ad.txt"
    ad.write_text('MyType = "glideresource"\nName = "harness-check"\nClassAdLifetime = 60\n')
    tokens = tmp_path / "tokens"
    users_pool.write_token(tokens, FRONTEND_USERS, ("READ", "DAEMON", "ADVERTISE_STARTD"))
    env = dict(os.environ, **users_pool.env(), _CONDOR_SEC_CLIENT_AUTHENTICATION_METHODS="IDTOKENS")
    advertise = [str(users_pool.release.program("condor_advertise")), "UPDATE_AD_GENERIC", str(ad)]
    refused = subprocess.run(advertise, env=env, capture_output=True, text=True, timeout=30, check=False)
    assert refused.returncode != 0
    env["_CONDOR_SEC_TOKEN_DIRECTORY"] = str(tokens)
    done = subprocess.run(advertise, env=env, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    deadline = time.monotonic() + 10
    seen = ""
    query = ["condor_status", "-any", "-const", 'Name == "harness-check"', "-af", "AuthenticatedIdentity"]
    while time.monotonic() < deadline and not seen.strip():
        seen = users_pool.tool(*query)
        time.sleep(0.3)
    assert seen.strip() == FRONTEND_USERS  # the collector's own record of who advertised it
    assert FRONTEND_USERS.endswith("@" + USERS_DOMAIN)


def test_stop_ends_every_daemon(condor_release: Release, condor_dir: Path) -> None:
    from tests.integration.condor.conftest import wms_spec

    spec = wms_spec(condor_dir / "stop-check")
    pool = CondorPool(condor_release, spec)
    pool.start()
    assert pool.proc is not None
    master = pool.proc.pid
    family = children_of(master)
    assert family  # procd and collector
    pool.stop()
    for pid in [master, *family]:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    with pytest.raises(GlideinError):
        pool.tool("condor_status", "-any", timeout=10)
