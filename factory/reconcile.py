"""Pure: turn the backend's status of an entry's pilots into bookkeeping transitions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from glidein.factory.pilot_states import PilotState
from glidein.factory.state import PilotRecord
from glidein.factory.submitters.base import BackendStatus

S = PilotState


@dataclass
class Reconciled:
    moves: list[tuple[str, PilotState, str]] = field(default_factory=list)
    backend_ids: dict[str, str] = field(default_factory=dict)  # NEW pilots found in the backend
    held_reasons: dict[str, str] = field(default_factory=dict)
    exit_codes: dict[str, int | None] = field(default_factory=dict)


def reconcile(
    records: Sequence[PilotRecord], statuses: Mapping[str, BackendStatus], now: float, grace: float
) -> Reconciled:
    """Transitions for `records` given the backend's `statuses` (keyed by pilot id).

    A pilot the backend does not show is LOST, except a NEW or PENDING one younger than `grace`
    (the backend may not list it yet) and a REMOVING one, which is then REMOVED.
    """
    out = Reconciled()
    for rec in records:
        st = statuses.get(rec.pilot_id)
        if st is None:
            _missing(rec, now, grace, out)
            continue
        if rec.state == S.NEW and st.backend_id:
            out.backend_ids[rec.pilot_id] = st.backend_id
        if rec.state == S.REMOVING and st.state in (S.IDLE, S.RUNNING, S.HELD):
            continue  # removal asked; the backend has not acted yet
        if st.state != rec.state:
            out.moves.append((rec.pilot_id, st.state, "backend status"))
            if st.state == S.HELD:
                out.held_reasons[rec.pilot_id] = st.held_reason
            if st.exit_code is not None:
                out.exit_codes[rec.pilot_id] = st.exit_code
    return out


def _missing(rec: PilotRecord, now: float, grace: float, out: Reconciled) -> None:
    if rec.state == S.REMOVING:
        out.moves.append((rec.pilot_id, S.REMOVED, "gone after removal"))
    elif rec.state in (S.NEW, S.PENDING):
        if now - rec.view.state_since > grace:
            reason = "never reached the backend" if rec.state == S.NEW else "not listed by the backend"
            out.moves.append((rec.pilot_id, S.LOST, reason))
    else:
        out.moves.append((rec.pilot_id, S.LOST, "vanished from the backend"))
