"""Pure: black-hole detection. An entry whose pilots keep failing or dying at once is blocked,
retried after a back-off that doubles while it stays bad, and advertises the reason."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

VALIDATION_CODES = frozenset({1, 2, 3, 4, 5})  # pilot wrapper failure classes


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


def is_failure(state: str, exit_code: int | None, run_seconds: float, quick: float) -> bool:
    if state == "lost":
        return True
    if state != "failed":
        return False
    return (exit_code in VALIDATION_CODES) or run_seconds < quick


def assess(
    health: Health, ends: Sequence[tuple[str, int | None, float, float]], now: float, policy: HealthPolicy
) -> Health:
    """New health of an entry from the pilot ends (state, exit code, run s, end time) in its window."""
    if health.blocked(now):
        return health
    start = max(health.since, now - policy.window)
    window = [e for e in ends if e[3] > start]
    fails = sum(1 for st, code, run, _ in window if is_failure(st, code, run, policy.quick_seconds))
    if len(window) >= policy.min_ends and fails >= policy.fail_share * len(window):
        wait = min(policy.max_backoff, policy.backoff * 2**health.strikes)
        reason = f"{fails} of the last {len(window)} pilots failed validation or died at once"
        return Health(now + wait, reason, health.strikes + 1, now + wait)
    if len(window) >= policy.min_ends and health.strikes:
        return replace(health, strikes=0, reason="")  # healthy again
    return replace(health, reason="") if health.reason else health
