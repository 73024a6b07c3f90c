"""The frontend daemon against real HTCondor: its glideclientglobal ad (one per factory) is on the
WMS condor_collector, authenticated as the frontend and signed so that the factory believes it,
and a frontend that stops cleanly takes it (and its requests) off the collector at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import yaml

from glidein.common import classads, crypto
from glidein.factory.frontends import Expectations, verify
from glidein.factory.requests import FrontendTrust
from glidein.pool.condor.personal import CondorPool
from tests.integration.condor.conftest import FACTORY_WMS, FRONTEND_USERS, FRONTEND_WMS
from tests.procs import Processes, wait_for
from tests.unit.frontend.fixtures import FactoryKeys, entry_ad, frontend_public_key, write_config

AUTHZ = ("READ", "WRITE", "DAEMON")
OURS = '(MyType == "glideclientglobal" || MyType == "glideclient") && FrontendName == "fe"'


def _advertise_as_factory(wms: CondorPool, ad: classads.ClassAd, tmp: Path) -> None:
    """The factory's entry ad, advertised with the factory's IDTOKEN by condor_advertise."""
    tokens = tmp / "factory_tokens"
    wms.write_token(tokens, FACTORY_WMS, AUTHZ)
    (tmp / "entry.ad").write_text(classads.to_old(ad) + "\n")
    env = dict(os.environ, **wms.env(), _CONDOR_SEC_TOKEN_DIRECTORY=str(tokens))
    argv = [str(wms.release.program("condor_advertise")), "UPDATE_AD_GENERIC", str(tmp / "entry.ad")]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr


def _frontend_config(tmp: Path, factory: FactoryKeys, wms: CondorPool, users: CondorPool) -> Path:
    tokens = tmp / "frontend_tokens"
    wms.write_token(tokens, FRONTEND_WMS, AUTHZ)
    users.write_token(tokens, FRONTEND_USERS, AUTHZ)
    path = write_config(tmp, factory, wms.collector, users.collector, lifetime=300, interval=2)
    config = yaml.safe_load(path.read_text())
    config["condor_tokens"] = str(tokens)
    config["security"]["identity"] = FRONTEND_WMS
    path.write_text(yaml.safe_dump(config))
    return path


def _ours(wms: CondorPool) -> list[dict[str, object]]:
    text = wms.tool("condor_status", "-any", "-const", OURS, "-json", timeout=20).strip()
    return json.loads(text) if text else []


def test_glideclientglobal_on_condor_collector_believed_by_the_factory_and_gone_at_stop(
    wms_pool: CondorPool, users_pool: CondorPool, processes: Processes, tmp_path: Path
) -> None:
    factory = FactoryKeys()
    _advertise_as_factory(wms_pool, entry_ad(factory, "ce1", "SiteA"), tmp_path)
    config = _frontend_config(tmp_path, factory, wms_pool, users_pool)
    frontend = processes.glidein(["frontend", "run", "--config", str(config)], "frontend")
    wait_for(lambda: len(_ours(wms_pool)) == 2, timeout=60, interval=1)
    (glob,) = [ad for ad in _ours(wms_pool) if ad["MyType"] == "glideclientglobal"]
    assert glob["Name"] == "gl@fac@fe" and glob["ClassAdLifetime"] == 300

    trust = {"fe": FrontendTrust.from_keys("fe", [frontend_public_key(tmp_path)])}
    seen = verify(glob, Expectations(trust, {"fe": FRONTEND_WMS}, "gl@fac"), [crypto.key_id(factory.box)])
    assert seen.authenticated == FRONTEND_WMS  # condor_collector's AuthenticatedIdentity
    assert (seen.identity, seen.groups, seen.requests, seen.notes) == (FRONTEND_WMS, ("main",), 1, ())

    frontend.send_signal(signal.SIGTERM)
    assert frontend.wait(30) == 0, processes.log("frontend")
    # invalidated, not expired: their ClassAdLifetime (300 s) is far from over
    wait_for(lambda: _ours(wms_pool) == [], timeout=10, interval=0.5)
