"""An entry its factory blocked (black hole) or put in downtime gets no new pilot, and `explain`
names the block or the downtime (issue 18)."""

from __future__ import annotations

from pathlib import Path

from glidein.cli.frontend import explain_lines
from glidein.common.config import load_frontend_config
from glidein.frontend.cycle import GroupOutcome
from glidein.frontend.matching import JobCluster
from glidein.frontend.pressure import EntryDemand, PressurePolicy, SlotCounts, Totals, compute
from tests.unit.frontend.fixtures import FactoryKeys, entry_ad, write_config
from tests.unit.frontend.test_cycle import NOW, FakeBus, FakeSource, FakeSourcesFrontend, job, slot

UNTIL = 1_800_000_600  # 2027-01-15 08:10:00 UTC


def outcome_with(tmp_path: Path, **ce1: object) -> tuple[GroupOutcome, FakeBus]:
    keys = FactoryKeys()
    config = load_frontend_config(write_config(tmp_path, keys))
    entries = [entry_ad(keys, "ce1", "SiteA", **ce1), entry_ad(keys, "ce2", "SiteA")]
    wms = FakeBus({"glidefactory": entries})
    busy = slot("ce1", State="Claimed", Activity="Busy")
    frontend = FakeSourcesFrontend(config, wms, FakeBus({"Machine": [busy]}), clock=lambda: NOW)  # type: ignore[arg-type]
    frontend.sources = [FakeSource([JobCluster(job("SiteA"), 30, running=1)])]
    outcomes = frontend.cycle()
    return outcomes[0], wms


def test_blocked_entry_gets_no_new_pilot_and_explain_names_the_block(tmp_path: Path) -> None:
    outcome, wms = outcome_with(
        tmp_path,
        GLIDEIN_Blocked=True,
        GLIDEIN_BlockedReason="5 of 5 pilots failed",
        GLIDEIN_BlockedUntil=UNTIL,
    )
    by_entry = {d.entry.name: d for d in outcome.decisions}
    blocked, open_ = by_entry["ce1@gl@fac"], by_entry["ce2@gl@fac"]
    assert (blocked.pressure.min_idle, blocked.pressure.max_run) == (0, 0)
    assert blocked.removal.level == "NO"  # jobs wait: its running pilot is kept
    # the jobs both match go to the open entry whole: int(30 / 3) + reserve 5 (not half of them)
    assert (open_.match.prop, open_.pressure.min_idle, open_.share) == (30, 15, 1.0)
    assert (blocked.match.count, blocked.match.prop, blocked.match.idle_share, blocked.share) == (30, 0, 0, 0)
    sent = {a["ReqName"]: a for a in wms.advertised if a["MyType"] == "glideclient"}
    assert sent["ce1@gl@fac"]["ReqIdleGlideins"] == 0 and sent["ce2@gl@fac"]["ReqIdleGlideins"] > 0
    text = "\n".join(explain_lines(outcome, "ce1"))
    why = (
        "entry blocked by its factory (GLIDEIN_Blocked): 5 of 5 pilots failed, until 2027-01-15 08:10:00 UTC"
    )
    assert f"idle decided by   : {why}" in text
    assert f"limits and curbs  : {why}" in text
    assert "entry ce1@gl@fac  [blocked]" in text


def test_block_without_end_time_or_reason(tmp_path: Path) -> None:
    outcome, _ = outcome_with(
        tmp_path, GLIDEIN_Blocked=True, GLIDEIN_BlockedReason="", GLIDEIN_BlockedUntil=0
    )
    d = outcome.decisions[0]
    assert (
        d.pressure.min_idle == 0 and d.pressure.decided_by == "entry blocked by its factory (GLIDEIN_Blocked)"
    )


def test_not_blocked_when_the_factory_says_false(tmp_path: Path) -> None:
    outcome, _ = outcome_with(tmp_path, GLIDEIN_Blocked=False, GLIDEIN_BlockedReason="")
    d = outcome.decisions[0]
    assert d.pressure.min_idle > 0 and "limits and curbs  : none" in "\n".join(explain_lines(outcome, "ce1"))


def test_downtime_named_by_explain(tmp_path: Path) -> None:
    outcome, _ = outcome_with(tmp_path, GLIDEIN_In_Downtime=True)
    d = outcome.decisions[0]
    assert (d.pressure.min_idle, d.pressure.max_run) == (0, 0)
    text = "\n".join(explain_lines(outcome, "ce1"))
    assert "limits and curbs  : entry in downtime (GLIDEIN_In_Downtime)" in text and "[in downtime]" in text


def test_pressure_of_a_closed_entry() -> None:
    demand = EntryDemand(30, 30, 2, closed_by="entry blocked by its factory (GLIDEIN_Blocked)")
    got = compute(PressurePolicy(), demand, SlotCounts(total=2, running=2), Totals())
    assert (got.min_idle, got.max_run, got.decided_by) == (0, 0, demand.closed_by)
    assert (
        compute(PressurePolicy(), EntryDemand(30, 30, 2), SlotCounts(total=2, running=2), Totals()).min_idle
        > 0
    )
