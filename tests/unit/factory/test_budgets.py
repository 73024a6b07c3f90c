"""Factory-wide per-frontend / per-security-class limits shared out among entries (pure tables)."""

from __future__ import annotations

import pytest

from glidein.factory.budgets import (
    KeyCounts,
    count_keys,
    entry_demands,
    remaining,
    share_budgets,
    water_fill,
)
from glidein.factory.entry import ClientRequest, EntryInputs, EntryPolicy, Limits, decide
from glidein.factory.pilot_states import PilotState

S = PilotState


@pytest.mark.parametrize(
    ("limits", "counts", "left"),
    [
        (Limits(), KeyCounts(5, 0, 5), None),  # no limit
        (Limits(max_idle=10), KeyCounts(4, 0, 9), 6),
        (Limits(max_idle=10, max_total=12), KeyCounts(4, 0, 9), 3),  # the tighter one
        (Limits(max_total=5), KeyCounts(0, 0, 7), 0),  # over already: never negative
        (Limits(max_idle=10, max_held=2), KeyCounts(0, 2, 2), 0),  # too many held: nothing new
        (Limits(max_held=2), KeyCounts(0, 1, 1), None),
    ],
)
def test_remaining_table(limits: Limits, counts: KeyCounts, left: int | None) -> None:
    assert remaining(limits, counts) == left


@pytest.mark.parametrize(
    ("total", "demands", "given"),
    [
        (10, {"a": 3, "b": 3}, {"a": 3, "b": 3}),  # enough for all
        (5, {"a": 4, "b": 4}, {"a": 3, "b": 2}),  # remainder to the first name
        (5, {"b": 4, "a": 4}, {"a": 3, "b": 2}),  # order of the mapping does not matter
        (9, {"a": 1, "b": 10, "c": 10}, {"a": 1, "b": 4, "c": 4}),  # a's unused share goes round
        (3, {"a": 0, "b": 0}, {"a": 0, "b": 0}),
        (0, {"a": 5}, {"a": 0}),
        (2, {"a": 5, "b": 5, "c": 5}, {"a": 1, "b": 1, "c": 0}),
    ],
)
def test_water_fill_table(total: int, demands: dict[str, int], given: dict[str, int]) -> None:
    got = water_fill(total, demands)
    assert got == given
    assert sum(got.values()) <= total and all(got[k] <= demands[k] for k in demands)


def test_share_budgets_every_limited_key_for_every_entry() -> None:
    limits = {"fe:fe1": Limits(max_idle=6), "sc:fe1:sc": Limits(max_total=100)}
    counts = {"fe:fe1": KeyCounts(idle=2, total=2), "sc:fe1:sc": KeyCounts(idle=2, total=2)}
    demands = {"e1": {"fe:fe1": 5, "sc:fe1:sc": 5}, "e2": {"fe:fe1": 5, "sc:fe1:sc": 5}}
    shares = share_budgets(limits, counts, demands, ["e1", "e2", "e3"])
    assert shares == {
        "e1": {"fe:fe1": 2, "sc:fe1:sc": 5},
        "e2": {"fe:fe1": 2, "sc:fe1:sc": 5},
        "e3": {"fe:fe1": 0, "sc:fe1:sc": 0},  # no demand: no share (not "unlimited")
    }


def test_count_keys_and_entry_demands() -> None:
    rows = [
        ("e1", "fe1.main", "sc", S.IDLE, 2),
        ("e2", "fe1.other", "sc", S.RUNNING, 3),
        ("e2", "fe1.main", "sc2", S.HELD, 1),
        ("e1", "fe2.main", "sc", S.PENDING, 4),
    ]
    counts = count_keys(rows)
    assert counts["fe:fe1"] == KeyCounts(idle=2, held=1, total=6)
    assert counts["sc:fe1:sc"] == KeyCounts(idle=2, held=0, total=5)
    assert counts["sc:fe1:sc2"] == KeyCounts(idle=0, held=1, total=1)
    assert counts["fe:fe2"] == KeyCounts(idle=4, held=0, total=4)
    reqs = [ClientRequest("fe1.main", "fe1", "sc", 5, 6), ClientRequest("fe1.b", "fe1", "sc2", 3, 100)]
    demands = entry_demands(reqs, {"fe1.main": 2}, {"fe1.main": 3})
    assert demands == {"fe:fe1": 1 + 3, "sc:fe1:sc": 1, "sc:fe1:sc2": 3}  # main capped by ReqMax
    capped = entry_demands(reqs, {"fe1.main": 2}, {"fe1.main": 3}, cap=2)  # max_per_cycle / rate
    assert capped == {"fe:fe1": 2, "sc:fe1:sc": 1, "sc:fe1:sc2": 2}


@pytest.mark.parametrize(
    ("budgets", "submit", "limit"),
    [
        ({}, 10, "none"),
        ({"fe:fe1": 3}, 3, "factory.frontend"),
        ({"fe:fe1": 8, "sc:fe1:sc": 2}, 2, "factory.security_class"),
        ({"fe:fe2": 0}, 10, "none"),  # another frontend's share
        ({"fe:fe1": 0}, 0, "factory.frontend"),
    ],
)
def test_decide_keeps_to_the_entry_share(budgets: dict[str, int], submit: int, limit: str) -> None:
    inputs = EntryInputs(
        EntryPolicy("e1"),
        [ClientRequest("fe1.main", "fe1", "sc", 10, 100)],
        [],
        0.0,
        1000,
        shared_budgets=budgets,
    )
    decision = decide(inputs)
    assert decision.submit.get("fe1.main", 0) == submit
    assert decision.clients["fe1.main"].limit == limit


def test_share_is_split_between_groups_of_the_frontend() -> None:
    reqs = [ClientRequest("fe1.a", "fe1", "sc", 10, 100), ClientRequest("fe1.b", "fe1", "sc", 10, 100)]
    decision = decide(EntryInputs(EntryPolicy("e1"), reqs, [], 0.0, 1000, shared_budgets={"fe:fe1": 5}))
    assert decision.submit == {"fe1.a": 3, "fe1.b": 2}
