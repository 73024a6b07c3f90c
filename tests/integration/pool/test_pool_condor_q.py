"""`glidein q` beside the real condor_q: the same job ads (from a real schedd process) printed by
both, view by view; positional filters; `-better-analyze` against a real collector."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from glidein.cli import jobs_format as fmt
from glidein.common import classads, glideclient
from glidein.common.bus import Bus
from glidein.common.crypto import generate_signing_key
from glidein.common.errors import ConfigError
from glidein.common.glideclient import ClientRequest
from glidein.frontend.requests import Entry, ResourceAd, ResourceInfo, resource_ad
from glidein.pool.condor.release import find_release
from tests.integration.pool.pool_helpers import Pool, script
from tests.procs import Processes, free_port, wait_for, wait_for_port


def _condor_q(ads_file: Path, *args: str) -> list[str]:
    try:
        binary = find_release().bin("condor_q")
    except ConfigError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and no HTCondor: {exc}")
        pytest.skip(f"needs HTCondor: {exc}")
    env = {**os.environ, "CONDOR_CONFIG": "/dev/null"}
    out = subprocess.run(
        [str(binary), "-jobads", str(ads_file), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return [line.rstrip() for line in out.stdout.splitlines() if line.strip() and not line.startswith("-- ")]


def _ours(view: str, jobs: list[dict[str, object]]) -> list[str]:
    now = time.time()
    if view == "-nobatch":
        lines = [fmt.NOBATCH_HEADER, *(fmt.nobatch_row(job, now) for job in jobs)]
    elif view == "-run":
        return [fmt.RUN_HEADER, *(fmt.run_row(job, now) for job in jobs if job["JobStatus"] == 2)]
    elif view == "-hold":
        held = [job for job in jobs if job["JobStatus"] == 5]
        return [fmt.HOLD_HEADER, *(fmt.hold_row(job) for job in held), fmt.totals(held)]
    else:
        lines = []
    return [*lines, fmt.totals(jobs)]


def test_q_views_print_what_the_real_condor_q_prints(processes: Processes, tmp_path: Path) -> None:
    pool = Pool(processes, tmp_path, lease=30.0)
    pool.start_schedd()
    quick = script(tmp_path / "quick.sh", "sleep 1\n")
    slow = script(tmp_path / "slow.sh", "exec sleep 60\n")
    pool.queue(f"executable = {quick}\narguments = done\nqueue\n")
    pool.startd("s1", max_idle_time=30, max_tail_time=30)
    pool.wait_jobs(lambda j: j["1.0"]["JobStatus"] == 4)
    pool.queue(f"executable = {slow}\narguments = \"a 'b c'\"\npriority = 3\nqueue 3\n")
    pool.wait_jobs(lambda j: j["2.0"]["JobStatus"] == 2)
    assert pool.glidein("hold", "2.2", "-reason", "disk quota").returncode == 0
    every = json.loads(pool.glidein("q", "-all", "-json").stdout)
    run_time = fmt.nobatch_row(every[0], time.time()).split()[4]  # RUN_TIME of the completed job (sleep 1)
    assert run_time.startswith("0+00:0") and run_time != "0+00:00:00"
    jobs = every[1:]  # condor_q -jobads prints 0+00:00:00 for it: compared without it
    ads = [classads.parse_ad(json.dumps(job)) for job in jobs]
    ads_file = tmp_path / "jobs.ads"
    ads_file.write_text("\n".join(classads.to_old(ad) for ad in ads))
    for view in ("-nobatch", "-run", "-hold", "-totals"):
        assert _ours(view, jobs) == _condor_q(ads_file, view), view
    real_batch = _condor_q(ads_file)
    assert [line.split() for line in fmt.batch_lines(jobs)] == [line.split() for line in real_batch[:-1]]
    assert real_batch[-1] == fmt.totals(jobs)

    cli = pool.glidein("q", "-nobatch").stdout.splitlines()  # the command prints the same layout
    assert cli[3] == fmt.NOBATCH_HEADER and cli[4].startswith("   2.0   ") and " R  3  " in cli[4]
    assert "Total for query: 3 jobs; 0 completed, 0 removed, 1 idle, 1 running, 1 held" in cli[-1]
    assert pool.glidein("q", "-totals").stdout.strip().splitlines()[-1] == cli[-1]
    run = pool.glidein("q", "-run").stdout.splitlines()
    assert run[-1].startswith("   2.0 ") and run[-1].endswith(" s1")
    by_filter = pool.glidein("q", "-nobatch", "2.1", "1").stdout
    assert "   2.1 " in by_filter and "   2.0 " not in by_filter and "1 jobs;" in by_filter
    owner = pool.glidein("q", "-af", "ClusterId", "ProcId", "-all", "nobody-here").stdout
    assert owner == ""
    bad = pool.glidein("q", "a b")
    assert bad.returncode == 2 and "'a b': not an owner, a cluster or a cluster.proc" in bad.stderr


def _resource_ad(entry: str, site: str, asked: int) -> classads.ClassAd:
    """The glideresource ad the frontend publishes for an entry (frontend/requests.py)."""
    ad = classads.from_dict({"GLIDEIN_Site": site, "GLIDEIN_Supported_VOs": "vo"})
    found = Entry(name=f"{entry}@gf@factory", factory="factory", ad=ad, pub_key="", pub_key_id="")
    info = ResourceInfo(request_idle=asked, glideins_running=0)
    return resource_ad(ResourceAd(entry=found, frontend="fe", group="main", info=info, exprs={}))


def test_better_analyze_names_the_failing_clause(processes: Processes, tmp_path: Path) -> None:
    port = free_port()
    collector = f"127.0.0.1:{port}"
    processes.glidein(["collector", "--port", str(port)], "collector")
    wait_for_port(port)
    pool = Pool(processes, tmp_path)
    pool.start_schedd(extra=["--collector", collector])
    Bus([collector]).advertise([_resource_ad("CE_B", "SiteB", 4), _resource_ad("CE_C", "SiteC", 0)])
    pool.startd("slot1@wn", collector=collector, max_idle_time=60, attrs={"GLIDEIN_Site": '"SiteA"'})
    wait_for(lambda: len(Bus([collector]).query("Machine")) == 1, timeout=15)
    exe = script(tmp_path / "noop.sh", "exit 0\n")
    never = 'TARGET.GLIDEIN_Site =!= undefined && TARGET.GLIDEIN_Site == "Nowhere"'
    pool.queue(f"executable = {exe}\nrequirements = {never}\nqueue\n")
    pool.queue(f'executable = {exe}\nrequirements = TARGET.GLIDEIN_Site == "SiteB"\nqueue\n')
    pool.queue(f"executable = {exe}\nrequest_memory = 64GB\nqueue\n")

    out = pool.glidein("q", "-better-analyze", "1.0")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "[0]           1        2  TARGET.GLIDEIN_Site =!= undefined" in lines
    assert '[1]           0        0  TARGET.GLIDEIN_Site == "Nowhere"' in lines
    assert "      1 are rejected by your job's requirements" in lines
    assert lines[-1] == (
        'Verdict: the job can never run as it is: condition [1] TARGET.GLIDEIN_Site == "Nowhere" '
        "matches no slot and no entry."
    )

    waiting = pool.glidein("q", "-better-analyze", "2.0").stdout.splitlines()
    entry_b = next(line for line in waiting if line.startswith("CE_B@gf@factory "))
    assert entry_b.split()[1:] == ["fe.main", "yes", "4", "0"]
    assert waiting[-1] == (
        "Verdict: waiting for a pilot: 1 entries match, 4 pilots asked for them; "
        'condition [0] TARGET.GLIDEIN_Site == "SiteB" matches no slot yet.'
    )
    big = pool.glidein("q", "-better-analyze", "3").stdout.splitlines()
    assert "[2]           0        -  TARGET.Memory >= RequestMemory" in big  # 64 GB: the slot has 2 GB
    assert "      1 have fewer free resources than your job requests" in big
    assert big[-1] == (  # both entries take any job: a pilot of theirs may be bigger
        "Verdict: waiting for a pilot: 2 entries match, 4 pilots asked for them; "
        "condition [2] TARGET.Memory >= RequestMemory matches no slot yet."
    )
    missing = pool.glidein("q", "-better-analyze", "9.0")
    assert missing.returncode == 2 and "no job 9.0 in the queue" in missing.stderr


def test_better_analyze_reads_entries_and_requests_from_the_wms_collector(
    processes: Processes, tmp_path: Path
) -> None:
    ports = free_port(), free_port()
    pool_collector, wms = (f"127.0.0.1:{port}" for port in ports)
    for port, name in zip(ports, ("collector-users", "collector-wms"), strict=True):
        processes.glidein(["collector", "--port", str(port)], name)
        wait_for_port(port)
    factory_ad = {"MyType": "glidefactory", "Name": "CE_W@gf@factory", "GLIDEIN_Site": "SiteB"}
    request = ClientRequest("CE_W@gf@factory", "fe", "main", req_idle=7, req_max=20, sequence=1)
    ads = [factory_ad, glideclient.request_ad(request, generate_signing_key(), None)]
    Bus([wms]).advertise([classads.from_dict(ad) for ad in ads])
    pool = Pool(processes, tmp_path)
    pool.start_schedd(extra=["--collector", pool_collector])
    exe = script(tmp_path / "noop.sh", "exit 0\n")
    pool.queue(f'executable = {exe}\nrequirements = TARGET.GLIDEIN_Site == "SiteB"\nqueue\n')
    out = pool.glidein("q", "-better-analyze", "1.0", "-wms", wms)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert f"Pilots (glidefactory and glideclient ads in the WMS collector {wms}):" in lines
    entry = next(line for line in lines if line.startswith("CE_W@gf@factory "))
    assert entry.split()[1:4] == ["fe.main", "yes", "7"]
    assert lines[-1].startswith("Verdict: waiting for a pilot: 1 entries match, 7 pilots asked for them;")
