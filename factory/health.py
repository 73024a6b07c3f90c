"""Pure: black-hole detection. An entry whose pilots keep failing or dying at once is blocked,
retried after a back-off that doubles while it stays bad, and advertises the reason.

A pilot's outcome comes from the wrapper's final report when there is one (its status and failure
class, contract 7), else from the batch exit code: a reported success counts as validated even when
the backend lost the exit code; a reported failure of a validation class counts as a validation
failure whatever the exit code says. A pilot a signal ended (class Killed, exit code 6: its startd
after it ran, or the pilot itself on SIGTERM before its startd started: removal, preemption, an
operator, the OOM killer) says nothing about the site's validity and is never counted, however
short the pilot's run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

VALIDATION_CODES = frozenset({1, 2, 3, 4, 5})  # pilot wrapper failure classes
VALIDATION_CLASSES = frozenset({"WN_Resource", "Network", "Config", "VO_Config", "Corruption"})
KILLED = "Killed"  # the wrapper's class (and exit code): removed/preempted, or its startd killed
KILLED_CODE = 6


class PilotEnd(NamedTuple):
    """One ended pilot: bookkeeping state and exit code, plus its final report if it sent one."""

    state: str
    exit_code: int | None
    run_seconds: float
    end_time: float
    report_status: str | None = None  # "success" | "failure" | None (no report)
    failure_class: str | None = None


@dataclass(frozen=True)
class HealthPolicy:
    min_ends: int = 5  # judge only after this many pilot ends in the window
    fail_share: float = 0.8
    quick_seconds: float = 60.0  # a pilot ending sooner "died at once"
    window: float = 1800.0
    backoff: float = 300.0
    max_backoff: float = 6 * 3600.0


@dataclass(frozen=True)
class Health:
    blocked_until: float = 0.0
    reason: str = ""
    strikes: int = 0
    since: float = 0.0  # start of the window being judged

    def blocked(self, now: float) -> bool:
        return now < self.blocked_until


def is_failure(end: PilotEnd, quick: float) -> bool:
    """Failed validation or died at once (the report, when there is one, wins over exit codes)."""
    if end.report_status == "success" or (end.report_status == "failure" and end.failure_class == KILLED):
        return False
    if end.report_status == "failure" and end.failure_class in VALIDATION_CLASSES:
        return True
    if end.state == "lost":
        return True
    if end.state != "failed" or (end.report_status is None and end.exit_code == KILLED_CODE):
        return False
    return (end.exit_code in VALIDATION_CODES) or end.run_seconds < quick


def assess(health: Health, ends: Sequence[PilotEnd], now: float, policy: HealthPolicy) -> Health:
    """New health of an entry from the pilot ends (state, exit code, run s, end time) in its window."""
    if health.blocked(now):
        return health
    start = max(health.since, now - policy.window)
    window = [e for e in ends if e.end_time > start]
    fails = sum(1 for end in window if is_failure(end, policy.quick_seconds))
    if len(window) >= policy.min_ends and fails >= policy.fail_share * len(window):
        wait = min(policy.max_backoff, policy.backoff * 2**health.strikes)
        reason = f"{fails} of the last {len(window)} pilots failed validation or died at once"
        return Health(now + wait, reason, health.strikes + 1, now + wait)
    if len(window) >= policy.min_ends and health.strikes:
        return replace(health, strikes=0, reason="")  # healthy again
    return replace(health, reason="") if health.reason else health


def unblocked(health: Health, now: float) -> Health:
    """An operator lifted the block (`glidein factory unblock`): strikes cleared, and only pilots
    ending from now on are judged, so the failures that caused the block do not block it again."""
    return Health(blocked_until=0.0, reason="", strikes=0, since=now)
