"""What every pilot command line of one cycle needs (factory/worker.py's PilotContext), per entry.

Made once per cycle: the report key is read once (not once per entry: 5,000 file reads at
global-pool scale), then `get` gives each entry its context with its clients' stage arguments
(for a self-contained entry, the packed pilot that carries the stage).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from glidein.common.errors import GlideinError
from glidein.factory import staging
from glidein.factory.state_dir import STOPPED, StateGuard
from glidein.factory.worker import PilotContext

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PilotContexts:
    cfg: Any
    state_dir: Path
    stage: staging.StageResult | None
    report_key: bytes | None  # None: no key, no pilot that can report: submit nothing

    @classmethod
    def for_cycle(
        cls, cfg: Any, state_dir: Path, guard: StateGuard, stage: staging.StageResult | None
    ) -> PilotContexts:
        if stage is None:
            return cls(cfg, state_dir, None, None)
        from glidein.factory.web import load_or_create_report_key

        path = Path(cfg.security.report_key or (state_dir / "report.key"))
        try:
            key: bytes | None = load_or_create_report_key(path)
            guard.ok("report key")
        except OSError as exc:
            guard.note("report key", f"cannot create {path}: {exc}{STOPPED}")
            key = None
        return cls(cfg, state_dir, stage, key)

    def get(self, entry: str, clients: Iterable[str], packed: bool = False) -> PilotContext | None:
        """The entry's context; None when nothing can be submitted (no stage, key or packed pilot)."""
        stage = self.stage
        if stage is None or self.report_key is None:
            return None
        wrapper, extra = str(staging.WRAPPER_PATH), list[str]()
        if packed:  # the entry's pilots carry the stage (factory/selfcontained.py)
            from glidein.factory import selfcontained

            try:
                out_dir = self.state_dir / selfcontained.PACKED_DIR
                keep = float(getattr(self.cfg.staging, "grace_period", 86400))
                pilot = selfcontained.pack(Path(self.cfg.staging.dir), out_dir, keep, stage)
            except (GlideinError, OSError) as exc:
                log.error("entry=%s no self-contained pilot, nothing submitted: %s", entry, exc)
                return None
            wrapper, extra = str(pilot.path), pilot.args()
        parts = urlsplit(str(self.cfg.staging.url))
        return PilotContext(
            factory=self.cfg.name,
            glidein=self.cfg.glidein_name,
            python="python3",
            wrapper=wrapper,
            stage_args={c: [*stage.pilot_args(entry, c), *extra] for c in clients},
            report_url=f"{parts.scheme}://{parts.netloc}",
            report_key=self.report_key,
        )
