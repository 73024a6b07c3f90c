"""Decision tables for one entry: every limit, removal mode, held case and downtime."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from glidein.factory.entry import ClientRequest, EntryInputs, EntryPolicy, Limits, TokenBucket, decide
from glidein.factory.pilot_states import PilotState, PilotView

NOW = 10_000.0
S = PilotState


def pilots(client: str, state: PilotState, n: int, start: int = 0, age: float = 10.0) -> list[PilotView]:
    return [
        PilotView(f"{client}-{state}-{i}", client, state, NOW - age - i, NOW - age - i, "sc")
        for i in range(start, start + n)
    ]


def req(
    client: str = "fe1.main", idle: int = 10, max_: int = 100, mode: str = "NO", **kw: object
) -> ClientRequest:
    return ClientRequest(client, client.split(".", maxsplit=1)[0], "sc", idle, max_, mode, **kw)  # type: ignore[arg-type]


def run(
    requests: Sequence[ClientRequest],
    have: Sequence[PilotView] = (),
    policy: EntryPolicy | None = None,
    rate: int = 1000,
    **kw: object,
):  # type: ignore[no-untyped-def]
    policy = policy or EntryPolicy("e1")
    return decide(EntryInputs(policy, list(requests), list(have), NOW, rate, **kw))  # type: ignore[arg-type]


# (description, requests, existing pilots, policy, expected submit per client, expected limit of fe1.main)
SUBMIT_TABLE = [
    ("plain deficit", [req(idle=10)], pilots("fe1.main", S.IDLE, 4), None, {"fe1.main": 6}, "none"),
    ("enough idle", [req(idle=3)], pilots("fe1.main", S.IDLE, 4), None, {}, "ReqIdleGlideins"),
    (
        "ReqMaxGlideins counts idle+running",
        [req(idle=10, max_=12)],
        pilots("fe1.main", S.IDLE, 2) + pilots("fe1.main", S.RUNNING, 8),
        None,
        {"fe1.main": 2},
        "ReqMaxGlideins",
    ),
    (
        "entry max_idle",
        [req(idle=50)],
        pilots("fe1.main", S.IDLE, 5),
        EntryPolicy("e1", Limits(max_idle=8)),
        {"fe1.main": 3},
        "entry.max_idle",
    ),
    (
        "entry max_total",
        [req(idle=50)],
        pilots("fe1.main", S.RUNNING, 18),
        EntryPolicy("e1", Limits(max_total=20)),
        {"fe1.main": 2},
        "entry.max_total",
    ),
    (
        "entry max_held stops all submission",
        [req(idle=5)],
        pilots("fe1.main", S.HELD, 2),
        EntryPolicy("e1", Limits(max_held=2), held_backoff=1e9),
        {},
        "entry.max_held",
    ),
    (
        "frontend limit",
        [req(idle=5)],
        [],
        EntryPolicy("e1", frontend_limits={"fe1": Limits(max_idle=2)}),
        {"fe1.main": 2},
        "frontend.max_idle",
    ),
    (
        "security class limit",
        [req(idle=5)],
        [],
        EntryPolicy("e1", security_class_limits={"fe1:sc": Limits(max_total=1)}),
        {"fe1.main": 1},
        "security_class.max_total",
    ),
    (
        "max_per_cycle",
        [req(idle=50)],
        [],
        EntryPolicy("e1", max_per_cycle=7),
        {"fe1.main": 7},
        "max_per_cycle",
    ),
    ("pending counts as idle", [req(idle=5)], pilots("fe1.main", S.PENDING, 5), None, {}, "ReqIdleGlideins"),
]


@pytest.mark.parametrize(("what", "requests", "have", "policy", "submit", "limit"), SUBMIT_TABLE)
def test_submission_table(
    what: str,
    requests: list[ClientRequest],
    have: list[PilotView],
    policy: EntryPolicy | None,
    submit: dict[str, int],
    limit: str,
) -> None:
    d = run(requests, have, policy)
    assert d.submit == submit, what
    assert d.clients["fe1.main"].limit == limit, what
    assert any(f"limit={limit}" in line and "client=fe1.main" in line for line in d.lines)


def test_submission_rate() -> None:
    d = run([req(idle=50)], rate=4)
    assert d.submit == {"fe1.main": 4}
    assert d.clients["fe1.main"].limit == "submit_rate"


def test_shared_budget_is_fair_between_clients() -> None:
    d = run(
        [req("fe1.a", idle=50), req("fe2.b", idle=50), req("fe1.c", idle=1)],
        policy=EntryPolicy("e1", max_per_cycle=9),
    )
    assert d.submit == {"fe1.a": 4, "fe2.b": 4, "fe1.c": 1}
    assert d.clients["fe1.c"].limit == "none"


def test_frontend_limit_is_shared_by_its_groups() -> None:
    policy = EntryPolicy("e1", frontend_limits={"fe1": Limits(max_total=3)})
    d = run([req("fe1.a", idle=5), req("fe1.b", idle=5), req("fe2.x", idle=2)], policy=policy)
    assert d.submit["fe1.a"] + d.submit["fe1.b"] == 3
    assert d.submit["fe2.x"] == 2


@pytest.mark.parametrize(
    ("kw", "limit"),
    [
        ({"status_ok": False}, "status_unknown"),
        ({"blocked_reason": "pilots die at once"}, "blocked"),
        ({"down_clients": {"fe1.main": "entry downtime"}}, "downtime"),
    ],
)
def test_gates_submit_nothing(kw: dict[str, object], limit: str) -> None:
    d = run([req(idle=10)], **kw)
    assert d.submit == {}
    assert d.clients["fe1.main"].limit == limit


def test_status_unknown_also_removes_nothing() -> None:
    have = pilots("fe1.main", S.IDLE, 10)
    d = run([req(idle=0, max_=0, mode="ALL")], have, status_ok=False)
    assert d.remove == [] and d.release == []


def test_downtime_of_one_client_leaves_others() -> None:
    d = run([req("fe1.a", idle=2), req("fe2.b", idle=2)], down_clients={"fe1.a": "x"})
    assert d.submit == {"fe2.b": 2}


def mixed(client: str = "fe1.main") -> list[PilotView]:
    return pilots(client, S.PENDING, 3) + pilots(client, S.IDLE, 3, start=3) + pilots(client, S.RUNNING, 6)


# (mode, req_idle, req_max, margin, expected number removed, expected states removed)
REMOVE_TABLE = [
    ("NO", 0, 0, 0, 0, set()),
    ("WAIT", 0, 100, 0, 3, {S.PENDING}),
    ("WAIT", 2, 100, 0, 3, {S.PENDING}),
    ("IDLE", 2, 100, 0, 4, {S.PENDING, S.IDLE}),
    ("IDLE", 2, 100, 3, 1, {S.PENDING}),
    ("IDLE", 6, 100, 0, 0, set()),
    ("ALL", 0, 0, 0, 12, {S.PENDING, S.IDLE, S.RUNNING}),
    ("ALL", 0, 4, 0, 8, {S.PENDING, S.IDLE, S.RUNNING}),
]


@pytest.mark.parametrize(("mode", "idle", "max_", "margin", "count", "states"), REMOVE_TABLE)
def test_remove_excess_table(
    mode: str, idle: int, max_: int, margin: int, count: int, states: set[PilotState]
) -> None:
    have = mixed()
    d = run(
        [req(idle=idle, max_=max_, mode=mode, remove_margin=margin)],
        have,
        EntryPolicy("e1", max_removal_share=1.0),
    )
    by_id = {p.pilot_id: p for p in have}
    removed = [by_id[pid] for pid, _ in d.remove]
    assert len(removed) == count
    assert {p.state for p in removed} == states
    assert d.submit == {}


def test_mass_removal_guard() -> None:
    have = pilots("fe1.main", S.RUNNING, 100)
    d = run([req(idle=0, max_=0, mode="ALL")], have, EntryPolicy("e1", max_removal_share=0.1))
    assert len(d.remove) == 10
    assert any("limit=max_removal_share" in line for line in d.lines)


def test_guard_allows_at_least_one() -> None:
    d = run(
        [req(idle=0, max_=0, mode="ALL")],
        pilots("fe1.main", S.RUNNING, 3),
        EntryPolicy("e1", max_removal_share=0.1),
    )
    assert len(d.remove) == 1


def test_idle_lifetime_and_stale() -> None:
    young = pilots("fe1.main", S.IDLE, 2, age=10)
    old = pilots("fe1.main", S.IDLE, 2, start=5, age=500)
    other = pilots("fe2.x", S.IDLE, 1, start=9, age=5000)
    policy = EntryPolicy("e1", stale_age=3600, max_removal_share=1.0)
    d = run([req(idle=10, idle_lifetime=300)], young + old + other, policy)
    reasons = dict(d.remove)
    assert {pid for pid in reasons} == {p.pilot_id for p in old + other}
    assert reasons[old[0].pilot_id] == "ReqIdleLifetime"
    assert reasons[other[0].pilot_id] == "stale_age"


def held(reason: str, releases: int, since_age: float) -> PilotView:
    return PilotView("h1", "fe1.main", S.HELD, NOW - 5000, NOW - since_age, "sc", reason, releases)


# (hold reason, releases so far, seconds held, expected action)
HELD_TABLE = [
    ("Transient network error", 0, 61, "release"),
    ("Transient network error", 0, 30, "wait"),
    ("Transient network error", 2, 200, "wait"),  # back-off 60 * 2**2 = 240 s
    ("Transient network error", 2, 241, "release"),
    ("Transient network error", 3, 10_000, "remove"),
    ("Proxy expired", 0, 1, "remove"),
]


@pytest.mark.parametrize(("reason", "releases", "since", "action"), HELD_TABLE)
def test_held_table(reason: str, releases: int, since: float, action: str) -> None:
    d = run([req(idle=0)], [held(reason, releases, since)])
    got = "release" if d.release == ["h1"] else "remove" if [p for p, _ in d.remove] == ["h1"] else "wait"
    assert got == action


def test_token_bucket() -> None:
    bucket = TokenBucket(rate=10.0, burst=20, now=0.0)
    assert bucket.available(0.0) == 20
    bucket.take(20)
    assert bucket.available(0.5) == 5
    bucket.take(5)
    assert bucket.available(100.0) == 20


def test_guard_min_and_max_per_cycle() -> None:
    have = pilots("fe1.main", S.RUNNING, 100)
    policy = EntryPolicy("e1", max_removal_share=0.5, max_removals=7)
    assert len(run([req(idle=0, max_=0, mode="ALL")], have, policy).remove) == 7
    policy = EntryPolicy("e1", max_removal_share=0.0, min_removals=3)
    assert len(run([req(idle=0, max_=0, mode="ALL")], have, policy).remove) == 3


def test_default_frontend_limits_apply_to_unlisted_frontends() -> None:
    policy = EntryPolicy(
        "e1", frontend_limits={"fe1": Limits(max_idle=5)}, default_frontend_limits=Limits(max_idle=1)
    )
    d = run([req("fe1.a", idle=9), req("fe2.b", idle=9)], policy=policy)
    assert d.submit == {"fe1.a": 5, "fe2.b": 1}


def test_running_too_long_is_stale() -> None:
    have = pilots("fe1.main", S.RUNNING, 2, age=100) + pilots("fe1.main", S.RUNNING, 1, start=7, age=5000)
    d = run([req(idle=0)], have, EntryPolicy("e1", stale_running_age=1000))
    assert d.remove == [(have[2].pilot_id, "stale_running_age")]


def test_held_max_backoff_and_releases_per_cycle() -> None:
    policy = EntryPolicy(
        "e1", held_backoff=60, held_max_backoff=100, held_max_releases=9, held_releases_per_cycle=1
    )
    one = PilotView("h1", "fe1.main", S.HELD, NOW, NOW - 101, "sc", "transient", 5)
    two = PilotView("h2", "fe1.main", S.HELD, NOW, NOW - 101, "sc", "transient", 5)
    d = run([req(idle=0)], [one, two], policy)
    assert d.release == ["h1"]


def test_idle_pilots_of_a_client_whose_request_vanished_are_removed_after_the_grace() -> None:
    """A frontend died: its idle pilots go once client_gone_grace has passed since its request expired."""
    gone_idle = pilots("fe9.main", S.IDLE, 2, age=50) + pilots("fe9.main", S.PENDING, 1, start=3, age=50)
    gone_running = pilots("fe9.main", S.RUNNING, 1, start=5, age=50)
    alive = pilots("fe1.main", S.IDLE, 2, start=7, age=5000)
    have = gone_idle + gone_running + alive
    policy = EntryPolicy("e1", client_gone_grace=600, max_removal_share=1.0)
    within = run([req(idle=10)], have, policy, request_expiries={"fe9.main": NOW - 599})
    assert within.remove == []
    after = run([req(idle=10)], have, policy, request_expiries={"fe9.main": NOW - 601})
    assert sorted(after.remove) == sorted((p.pilot_id, "client_gone") for p in gone_idle)  # running kept
    assert any("client=fe9.main idle=3 action=remove limit=client_gone" in line for line in after.lines)
    unknown = run([req(idle=10)], have, policy)  # no expiry recorded: counted from its newest pilot
    assert unknown.remove == []
    assert (
        run(
            [req(idle=10)], have, EntryPolicy("e1", client_gone_grace=0), request_expiries={"fe9.main": 0}
        ).remove
        == []
    )
