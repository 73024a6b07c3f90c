"""Issue 16 part 2 on real HTCondor: a `self_contained` entry's pilot goes by Condor-C from the
factory's condor_schedd to a CE that runs it at once, with no web server anywhere (the stage URL is
a closed port). The transferred executable is the packed stage: the pilot verifies every level
from it (the same entry, not packed, fails its download with Network), and the factory unpacks its
log and final report from the stdout HTCondor brings back. The requests carry no collector, so the
pilot stops at startd_setup: what matters here is everything before it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from glidein.pool.condor.release import Release
from tests.integration.condor.pilots_support import (
    Sites,
    condor_entry,
    factory_log_dir,
    job_of,
    running_sites,
)
from tests.procs import wait_for

RUN_AT_CE = {"+remote_JobUniverse": "12"}  # the CE's local universe runs it at once


@pytest.fixture(scope="module")
def sites(condor_release: Release, condor_dir: Path) -> Iterator[Sites]:
    with running_sites(condor_release, condor_dir, None) as found:
        yield found


def test_a_packed_pilot_travels_by_condor_c_and_its_report_comes_back_in_its_stdout(
    sites: Sites, factory_for: Any
) -> None:
    factory = factory_for([condor_entry("ce_packed", sites, RUN_AT_CE, self_contained=True)])
    factory.ask("ce_packed", 1, seq=1)
    pilot_id, _job = job_of(factory, "ce_packed")
    wait_for(lambda: pilot_id not in factory.pilots("ce_packed"), timeout=180, interval=1)
    factory.ask("ce_packed", 0, seq=2)
    out = Path(factory_log_dir(factory, "ce_packed")) / f"{pilot_id}.out"
    assert "==== GLIDEIN PILOT OUTPUT BEGIN" in out.read_text()
    executables = list(Path(factory_log_dir(factory, "ce_packed")).glob("glidein_pilot.*.py"))
    assert len(executables) == 1  # what HTCondor transferred: the packed stage, not the wrapper
    report_path = factory.setup.state_dir / "pilots" / pilot_id / "report.json"
    wait_for(report_path.exists, timeout=30, interval=0.5)
    report = json.loads(report_path.read_text())
    assert report["pilot_id"] == pilot_id and report["step"] not in ("download", "unpack"), report
    # past the verified files, the node checks ran (with the interpreter found without a PATH)
    assert [(r["id"], r["status"]) for r in report["results"]][:1] == [("validate_node", "OK")], report
    log_text = (report_path.parent / "log.txt").read_text()
    assert "verified level main" in log_text and "verified level entry" in log_text
    assert f"report from its stdout status={report['status']}" in factory.processes.log(factory.log_name)
