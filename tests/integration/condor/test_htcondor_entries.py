"""The factory's `htcondor` entries on real schedds: pilots go by Condor-C from the factory's own
condor_schedd to a CE (a second pool with its own collector and schedd), as at an HTCondor-CE site.

The CE routes a pilot by the `remote_*` attributes the entry sets, as a CE job route would:
`remote_JobUniverse = 5` leaves it idle at the CE (the CE has no worker nodes), `= 12` runs it in
the CE's local universe. A real `glidein factory run` holds the pressure a signed request asks for,
removes, releases held pilots and gives up on them, survives kill -9 and a schedd restart.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from glidein.factory.staging import WRAPPER_PATH
from glidein.pool.condor.personal import children_of
from glidein.pool.condor.release import Release
from tests.integration.condor.pilots_support import (
    TOKEN,
    Sites,
    condor_entry,
    factory_log_dir,
    job_of,
    log_dir,
    queued_ids,
    running_sites,
)
from tests.procs import wait_for

WAIT_AT_CE = {"+remote_JobUniverse": "5"}  # idle at the CE: it has no startd
GOLDEN = Path(__file__).parents[2] / "unit" / "factory" / "submitters" / "data"
RUN_AT_CE = {"+remote_JobUniverse": "12"}  # the CE's local universe runs it at once


@pytest.fixture(scope="module")
def sites(condor_release: Release, condor_dir: Path) -> Iterator[Sites]:
    with running_sites(condor_release, condor_dir, None) as found:
        yield found


def test_condor_c_entry_holds_pressure_then_removes(sites: Sites, factory_for: Any) -> None:
    factory = factory_for([condor_entry("ce_wait", sites, WAIT_AT_CE)])
    factory.ask("ce_wait", 3, seq=1)
    wait_for(lambda: len(factory.pilots("ce_wait")) == 3, timeout=30)
    ids = set(factory.pilots("ce_wait"))
    # forwarded by Condor-C: the CE's schedd holds the same pilots, by their GlideinPilotId
    wait_for(lambda: {j["id"] for j in factory.schedd_jobs("ce")} >= ids, timeout=90, interval=1)
    factory.wait_cycles(4)
    assert set(factory.pilots("ce_wait")) == ids  # steady: no pilot more, none lost
    assert {j["id"] for j in factory.schedd_jobs()} == ids
    assert {p.state.value for p in factory.pilots("ce_wait").values()} == {"idle"}
    factory.ask("ce_wait", 0, seq=2, mode="ALL")
    wait_for(lambda: not factory.pilots("ce_wait"), timeout=60, interval=0.5)
    wait_for(lambda: not factory.schedd_jobs(), timeout=60, interval=1)  # condor_rm reached the queue
    wait_for(lambda: not ids & {j["id"] for j in factory.schedd_jobs("ce")}, timeout=90, interval=1)
    assert {row[0] for row in factory.pilots("ce_wait", active=False).values()} == {"removed"}


def test_held_pilots_are_released_then_removed(sites: Sites, factory_for: Any) -> None:
    # the schedd's own policy holds this pilot whenever it has been idle 3 s, with a transient reason
    flaky = {
        **WAIT_AT_CE,
        "periodic_hold": "JobStatus == 1 && time() - EnteredCurrentStatus > 3",
        "periodic_hold_reason": '"transient error at the CE (test policy)"',
    }
    entries = [condor_entry("ce_flaky", sites, flaky), condor_entry("ce_hold", sites, WAIT_AT_CE)]
    factory = factory_for(entries, workers=2)  # entry worker processes authenticate with the token too
    factory.ask("ce_flaky", 1, seq=1)
    flaky_id, job = job_of(factory, "ce_flaky")
    assert sites.factory.tool("condor_q", job, "-af", "Owner").split() == ["gfactory"]
    # held (recoverable) -> released after the back-off -> held again -> no release left: removed
    wait_for(lambda: flaky_id not in factory.pilots("ce_flaky"), timeout=60, interval=0.5)
    factory.ask("ce_flaky", 0, seq=2)
    state, _code, releases, _reason = factory.pilots("ce_flaky", active=False)[flaky_id]
    assert (state, releases) == ("removed", 1)
    log = factory.processes.log(factory.log_name)
    assert f"pilot={flaky_id}" in log and "action=release release=1/1" in log
    assert "limit=held_max_releases" in log
    wait_for(lambda: job not in {j["job"] for j in factory.schedd_jobs()}, timeout=60, interval=1)
    # an operator's condor_hold is respected: the pilot is removed, never released
    factory.ask("ce_hold", 1, seq=1)
    pilot_id, job = job_of(factory, "ce_hold")
    sites.factory.tool("condor_hold", job)
    wait_for(lambda: pilot_id not in factory.pilots("ce_hold"), timeout=60, interval=0.5)
    factory.ask("ce_hold", 0, seq=2)
    state, _code, releases, _reason = factory.pilots("ce_hold", active=False)[pilot_id]
    assert (state, releases) == ("removed", 0)
    assert "limit=held_unrecoverable" in factory.processes.log(factory.log_name)
    wait_for(lambda: job not in {j["job"] for j in factory.schedd_jobs()}, timeout=60, interval=1)


def schedd_pid(pool: Any) -> int:
    """The pid of the condor_schedd under `pool`'s condor_master."""
    for pid in children_of(pool.proc.pid):
        try:  # a child may end between the listing and this read (the killed schedd being reaped)
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        if comm == "condor_schedd":
            return pid
    return 0


