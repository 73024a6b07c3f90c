"""Pilot states and their allowed transitions, as a table (the bookkeeping's state machine)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class PilotState(enum.StrEnum):
    NEW = "new"  # recorded before the submit call: a crash here leaves a trace, never a ghost
    PENDING = "pending"  # accepted by the backend, not yet seen in its status
    IDLE = "idle"  # queued at the site
    RUNNING = "running"
    HELD = "held"
    REMOVING = "removing"  # remove requested, backend not yet confirmed
    COMPLETED = "completed"  # exit 0
    FAILED = "failed"  # non-zero exit
    REMOVED = "removed"
    LOST = "lost"  # the backend no longer knows it


S = PilotState
TERMINAL = frozenset({S.COMPLETED, S.FAILED, S.REMOVED, S.LOST})
IDLE_STATES = frozenset({S.NEW, S.PENDING, S.IDLE})
_ACTIVE = {S.PENDING, S.IDLE, S.RUNNING, S.HELD}
_ENDS = {S.COMPLETED, S.FAILED, S.REMOVED, S.LOST}

TRANSITIONS: dict[PilotState, frozenset[PilotState]] = {
    S.NEW: frozenset(_ACTIVE | _ENDS | {S.REMOVING}),
    S.PENDING: frozenset((_ACTIVE | _ENDS | {S.REMOVING}) - {S.PENDING}),
    S.IDLE: frozenset({S.RUNNING, S.HELD, S.REMOVING} | _ENDS),
    S.RUNNING: frozenset({S.IDLE, S.HELD, S.REMOVING} | _ENDS),
    S.HELD: frozenset({S.IDLE, S.RUNNING, S.REMOVING} | _ENDS),
    S.REMOVING: frozenset(_ENDS),
    S.COMPLETED: frozenset(),
    S.FAILED: frozenset(),
    S.REMOVED: frozenset(),
    S.LOST: frozenset(),
}


def can_move(old: PilotState, new: PilotState) -> bool:
    """True when `old -> new` is allowed (staying in the same state always is)."""
    return old == new or new in TRANSITIONS[old]


@dataclass(frozen=True)
class PilotView:
    """What the decisions need to know about one pilot (a row of the bookkeeping)."""

    pilot_id: str
    client: str  # "<frontend>.<group>"
    state: PilotState
    submit_time: float
    state_since: float
    security_class: str = ""
    held_reason: str = ""
    releases: int = 0

    @property
    def frontend(self) -> str:
        return self.client.split(".", 1)[0]

    @property
    def is_idle(self) -> bool:
        return self.state in IDLE_STATES
