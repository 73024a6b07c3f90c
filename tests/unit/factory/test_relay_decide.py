"""The relay monitor's decisions (factory/relay/decide.py): deploy, live, redeploy with back-off,
one relay at a time."""

from __future__ import annotations

from glidein.factory.relay.decide import Policy, Probe, RelayAd, Step, backoff_delay, decide
from glidein.factory.relay.state import Phase, RelayState

POLICY = Policy(
    lifetime=3600, update_interval=5, start_timeout=100, ping_failures=2, backoff=10, max_backoff=40
)
NAME = "relay-e1@head"


def fresh(now: float) -> RelayAd:
    return RelayAd(NAME, last_heard=now - 1)


def deployed(now: float, job: str = "1.0") -> RelayState:
    return RelayState("e1", phase=Phase.DEPLOYING, job_id=job, deployed_at=now)


def live(now: float, job: str = "1.0", failures: int = 0) -> RelayState:
    return RelayState(
        "e1", phase=Phase.LIVE, job_id=job, deployed_at=now, live_since=now, name=NAME, failures=failures
    )


def test_first_cycle_deploys_once_and_says_why() -> None:
    step = decide(RelayState("e1"), Probe({}), POLICY, 100.0)
    assert step.deploy and step.state.phase == Phase.DEPLOYING and step.state.deployed_at == 100.0
    assert step.lines == ("relay entry=e1 kind=condor action=deploy reason=first deployment",)


def test_nothing_known_changes_nothing() -> None:
    state = live(0.0)
    assert decide(state, Probe(None), POLICY, 50.0) == Step(state)


def test_deploying_becomes_live_when_it_advertises_and_answers() -> None:
    step = decide(deployed(100.0), Probe({"1.0": 2}, fresh(120.0), answers=True), POLICY, 120.0)
    assert step.state.phase == Phase.LIVE and step.state.name == NAME and not step.deploy
    assert "action=live" in step.lines[0] and "after=20s" in step.lines[0]


def test_deploying_waits_while_its_job_is_on_its_way() -> None:
    step = decide(deployed(100.0), Probe({"1.0": 1}), POLICY, 150.0)
    assert step == Step(deployed(100.0))


def test_not_up_within_start_timeout_is_a_failure_and_replaced() -> None:
    step = decide(deployed(100.0), Probe({"1.0": 2}), POLICY, 201.0)
    assert step.remove == ("1.0",) and step.deploy and step.state.failures == 1
    assert "not up within 100s" in step.lines[0]


def test_live_relay_that_stops_answering_is_redeployed_after_ping_failures_cycles() -> None:
    dead = Probe({"1.0": 2}, fresh(10.0), answers=False)
    first = decide(live(0.0), dead, POLICY, 10.0)
    assert not first.deploy and not first.remove and first.state.missed == 1 and first.lines == ()
    second = decide(first.state, dead, POLICY, 11.0)
    assert second.remove == ("1.0",) and second.deploy  # the first failure: at once
    assert second.state.phase == Phase.DEPLOYING and second.state.job_id == "" and second.state.name == ""
    assert "action=failed" in second.lines[0] and "retry_in=0s" in second.lines[0]


def test_stale_ad_counts_as_not_answering() -> None:
    stale = Probe({"1.0": 2}, RelayAd(NAME, last_heard=0.0), answers=True)
    step = decide(live(0.0).with_(missed=1), stale, POLICY, 100.0)
    assert step.deploy and "its ad is stale" in step.lines[0]


def test_a_second_failure_in_a_row_waits_for_the_backoff() -> None:
    state = deployed(0.0, job="2.0").with_(failures=1)
    step = decide(state, Probe({"2.0": 4}), POLICY, 10.0)  # its job ended before it came up
    assert step.remove == () and not step.deploy and step.state.phase == Phase.DOWN
    assert step.state.next_deploy == 20.0 and "retry_in=10s" in step.lines[0]
    assert decide(step.state, Probe({}), POLICY, 19.0) == Step(step.state)  # still waiting
    again = decide(step.state, Probe({}), POLICY, 20.0)
    assert again.deploy and "action=deploy" in again.lines[0]


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff_delay(n, POLICY) for n in range(1, 7)] == [0, 10, 20, 40, 40, 40]


def test_failures_start_again_after_a_stable_live_period() -> None:
    ok = Probe({"1.0": 2}, fresh(1000.0), answers=True)
    assert decide(live(0.0, failures=3), ok, POLICY, 1000.0).state.failures == 0
    assert decide(live(900.0, failures=3), ok, POLICY, 1000.0).state.failures == 3


def test_a_relay_ending_after_its_lifetime_is_replaced_without_counting_a_failure() -> None:
    step = decide(live(0.0, failures=2), Probe({}), POLICY, 3500.0)
    assert step.deploy and step.state.failures == 2 and "action=expired" in step.lines[0]


def test_an_early_end_is_a_failure() -> None:
    step = decide(live(0.0), Probe({}), POLICY, 50.0)
    assert step.deploy and step.state.failures == 1 and "its job ended" in step.lines[0]


def test_never_two_relays_a_live_or_deploying_relay_is_not_deployed_again() -> None:
    ok = Probe({"1.0": 2}, fresh(10.0), answers=True)
    assert not decide(live(0.0), ok, POLICY, 10.0).deploy
    assert not decide(deployed(0.0), Probe({"1.0": 1}), POLICY, 10.0).deploy


def test_a_relay_job_the_state_does_not_own_is_removed() -> None:
    ok = Probe({"1.0": 2, "7.0": 1, "3.0": 3}, fresh(10.0), answers=True)
    step = decide(live(0.0), ok, POLICY, 10.0)
    assert step.remove == ("7.0",) and not step.deploy  # 3.0 is already removed
    assert "action=remove_stray jobs=7.0" in step.lines[-1]


def test_every_redeployment_removes_the_job_before_it() -> None:
    dead = Probe({"1.0": 2}, None)
    step = decide(live(0.0).with_(missed=1), dead, POLICY, 10.0)
    assert step.deploy and step.remove == ("1.0",) and "its ad is gone" in step.lines[0]