def test_kill_9_and_a_schedd_restart_lose_and_repeat_nothing(sites: Sites, factory_for: Any) -> None:
    slow = {"max_idle": 20, "max_glideins": 20, "max_per_cycle": 2, "submit_rate": 2, "batch_size": 1}
    factory = factory_for([condor_entry("ce_many", sites, WAIT_AT_CE, limits=slow)])
    factory.ask("ce_many", 6, seq=1)
    wait_for(lambda: 2 <= len(factory.pilots("ce_many")) < 6, timeout=30, interval=0.05)
    os.kill(factory.proc.pid, signal.SIGKILL)  # mid-way: some pilots submitted, more to come
    factory.proc.wait(10)
    factory.proc = factory.start()
    wait_for(lambda: len(factory.pilots("ce_many")) == 6, timeout=60, interval=0.5)
    factory.wait_cycles(3)
    ids = set(factory.pilots("ce_many"))
    queued = [j["id"] for j in factory.schedd_jobs()]
    assert len(queued) == len(set(queued)) and set(queued) <= ids  # no pilot twice in the schedd
    # recorded but killed before it was sent: stays NEW until the grace period makes it LOST
    unsent = {p: r.state.value for p, r in factory.pilots("ce_many").items() if p not in queued}
    assert set(unsent.values()) <= {"new"} and len(unsent) <= 2, unsent
    ids = set(queued)
    # the factory's schedd dies and its master starts it again: the queue is kept, nothing resubmitted
    old = schedd_pid(sites.factory)
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: schedd_pid(sites.factory) not in (0, old), timeout=60, interval=0.5)
    wait_for(lambda: queued_ids(factory) == ids, timeout=60, interval=1)
    factory.wait_cycles(3)
    assert ids <= set(factory.pilots("ce_many"))  # the same pilots, none lost
    assert len(factory.pilots("ce_many", active=False)) == 6  # and none submitted again
    factory.ask("ce_many", 0, seq=2, mode="ALL")
    # every pilot in the schedd is removed; a record never sent waits for its grace period (LOST)
    wait_for(lambda: set(factory.pilots("ce_many")) <= set(unsent), timeout=60, interval=0.5)
    live = lambda: {j["id"] for j in factory.schedd_jobs() if j["status"] != 3}  # noqa: E731 (3: removed)
    wait_for(lambda: not live(), timeout=60, interval=1)  # condor_rm'd; the gridmanager cleans up the CE


