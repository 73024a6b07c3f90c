"""Network closeness end to end with real processes: two collectors, the embedded schedd with jobs
written with the closeness idiom, `glidein factory run` publishing its entries' rows of a bandwidth
matrix and `glidein frontend run`: pilots are requested and submitted only at the entry whose
site has the bandwidth the jobs need."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from glidein.common import crypto
from glidein.common.bus import Bus
from glidein.common.closeness import submit_lines
from glidein.factory.state import PilotStore
from tests.factory_support import FactorySetup, local_entry, write_factory
from tests.integration.frontend.test_frontend_daemon import requests, start_collector
from tests.integration.pool.pool_helpers import Pool
from tests.procs import Processes, run_glidein, wait_for
from tests.unit.frontend.fixtures import FactoryKeys, frontend_public_key, write_config

MATRIX = "Site_fast: {se1.cern.ch: 120}\nSite_slow: {se1.cern.ch: 20}\n"


def _jobs(n: int) -> str:
    lines = ["executable = /bin/true", '+DESIRED_Sites = "Site_fast,Site_slow"', "request_memory = 500"]
    return "\n".join([*lines, *submit_lines(["se1.cern.ch"], 50), f"queue {n}"]) + "\n"


def _pilots(setup: FactorySetup, entry: str) -> int:
    store = PilotStore(setup.state_dir / "factory.db")
    try:
        return len(store.active(entry))
    finally:
        store.close()


@pytest.fixture
def no_pilots_left(tmp_path: Path) -> Iterator[None]:
    yield
    for pid_file in tmp_path.rglob("jobs/*/pid"):
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGTERM)


def test_pilots_only_where_the_jobs_data_is_close_enough(
    processes: Processes, tmp_path: Path, no_pilots_left: None
) -> None:
    wms_addr, pool_addr = start_collector(processes, "wms"), start_collector(processes, "userpool")
    pool = Pool(processes, tmp_path)
    pool.start_schedd(name="sched1", extra=["--collector", pool_addr, "--advertise-interval", "1"])
    assert pool.submit(_jobs(12), "data.sub").returncode == 0

    frontend_config = write_config(tmp_path, FactoryKeys(), wms_addr, pool_addr, lifetime=60, interval=1)
    frontend = {"name": "fe", "identity": "fe@test", "security_classes": [{"name": "frontend"}]}
    frontend["signing_keys"] = [frontend_public_key(tmp_path)]
    (tmp_path / "bandwidth.yaml").write_text(MATRIX)
    entries = [local_entry("fast"), local_entry("slow")]
    setup = write_factory(
        tmp_path, entries, collector=wms_addr, frontends=[frontend], closeness={"matrix": "bandwidth.yaml"}
    )
    processes.glidein(["factory", "run", "--config", str(setup.config)], "factory")
    wms = Bus([wms_addr], timeout=5)
    wait_for(lambda: len(wms.query("glidefactory")) == 2, timeout=30)
    published = {str(ad["EntryName"]): ad["GLIDEIN_BW_se1_cern_ch"] for ad in wms.query("glidefactory")}
    assert published == {"fast": 120, "slow": 20}

    signing = crypto.load_signing_key(setup.state_dir / "keys" / "sign.pem")
    config = yaml.safe_load(frontend_config.read_text())
    config["security"]["trusted_factories"] = [{"name": "f1", "signing_key": crypto.public_key_b64(signing)}]
    config["discover_schedds"] = True
    frontend_config.write_text(yaml.safe_dump(config))
    once = run_glidein(["frontend", "run", "--config", str(frontend_config), "--once"])
    assert once.returncode == 0, once.stderr
    got = requests(wms)
    assert int(str(got["fast@g@f1"]["ReqIdleGlideins"])) > 0
    assert got["slow@g@f1"]["ReqIdleGlideins"] == 0  # 20 MB/s: the jobs need 50
    wait_for(lambda: _pilots(setup, "fast") > 0, timeout=30)
    assert _pilots(setup, "slow") == 0
