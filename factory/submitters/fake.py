"""An in-memory backend for unit tests and dry runs: nothing leaves the process."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from glidein.common.errors import SubmitError
from glidein.factory.pilot_states import PilotState
from glidein.factory.submitters.base import BackendStatus, PilotRef, PilotSpec


class FakeSubmitter:
    """Pilots live in `self.jobs`; tests move them with `set_state` and break it with the flags."""

    def __init__(self, entry: str, params: object = None, work_dir: Path | None = None) -> None:
        self.entry = entry
        self.fail_submit = bool(getattr(params, "fail_submit", False))
        self.fail_status = False
        self.jobs: dict[str, BackendStatus] = {}
        self.submitted: list[PilotSpec] = []
        self.released: list[str] = []
        self.next_id = 1

    def status_key(self) -> str:
        return f"fake:{self.entry}:{id(self)}"

    def submit(self, pilots: Sequence[PilotSpec]) -> dict[str, str]:
        if self.fail_submit:
            raise SubmitError(f"fake backend of {self.entry} refuses submissions")
        out: dict[str, str] = {}
        for spec in pilots:
            backend_id = str(self.next_id)
            self.next_id += 1
            self.jobs[spec.pilot_id] = BackendStatus(spec.pilot_id, PilotState.IDLE, backend_id)
            self.submitted.append(spec)
            out[spec.pilot_id] = backend_id
        return out

    def status(self, pilots: Sequence[PilotRef]) -> dict[str, BackendStatus]:
        if self.fail_status:
            raise SubmitError(f"fake backend of {self.entry}: status unavailable")
        return dict(self.jobs)

    def set_state(
        self, pilot_id: str, state: PilotState, exit_code: int | None = None, reason: str = ""
    ) -> None:
        old = self.jobs[pilot_id]
        self.jobs[pilot_id] = BackendStatus(pilot_id, state, old.backend_id, exit_code, reason)

    def remove(self, pilots: Sequence[PilotRef]) -> None:
        for ref in pilots:
            if ref.pilot_id in self.jobs:
                self.set_state(ref.pilot_id, PilotState.REMOVED)

    def release(self, pilots: Sequence[PilotRef]) -> None:
        for ref in pilots:
            if ref.pilot_id in self.jobs:
                self.released.append(ref.pilot_id)
                self.set_state(ref.pilot_id, PilotState.IDLE)