def test_a_failing_pilot_comes_back_with_its_exit_code_and_output(sites: Sites, factory_for: Any) -> None:
    # the CE runs the pilot at once; it cannot reach the stage (no web server): Network failure, exit 2
    factory = factory_for([condor_entry("ce_run", sites, RUN_AT_CE)])
    factory.ask("ce_run", 1, seq=1)
    pilot_id, _job = job_of(factory, "ce_run")
    wait_for(lambda: pilot_id not in factory.pilots("ce_run"), timeout=120, interval=1)
    factory.ask("ce_run", 0, seq=2)
    state, code, _releases, _reason = factory.pilots("ce_run", active=False)[pilot_id]
    assert (state, code) == ("failed", 2)
    entry_log_dir = Path(factory_log_dir(factory, "ce_run"))
    err = (entry_log_dir / f"{pilot_id}.err").read_text()
    assert f"pilot {pilot_id}" in err and "Connection refused" in err and "exiting 2" in err
    # the pilot read its token from the parameter file sent with it (without it: exit 3, Config);
    # the token is in no job ad, at the factory's schedd or at the CE
    for pool in (sites.factory, sites.ce):
        mine = f'GlideinPilotId == "{pilot_id}"'
        ads = pool.tool("condor_q", "-allusers", "-constraint", mine, "-l")
        ads += pool.tool("condor_history", "-constraint", mine, "-l")
        assert pilot_id in ads and TOKEN not in ads and "-param_file" in ads
    assert not (entry_log_dir / f"{pilot_id}.params").exists()  # its token is deleted once it ended
    # the pilots page serves what came back: the factory links stdout and stderr
    pilot_dir = factory.setup.state_dir / "pilots" / pilot_id
    wait_for((pilot_dir / "stderr.txt").exists, timeout=30, interval=0.5)
    assert (pilot_dir / "stdout.txt").resolve() == (entry_log_dir / f"{pilot_id}.out").resolve()


@pytest.mark.parametrize("name", ["ce", "arc", "batch"])
def test_golden_submit_descriptions_are_accepted_by_a_real_schedd(
    name: str, sites: Sites, tmp_path: Path
) -> None:
    """The unit tests' golden files (tests/unit/factory/submitters/data), with this machine's paths,
    go through condor_submit to the factory's schedd, on hold: no ARC-CE exists here, and the CE
    and Slurm paths run in the other tests."""
    root = log_dir(sites)
    token = root / "ce.token"
    token.write_text("not-a-real-token\n")
    os.chmod(token, 0o600)
    for pilot in ("p0001", "p0002"):
        (root / f"{pilot}.params").write_text("GLIDEIN_Token=t\n")
    text = (GOLDEN / f"golden_{name}.sub").read_text()
    text = text.replace("/var/log/glidein/condor/ce1", str(root)).replace("/etc/glidein/ce.token", str(token))
    text = text.replace("/srv/stage/glidein_startup.py", str(WRAPPER_PATH))
    sub = root / "pilots.sub"
    sub.write_text(text.replace("queue GlideinPilot", "hold = True\nqueue GlideinPilot"))
    os.chmod(root, 0o777)
    out = sites.factory.tool("condor_submit", "-terse", str(sub), cwd=root)
    cluster = out.split(".")[0].strip()
    try:
        fields = ("GlideinPilotId", "JobUniverse", "GridResource", "ScitokensFile", "Args", "Arguments")
        rows = sites.factory.tool("condor_q", cluster, "-af:t", *fields).splitlines()
        ads = [row.split("\t") for row in rows]
        assert [ad[0] for ad in ads] == ["p0001", "p0002"] and {ad[1] for ad in ads} == {"9"}
        assert (ads[0][3] == str(token)) == (name != "batch")
        assert "-param_file p0001.params" in ads[0][5] and "GLIDEIN_Token" not in ads[0][5]
    finally:
        sites.factory.tool("condor_rm", cluster)
