"""Usable idle slots are judged by what the IDLE jobs of a job class need (issue 18), not by the
first autocluster of the class: running and held jobs, autoclusters of mixed sizes."""

from __future__ import annotations

from pathlib import Path

from glidein.cli.frontend import explain_lines
from glidein.common import classads
from glidein.common.classads import ClassAd
from glidein.common.config import load_frontend_config
from glidein.common.config.frontend import UsableIdle
from glidein.frontend.cycle import GroupOutcome
from glidein.frontend.glideins import Need, count_slots
from glidein.frontend.matching import JobCluster, match
from tests.unit.frontend.fixtures import FactoryKeys, entry_ad, write_config
from tests.unit.frontend.test_cycle import NOW, FakeBus, FakeSource, FakeSourcesFrontend, slot

EXPR = "stringListMember(TARGET.GLIDEIN_Site, DESIRED_Sites)"
ENTRY = "ce1@gl@fac"


def job(memory: int, cpus: int = 1) -> ClassAd:
    return classads.from_dict({"DESIRED_Sites": "SiteA", "RequestCpus": cpus, "RequestMemory": memory})


def decide(tmp_path: Path, clusters: list[JobCluster], slots: list[ClassAd]) -> GroupOutcome:
    keys = FactoryKeys()
    config = load_frontend_config(write_config(tmp_path, keys))
    wms = FakeBus({"glidefactory": [entry_ad(keys, "ce1", "SiteA")]})
    frontend = FakeSourcesFrontend(config, wms, FakeBus({"Machine": slots}), clock=lambda: NOW)  # type: ignore[arg-type]
    frontend.sources = [FakeSource(clusters)]
    outcome = frontend.decide(frontend.snapshot(), config.groups[0])
    assert outcome is not None
    return outcome


def test_running_small_job_does_not_make_a_slot_usable_for_big_idle_jobs(tmp_path: Path) -> None:
    """The issue's case: one running 256 MB job (first autocluster), two idle 3 GB jobs, 2,048 MB slots."""
    clusters = [JobCluster(job(256), idle=0, running=1), JobCluster(job(3072), idle=2)]
    outcome = decide(tmp_path, clusters, [slot("ce1", Memory=2048), slot("ce1", Name="s2", Memory=2048)])
    assert outcome.match.job_classes == 1  # one class: the expressions reference no memory
    d = outcome.decisions[0]
    assert (d.slots.idle, dict(d.slots.not_usable)) == (0, {"memory": 2})
    assert d.pressure.min_idle == 1  # int(2 / 3) = 0, raised to 1 while jobs wait
    assert "0 usable idle (not usable: memory 2)" in "\n".join(explain_lines(outcome))


def test_held_small_job_beside_idle_big_jobs(tmp_path: Path) -> None:
    """A held 128 MB job's autocluster (no idle, no running job) beside idle 16 GB jobs."""
    clusters = [JobCluster(job(128), idle=0, running=0), JobCluster(job(16000), idle=6)]
    outcome = decide(tmp_path, clusters, [slot("ce1", Memory=8000)])
    d = outcome.decisions[0]
    assert (d.slots.idle, dict(d.slots.not_usable)) == (0, {"memory": 1})
    # int(6 / 3) = 2 + reserve min(6 // 3, 5) = 2 (old idle unknown: taken as idle)
    assert d.pressure.min_idle == 4 and d.pressure.effective_idle == 6


def test_the_order_of_the_autoclusters_does_not_matter(tmp_path: Path) -> None:
    big_first = [JobCluster(job(3072), idle=2), JobCluster(job(256), idle=0, running=1)]
    outcome = decide(tmp_path, big_first, [slot("ce1", Memory=2048)])
    assert outcome.decisions[0].slots.idle == 0


def test_mixed_sizes_count_idle_jobs_per_need() -> None:
    entries = [classads.from_dict({"GLIDEIN_Site": "SiteA", "GLIDEIN_CPUS": 8})]
    clusters = [
        JobCluster(job(1000), idle=3),
        JobCluster(job(4000, cpus=4), idle=2, running=5),
        JobCluster(job(500), idle=0, running=7),  # running only: needs nothing of an idle slot
    ]
    result = match(EXPR, clusters, entries, [ENTRY])
    assert result.job_classes == 1
    assert dict(result.entries[ENTRY].needs) == {Need(1, 1000): 3, Need(4, 4000): 2}
    assert result.entries[ENTRY].running == 12


def test_usable_idle_slots_capped_by_the_idle_jobs_that_fit_them() -> None:
    """Five 2 GB slots and one 1 GB job beside ten 16 GB jobs: one slot covers the small job, the
    other four cover nothing (they must not cancel four of the big jobs)."""
    slots = [slot("ce1", Name=f"s{i}", Memory=2000) for i in range(5)]
    needs = {ENTRY: {Need(1, 1000): 1, Need(1, 16000): 10}}
    counts = count_slots(slots, "fe.main", needs, UsableIdle(), NOW).entries[ENTRY]
    assert (counts.idle, counts.idle_all, dict(counts.not_usable)) == (1, 5, {"surplus": 4})
    plenty = {ENTRY: {Need(1, 1000): 9}}
    assert count_slots(slots, "fe.main", plenty, UsableIdle(), NOW).entries[ENTRY].idle == 5
    assert count_slots(slots, "fe.main", needs, UsableIdle(rule="all"), NOW).entries[ENTRY].idle == 5
