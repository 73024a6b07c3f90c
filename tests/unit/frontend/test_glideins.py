"""Glidein (slot) counting: only usable idle slots count as idle (gwms#332)."""

from __future__ import annotations

from glidein.common import classads
from glidein.common.classads import ClassAd
from glidein.common.config.frontend import UsableIdle
from glidein.frontend.glideins import Need, count_slots, minimal_needs
from glidein.frontend.matching import JobCluster, match
from glidein.frontend.pressure import SlotCounts, Totals

NOW = 1_000_000.0
ENTRY = "ce1@gl@fac"


def slot(
    name: str,
    state: str = "Unclaimed",
    activity: str = "Idle",
    client: str = "fe.main",
    entry: str = "ce1",
    **attrs: object,
) -> ClassAd:
    values: dict[str, object] = {
        "MyType": "Machine",
        "Name": name,
        "State": state,
        "Activity": activity,
        "Cpus": 4,
        "Memory": 8000,
        "GPUs": 0,
        "GLIDEIN_Entry_Name": entry,
        "GLIDEIN_Name": "gl",
        "GLIDEIN_Factory": "fac",
        "GLIDEIN_Client": client,
        "GLIDEIN_ToRetire": NOW + 3600,
        "GLIDEIN_ToDie": NOW + 7200,
    }
    values.update(attrs)
    return classads.from_dict(values)


def test_slot_with_too_little_free_memory_is_not_idle() -> None:
    """gwms#332: an unclaimed slot whose free memory fits no waiting job is not an idle glidein."""
    slots = [slot("s1", Memory=1000), slot("s2", Memory=4000)]
    result = count_slots(slots, "fe.main", {ENTRY: {Need(1, 2000): 5}}, UsableIdle(), NOW)
    counts = result.entries[ENTRY]
    assert counts.counts() == SlotCounts(total=2, idle=1, running=0, failed=0, idle_all=2)
    assert counts.not_usable == {"memory": 1}


def test_all_rule_counts_every_idle_slot_like_glideinwms() -> None:
    slots = [slot("s1", Memory=1000), slot("s2", GLIDEIN_ToRetire=NOW - 1)]
    result = count_slots(slots, "fe.main", {ENTRY: {Need(1, 2000): 5}}, UsableIdle(rule="all"), NOW)
    assert result.entries[ENTRY].idle == 2


def test_retiring_short_lived_and_gpu_slots() -> None:
    slots = [
        slot("retiring", GLIDEIN_ToRetire=NOW - 1),
        slot("dying", GLIDEIN_ToDie=NOW + 60),
        slot("nogpu"),
        slot("gpu", GPUs=1),
        slot("fewcpus", Cpus=1, GPUs=1),
    ]
    needs = {ENTRY: {Need(2, 1000, 1): 10}}
    counts = count_slots(slots, "fe.main", needs, UsableIdle(), NOW).entries[ENTRY]
    assert counts.idle == 1
    assert counts.not_usable == {"retiring": 1, "lifetime": 1, "gpus": 1, "cpus": 1}
    relaxed = UsableIdle(count_retiring=True, check_gpus=False, min_lifetime=30)
    counts = count_slots(slots, "fe.main", needs, relaxed, NOW).entries[ENTRY]
    assert (counts.idle, counts.not_usable) == (4, {"cpus": 1})


def test_states_clients_entries_and_totals() -> None:
    slots = [
        slot("idle"),
        slot("busy", "Claimed", "Busy"),
        slot("retiring", "Claimed", "Retiring"),
        slot("drained", "Drained", "Retiring"),
        slot("other-entry", entry="ce2"),
        slot("other-group", client="fe.other", GLIDECLIENT_Name="fe.other"),
        slot("other-frontend", client="fe2.main"),
        classads.from_dict({"MyType": "Machine", "Name": "plain", "State": "Unclaimed", "Activity": "Idle"}),
    ]
    result = count_slots(slots, "fe.main", {}, UsableIdle(), NOW)
    assert result.entries[ENTRY].counts() == SlotCounts(4, 1, 2, 1, 1)
    assert result.entries["ce2@gl@fac"].counts() == SlotCounts(1, 1, 0, 0, 1)
    assert result.totals == Totals(group_total=5, group_idle=2, frontend_total=6, frontend_idle=3)


def test_needs_come_from_the_jobs_matching_the_entry() -> None:
    entries = [classads.from_dict({"GLIDEIN_Site": "A", "GLIDEIN_CPUS": 4})]
    small = classads.from_dict({"RequestCpus": 1, "RequestMemory": 2000, "DESIRED_Sites": "A"})
    big = classads.from_dict({"RequestCpus": 2, "RequestMemory": 9000, "DESIRED_Sites": "A"})
    elsewhere = classads.from_dict({"RequestCpus": 1, "RequestMemory": 100, "DESIRED_Sites": "B"})
    result = match(
        "stringListMember(TARGET.GLIDEIN_Site, DESIRED_Sites)",
        [JobCluster(small, 3), JobCluster(big, 1), JobCluster(elsewhere, 5)],
        entries,
        [ENTRY],
    )
    needs = result.entries[ENTRY].needs
    assert minimal_needs(needs) == [Need(1, 2000, 0)] and needs == {Need(1, 2000): 3, Need(2, 9000): 1}
    counts = count_slots([slot("s", Memory=1500)], "fe.main", {ENTRY: needs}, UsableIdle(), NOW)
    assert counts.entries[ENTRY].idle == 0


def test_minimal_needs_keeps_only_the_smallest() -> None:
    needs = [Need(4, 1000), Need(1, 4000), Need(2, 2000), Need(4, 4000), Need(1, 4000)]
    assert minimal_needs(needs) == [Need(1, 4000), Need(2, 2000), Need(4, 1000)]


def test_slot_attributes_given_as_expressions_are_evaluated() -> None:
    ad = slot("expr", TotalMemory=9000)
    ad["Memory"] = classads.parse_expr("TotalMemory - 8500")
    counts = count_slots([ad], "fe.main", {ENTRY: {Need(1, 1000): 1}}, UsableIdle(), NOW).entries[ENTRY]
    assert (counts.idle, counts.not_usable) == (0, {"memory": 1})
