"""The factory's `htcondor` entries that end in a real Slurm (with accounting: real exit codes).

`batch slurm`: the factory's schedd hands the pilot to Slurm through the blahp, as a factory on a
site's head node does. `condor` with `remote_JobUniverse = 9` and `remote_GridResource = "batch
slurm"`: the pilot goes by Condor-C to the CE's schedd, which hands it to Slurm through its own
blahp, as an HTCondor-CE's job route does.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from glidein.pool.condor.release import Release
from tests.integration.condor.pilots_support import (
    Factory,
    Sites,
    condor_entry,
    job_of,
    running_sites,
)
from tests.procs import wait_for

pytestmark = pytest.mark.slurm
TO_SLURM = {"+remote_JobUniverse": "9", "+remote_GridResource": '"batch slurm"'}
WAIT = "--begin=now+3600"  # Slurm keeps the job pending


@pytest.fixture(scope="module")
def sites(condor_release: Release, condor_dir: Path, slurm_conf: str) -> Iterator[Sites]:
    with running_sites(condor_release, condor_dir, slurm_conf) as found:
        yield found


def batch_entry(name: str, sites: Sites, **attrs: str) -> dict[str, Any]:
    entry = condor_entry(name, sites, dict(attrs))
    entry["submitter"]["grid_resource"] = "batch slurm"
    return entry


def slurm_jobs(conf: str) -> dict[str, str]:
    """Slurm job id -> state, every job the cluster knows."""
    out = subprocess.run(
        ["squeue", "-h", "-t", "all", "-o", "%i|%T"],
        env={**os.environ, "SLURM_CONF": conf},
        capture_output=True,
        text=True,
        check=True,
        timeout=20,
    ).stdout
    return dict(line.split("|", 1) for line in out.splitlines() if "|" in line)


def test_batch_entry_holds_pressure_in_slurm_then_removes(sites: Sites, factory_for: Any) -> None:
    assert sites.slurm_conf is not None
    before = set(slurm_jobs(sites.slurm_conf))
    factory: Factory = factory_for([batch_entry("slurm_wait", sites, batch_extra_submit_args=WAIT)])
    factory.ask("slurm_wait", 3, seq=1)
    wait_for(lambda: len(factory.pilots("slurm_wait")) == 3, timeout=30)
    ids = set(factory.pilots("slurm_wait"))

    def pending() -> set[str]:
        return {
            j
            for j, state in slurm_jobs(str(sites.slurm_conf)).items()
            if j not in before and state == "PENDING"
        }

    wait_for(lambda: len(pending()) == 3, timeout=90, interval=1)  # the blahp submitted them to Slurm
    factory.wait_cycles(4)
    assert set(factory.pilots("slurm_wait")) == ids and len(pending()) == 3  # steady
    assert {p.state.value for p in factory.pilots("slurm_wait").values()} == {"idle"}
    in_slurm = pending()
    factory.ask("slurm_wait", 0, seq=2, mode="ALL")
    wait_for(lambda: not factory.pilots("slurm_wait"), timeout=60, interval=0.5)
    done = lambda: {slurm_jobs(str(sites.slurm_conf))[j] for j in in_slurm} == {"CANCELLED"}  # noqa: E731
    wait_for(done, timeout=90, interval=1)  # condor_rm reached Slurm (scancel by the blahp)


@pytest.mark.parametrize("route", ["batch", "ce"])
def test_a_failing_pilot_in_slurm_comes_back_with_its_exit_code(
    route: str, sites: Sites, factory_for: Any
) -> None:
    name = f"{route}_slurm_run"
    entry = batch_entry(name, sites) if route == "batch" else condor_entry(name, sites, TO_SLURM)
    factory: Factory = factory_for([entry])
    factory.ask(name, 1, seq=1)
    pilot_id, _job = job_of(factory, name)
    # it runs in Slurm, cannot reach the stage (no web server) and exits 2 (Network)
    wait_for(lambda: pilot_id not in factory.pilots(name), timeout=150, interval=1)
    factory.ask(name, 0, seq=2)
    state, code, _releases, _reason = factory.pilots(name, active=False)[pilot_id]
    assert (state, code) == ("failed", 2)
