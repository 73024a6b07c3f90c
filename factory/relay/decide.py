"""The monitor's decisions (pure): from what was seen of a relay, what to do and what it is now.

One relay per entry at a time: a new relay is deployed only once the job of the last one is on
its way out (removed in the same step) and no relay of the entry answers. A relay that ends
after its lifetime is replaced at once; one that fails (it stops answering for `ping_failures`
cycles in a row, its ad goes stale, its job ends early, it does not come up within
`start_timeout`) is replaced at once the first time, then after `backoff`, doubling up to
`max_backoff`, until a relay stays live for STABLE seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from glidein.factory.relay.state import Phase, RelayState

STABLE = 600.0  # seconds live after which the failure count starts again from zero
LIFETIME_SLACK = 0.9  # a relay ending after this share of its lifetime ended normally
ACTIVE_JOB = (1, 2)  # JobStatus idle, running (5 held and the rest: the relay is not coming)
FINISHED = (3, 4)  # removed, completed: nothing to remove


@dataclass(frozen=True)
class Policy:
    lifetime: float
    update_interval: float = 60.0
    start_timeout: float = 600.0
    ping_failures: int = 2
    backoff: float = 60.0
    max_backoff: float = 3600.0

    @property
    def stale_after(self) -> float:
        return 3 * self.update_interval


@dataclass(frozen=True)
class RelayAd:
    name: str
    last_heard: float
    start_time: float = 0.0


@dataclass(frozen=True)
class Probe:
    """What the monitor saw this cycle; `jobs` None: the factory's schedd could not be read."""

    jobs: Mapping[str, int] | None  # the entry's relay jobs at the factory's schedd: id -> JobStatus
    ad: RelayAd | None = None
    answers: bool = False


@dataclass(frozen=True)
class Step:
    state: RelayState
    deploy: bool = False
    remove: tuple[str, ...] = ()
    lines: tuple[str, ...] = field(default_factory=tuple)


def backoff_delay(failures: int, policy: Policy) -> float:
    """0 for the first failure in a row, then backoff, 2*backoff, ... up to max_backoff."""
    if failures <= 1:
        return 0.0
    return float(min(policy.max_backoff, policy.backoff * 2 ** (failures - 2)))


def healthy(probe: Probe, policy: Policy, now: float) -> bool:
    ad = probe.ad
    return ad is not None and probe.answers and now - ad.last_heard <= policy.stale_after


def _line(state: RelayState, action: str, **extra: object) -> str:
    parts = [f"relay entry={state.entry} kind={state.kind} action={action}"]
    parts += [f"{key}={value}" for key, value in extra.items() if value not in ("", None)]
    return " ".join(parts)


def _failed(state: RelayState, why: str, policy: Policy, now: float, jobs: Mapping[str, int]) -> Step:
    """The relay failed: remove its job, deploy again now or after the back-off."""
    failures = state.failures + 1
    delay = backoff_delay(failures, policy)
    gone = (state.job_id,) if jobs.get(state.job_id, 3) not in FINISHED else ()
    down = state.with_(
        phase=Phase.DOWN, failures=failures, missed=0, reason=why, next_deploy=now + delay, name=""
    )
    down = down.with_(retired=tuple(dict.fromkeys(state.retired + gone)))
    line = _line(state, "failed", job=state.job_id, reason=why, failures=failures, retry_in=f"{delay:.0f}s")
    step = Step(down, remove=gone, lines=(line,))
    return _deploy(step, now) if delay == 0 else step


def _deploy(step: Step, now: float) -> Step:
    st = step.state.with_(phase=Phase.DEPLOYING, deployed_at=now, missed=0, job_id="", name="")
    return Step(st, deploy=True, remove=step.remove, lines=step.lines)


def _live(state: RelayState, probe: Probe, policy: Policy, now: float, jobs: Mapping[str, int]) -> Step:
    assert probe.ad is not None or not healthy(probe, policy, now)
    if healthy(probe, policy, now):
        assert probe.ad is not None
        failures = 0 if now - state.live_since >= STABLE else state.failures
        return Step(state.with_(missed=0, failures=failures, name=probe.ad.name, reason=""))
    if jobs.get(state.job_id) not in ACTIVE_JOB:
        if now - state.deployed_at >= LIFETIME_SLACK * policy.lifetime:
            ended = state.with_(phase=Phase.DOWN, reason="lifetime over", name="")
            line = _line(state, "expired", job=state.job_id)
            return _deploy(Step(ended, lines=(line,)), now)
        return _failed(state, "its job ended", policy, now, jobs)
    missed = state.missed + 1
    if missed >= policy.ping_failures:
        why = "its ad is stale" if probe.ad is not None and probe.answers else "it does not answer"
        if probe.ad is None:
            why = "its ad is gone"
        return _failed(state.with_(missed=missed), f"{why} ({missed} cycles)", policy, now, jobs)
    return Step(state.with_(missed=missed))


def _deploying(state: RelayState, probe: Probe, policy: Policy, now: float, jobs: Mapping[str, int]) -> Step:
    if healthy(probe, policy, now):
        assert probe.ad is not None
        live = state.with_(phase=Phase.LIVE, name=probe.ad.name, live_since=now, missed=0, reason="")
        up = now - state.deployed_at
        return Step(
            live, lines=(_line(state, "live", job=state.job_id, name=probe.ad.name, after=f"{up:.0f}s"),)
        )
    if state.job_id not in jobs or jobs[state.job_id] not in ACTIVE_JOB:
        return _failed(state, "its job ended before it came up", policy, now, jobs)
    if now - state.deployed_at > policy.start_timeout:
        return _failed(state, f"not up within {policy.start_timeout:.0f}s", policy, now, jobs)
    return Step(state)


def decide(state: RelayState, probe: Probe, policy: Policy, now: float) -> Step:
    """The next step for one entry's relay."""
    if probe.jobs is None:  # nothing is known: change nothing, deploy nothing
        return Step(state)
    jobs = probe.jobs
    strays = tuple(j for j, st in jobs.items() if j != state.job_id and st in ACTIVE_JOB)
    retired = tuple(j for j in state.retired if j in jobs)
    state = state.with_(retired=retired)
    if state.phase == Phase.LIVE:
        step = _live(state, probe, policy, now, jobs)
    elif state.phase == Phase.DEPLOYING:
        step = _deploying(state, probe, policy, now, jobs)
    elif now >= state.next_deploy:
        why = "first deployment" if state.phase == Phase.ABSENT else state.reason
        step = _deploy(Step(state, lines=(_line(state, "deploy", reason=why),)), now)
    else:
        step = Step(state)
    extra = tuple(j for j in strays if j not in step.remove and j != step.state.job_id)
    if extra:  # a relay job this state does not own (a lost state file): one relay at a time
        line = _line(state, "remove_stray", jobs=",".join(extra))
        step = Step(step.state, step.deploy, step.remove + extra, (*step.lines, line))
    return step
