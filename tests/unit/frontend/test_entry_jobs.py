"""Jobs per entry (issue 18): the jobs that match each entry and the jobs running on its pilots, not
the group's totals at every entry; whole-number shares that add up to the group's total; and the
figures in the signed glideclient ad (GlideinMonitor*) the factory believes."""

from __future__ import annotations

from pathlib import Path

import pytest

from glidein.common import classads, crypto
from glidein.common.config import load_frontend_config
from glidein.factory.requests import FrontendTrust, MemorySequences, RequestValidator
from glidein.frontend.matching import JobCluster, match
from tests.unit.frontend.fixtures import FactoryKeys, entry_ad, frontend_public_key, write_config
from tests.unit.frontend.test_cycle import NOW, FakeBus, FakeSource, FakeSourcesFrontend, job, slot

EXPR = "stringListMember(TARGET.GLIDEIN_Site, DESIRED_Sites)"


def test_idle_shares_are_whole_and_add_up_to_the_matched_jobs() -> None:
    entries = [classads.from_dict({"GLIDEIN_Site": s, "GLIDEIN_CPUS": 1}) for s in "ABC"]
    clusters = [
        JobCluster(job("A,B,C"), 10, running=4),  # 3.33 each
        JobCluster(job("A,B"), 5),  # 2.5 each
        JobCluster(job("C"), 1, running=2),
        JobCluster(job("Z"), 7, running=1),  # matches nothing
    ]
    result = match(EXPR, clusters, entries, ["a", "b", "c"])
    shares = {n: e.idle_share for n, e in result.entries.items()}
    props = {n: e.prop for n, e in result.entries.items()}
    assert sum(shares.values()) == 16 == result.idle - result.unmatched
    for name, share in shares.items():
        assert share in (int(props[name]), int(props[name]) + 1)
    assert {n: e.count for n, e in result.entries.items()} == {"a": 15, "b": 15, "c": 11}
    assert result.running == 7  # each running job once, not 4 + 4 + 4 + 2 + 1
    assert {n: e.running for n, e in result.entries.items()} == {"a": 4, "b": 4, "c": 6}


@pytest.mark.parametrize("n", [0, 1, 2, 7])
def test_shares_of_jobs_matching_every_entry(n: int) -> None:
    entries = [classads.from_dict({"GLIDEIN_Site": s}) for s in "ABCD"]
    result = match(EXPR, [JobCluster(job("A,B,C,D"), n)], entries, list("abcd"))
    assert sorted(e.idle_share for e in result.entries.values())[-1] <= (n + 3) // 4
    assert sum(e.idle_share for e in result.entries.values()) == n


def test_glideclient_ad_carries_the_entry_job_figures(tmp_path: Path) -> None:
    """Two entries every job matches: 20 running jobs, 6 of them on ce1's pilots, 4 on ce2's (one pilot
    runs two), 9 idle."""
    keys = FactoryKeys()
    config = load_frontend_config(write_config(tmp_path, keys))
    wms = FakeBus({"glidefactory": [entry_ad(keys, "ce1", "SiteA"), entry_ad(keys, "ce2", "SiteB")]})
    busy = [slot("ce1", Name=f"a{i}", State="Claimed", Activity="Busy") for i in range(6)]
    busy += [slot("ce2", Name=f"b{i}", State="Claimed", Activity="Busy") for i in range(2)]
    busy += [slot("ce2", Name="b2", State="Claimed", Activity="Busy", JobsRunning=2)]  # one pilot, 2 jobs
    idle = [slot("ce2", Name="idle")]
    frontend = FakeSourcesFrontend(config, wms, FakeBus({"Machine": busy + idle}), clock=lambda: NOW)  # type: ignore[arg-type]
    frontend.sources = [FakeSource([JobCluster(job("SiteA,SiteB"), 9, running=20, old_idle=3)])]
    outcome = frontend.cycle()[0]
    here = {d.entry.name: d.jobs_here() for d in outcome.decisions}  # what pages and /metrics show
    assert here["ce1@gl@fac"][1] == 6 and here["ce2@gl@fac"][1] == 4
    assert sum(idle for idle, _ in here.values()) == 9 == outcome.match.idle
    assert outcome.match.running == 20
    validator = RequestValidator(
        {"fe": FrontendTrust.from_keys("fe", [frontend_public_key(tmp_path)])},
        {crypto.key_id(keys.box.public_key()): keys.box},
        ["ce1@gl@fac", "ce2@gl@fac"],
        MemorySequences(),
        clock=lambda: NOW,
    )
    got = {}
    for ad in wms.advertised:
        if ad["MyType"] == "glideclient":
            validator.validate(ad)  # signed: the figures are the frontend's
            values = classads.to_dict(ad)
            got[str(values["ReqName"])] = {k: v for k, v in values.items() if k.startswith("GlideinMonitor")}
    ce1, ce2 = got["ce1@gl@fac"], got["ce2@gl@fac"]
    assert (ce1["GlideinMonitorIdle"], ce1["GlideinMonitorOldIdle"], ce1["GlideinMonitorRunning"]) == (
        9,
        3,
        20,
    )
    assert (ce1["GlideinMonitorRunningHere"], ce2["GlideinMonitorRunningHere"]) == (6, 4)
    assert ce1["GlideinMonitorIdleShare"] + ce2["GlideinMonitorIdleShare"] == 9
    assert (ce2["GlideinMonitorGlideinsTotal"], ce2["GlideinMonitorGlideinsIdle"]) == (4, 1)
    assert (ce2["GlideinMonitorGlideinsRunning"], ce2["GlideinMonitorGlideinsFailed"]) == (3, 0)
    resources = {str(a["GlideFactoryName"]): a for a in frontend.pool.advertised}  # type: ignore[attr-defined]
    idle = [int(r["GlideClientMonitorJobsIdle"]) for r in resources.values()]
    assert sorted(idle) == [4, 5] and int(resources["ce1@gl@fac"]["GlideClientMonitorJobsRunningHere"]) == 6
