"""The weighted split of idle jobs among matching entries, by the group's rank over feedback figures."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

from glidein.cli.frontend import explain_lines
from glidein.common import classads
from glidein.common.classads import ClassAd
from glidein.common.config import load_frontend_config
from glidein.common.errors import ConfigError
from glidein.frontend.cycle import decide_group
from glidein.frontend.matching import JobCluster, match
from glidein.frontend.requests import Entry
from glidein.frontend.shares import DEFAULT_RANK, EVEN_RANK, entry_weights, split
from tests.unit.frontend.fixtures import FactoryKeys, entry_ad, write_config

GOOD: dict[str, object] = {
    "GLIDEIN_Feedback_Pilots": 20,
    "GLIDEIN_Feedback_ValidationRate": 1.0,
    "GLIDEIN_Feedback_QueueWaitMedian": 30.0,
}
FLAKY: dict[str, object] = {
    "GLIDEIN_Feedback_Pilots": 20,
    "GLIDEIN_Feedback_ValidationRate": 0.5,
    "GLIDEIN_Feedback_QueueWaitMedian": 150.0,
}
FAILING: dict[str, object] = {"GLIDEIN_Feedback_Pilots": 8, "GLIDEIN_Feedback_ValidationRate": 0.0}
NEW: dict[str, object] = {
    "GLIDEIN_Feedback_Pilots": 1,
    "GLIDEIN_Feedback_ValidationRate": 1.0,
}  # too few to judge


def ad(site: str, figures: Mapping[str, object]) -> ClassAd:
    return classads.from_dict({"GLIDEIN_Site": site, "GLIDEIN_CPUS": 1, **figures})


def job(sites: str) -> ClassAd:
    return classads.from_dict({"DESIRED_Sites": sites, "RequestCpus": 1})


EXPR = "stringListMember(TARGET.GLIDEIN_Site, DESIRED_Sites)"


def test_default_rank_prefers_success_and_short_waits_and_new_entries_get_the_mean() -> None:
    ads = [ad("A", GOOD), ad("B", FLAKY), ad("C", NEW), ad("D", FAILING)]
    w = {x.name: x for x in entry_weights(DEFAULT_RANK, ads, ["A", "B", "C", "D"])}
    assert w["A"].weight == pytest.approx(1.0 / 1.1)
    assert w["B"].weight == pytest.approx(0.5 / 1.5)
    assert w["D"].weight == 0.0  # failing validation, pilots never started: no wait, rate 0
    assert w["C"].rank is None
    assert w["C"].weight == pytest.approx((1.0 / 1.1 + 0.5 / 1.5 + 0.0) / 3)
    assert "no history" in w["C"].text() and "rank" in w["A"].text()


def test_even_rank_and_all_new_entries_split_evenly() -> None:
    ads = [ad("A", GOOD), ad("B", FLAKY)]
    assert [x.weight for x in entry_weights(EVEN_RANK, ads, ["A", "B"])] == [1.0, 1.0]
    assert [x.weight for x in entry_weights(DEFAULT_RANK, [ad("A", {}), ad("B", NEW)], ["A", "B"])] == [
        1.0,
        1.0,
    ]
    assert split([0.0, 0.0]) == [0.5, 0.5]


def test_weighted_prop_sums_to_the_idle_jobs_and_follows_the_weights() -> None:
    ads = [ad("A", GOOD), ad("B", FLAKY), ad("C", NEW), ad("D", FAILING)]
    names = ["A", "B", "C", "D"]
    weights = [x.weight for x in entry_weights(DEFAULT_RANK, ads, names)]
    clusters = [JobCluster(job("A,B,C,D"), 120), JobCluster(job("B"), 10)]
    result = match(EXPR, clusters, ads, names, weights)
    props = {n: result.entries[n].prop for n in names}
    assert sum(props.values()) == pytest.approx(130.0)
    assert props["D"] == 0.0  # a failing entry gets nothing of the shared jobs
    assert props["B"] == pytest.approx(120 * weights[1] / sum(weights) + 10)  # its own jobs stay its own
    assert props["A"] > props["C"] > props["B"] - 10 > 0  # the new entry: between good and flaky
    even = match(EXPR, clusters, ads, names)
    assert [even.entries[n].prop for n in names] == pytest.approx([30.0, 40.0, 30.0, 30.0])
    assert result.entries["A"].prop_mc == pytest.approx(props["A"])


def test_rank_option_validated_at_load(tmp_path: Path) -> None:
    path = write_config(tmp_path, FactoryKeys())
    assert load_frontend_config(path).groups[0].rank == DEFAULT_RANK
    data = yaml.safe_load(path.read_text())
    data["groups"][0]["rank"] = "GLIDEIN_Feedback_Pilots >>>= 3"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"groups\[0\]\.rank"):
        load_frontend_config(path)


def test_decide_group_and_explain_show_the_weights(tmp_path: Path) -> None:
    keys = FactoryKeys()
    config = load_frontend_config(write_config(tmp_path, keys))
    entries = [
        Entry(f"{n}@gl@fac", "fac", entry_ad(keys, n, n, **figures), "", "")
        for n, figures in (("A", GOOD), ("B", FLAKY), ("C", {}))
    ]
    clusters = [JobCluster(job("A,B,C"), 90)]
    kw = {"clusters": clusters, "entries": entries, "slot_ads": [], "history": {}, "now": 1e9}
    outcome = decide_group(config, config.groups[0], **kw)  # type: ignore[arg-type]
    shares = {d.entry.name: d.share for d in outcome.decisions}
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares["A@gl@fac"] > shares["C@gl@fac"] > shares["B@gl@fac"]
    requests = {d.entry.name: d.pressure.min_idle for d in outcome.decisions}
    assert requests["A@gl@fac"] > requests["B@gl@fac"]
    text = "\n".join(explain_lines(outcome))
    assert "weight (rank)     : 0.909 (rank 0.909); 49% of the jobs every entry matches" in text
    assert "(no history: fair share, the mean of the others)" in text


def test_default_rank_weighs_throughput_relative_to_the_group_and_failed_jobs() -> None:
    """A site whose nodes run jobs 3 times slower (a third of the jobs per pilot-hour) and fail 40%
    of them weighs a fifth of the fast site's (pilots' waits and validation the same)."""
    same = {"GLIDEIN_Feedback_Pilots": 10, "GLIDEIN_Feedback_ValidationRate": 1.0}
    jobs, fail = "GLIDEIN_Feedback_JobsPerPilotHour", "GLIDEIN_Feedback_JobFailureRate"
    fast = ad("F", {**same, jobs: 240.0, fail: 0.0})
    slow = ad("S", {**same, jobs: 80.0, fail: 0.4})
    other = ad("O", same)  # no jobs/h yet: throughput as the others (1)
    w = entry_weights(DEFAULT_RANK, [fast, slow, other], ["F", "S", "O"])
    assert [x.rank for x in w] == pytest.approx([1.5, 0.5 * 0.6, 1.0])
    assert [x.weight for x in w] == pytest.approx([1.5, 0.0, 1.0])  # 0.3 is under a third of 1.5
    assert w[1].cut and "under 0.33 of the group's best entry" in w[1].text()
    assert "GLIDEIN_Feedback_RelativeThroughput" not in fast  # the caller's ads are left alone
    lone = entry_weights(DEFAULT_RANK, [slow], ["S"])  # alone in its group: its own mean
    assert lone[0].weight == pytest.approx(0.6)
    idle = ad("I", {**same, jobs: 0.0})  # pilots that found no job
    assert entry_weights(DEFAULT_RANK, [fast, idle], ["F", "I"])[1].rank == pytest.approx(0.1)
    assert [x.weight for x in entry_weights(EVEN_RANK, [fast, slow], ["F", "S"])] == [1.0, 1.0]


def test_an_entry_under_a_third_of_the_best_gets_no_share_of_shared_jobs_but_keeps_its_own() -> None:
    """Proportional shares cannot starve a poor site (the frontend asks at least one pilot per
    cycle of every entry with a share): under a third of the best, the share is 0."""
    good = ad("A", GOOD)  # 1 / 1.1
    poor = ad("B", {**FLAKY, "GLIDEIN_Feedback_ValidationRate": 0.25})  # 0.25 / 1.5: 0.18 of A
    near = ad("C", {**FLAKY, "GLIDEIN_Feedback_ValidationRate": 0.45})  # 0.3 / 0.91: 0.33, just under
    weights = entry_weights(DEFAULT_RANK, [good, poor, near], ["A", "B", "C"])
    assert [x.cut for x in weights] == [False, True, True]
    fine = entry_weights(DEFAULT_RANK, [good, ad("D", FLAKY)], ["A", "D"])  # 0.37 of A: kept
    assert [x.weight for x in fine] == pytest.approx([1.0 / 1.1, 0.5 / 1.5])
    ads, names = [good, poor], ["A", "B"]
    result = match(
        EXPR,
        [JobCluster(job("A,B"), 30), JobCluster(job("B"), 4)],
        ads,
        names,
        [x.weight for x in entry_weights(DEFAULT_RANK, ads, names)],
    )
    assert (result.entries["A"].prop, result.entries["B"].prop) == pytest.approx((30.0, 4.0))
    new = entry_weights(DEFAULT_RANK, [good, poor, ad("N", {})], ["A", "B", "N"])[2]
    assert new.rank is None and not new.cut  # a new entry: the mean (0.55 of the best), tried
