"""Free slots the schedd has seen, so that a job's Rank chooses among them (pull dispatch).

Startds pull jobs: the first to ask would get a job even when a slot the job ranks higher is
free too. The schedd remembers the slots that asked and got nothing (free), for `ttl` seconds;
when a slot asks, a job is held back from it while another remembered free slot matches the
job, fits its requests and has a strictly higher Rank for it. That slot gets the job at its next
ask (startds poll every few seconds). A slot is forgotten when it claims a job or after `ttl`
(a startd that went away), so no job waits on a slot that is gone for longer than `ttl`.
Only jobs whose Rank is not a constant pay for the comparison.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from glidein.common import classads
from glidein.common.classad_match import match_with_rank

log = logging.getLogger(__name__)
Fits = Callable[[classads.ClassAd, classads.ClassAd], object]


def ranks_targets(job: classads.ClassAd) -> bool:
    """True when the job has a Rank that can differ between slots (not missing, not a literal)."""
    try:
        tree = job.lookup("Rank")
    except KeyError:
        return False
    return not isinstance(tree, classads.ExprTree) or bool(classads.external_refs(tree, job))


@dataclass
class FreeSlots:
    ttl: float = 15.0
    seen: dict[str, tuple[float, classads.ClassAd]] = field(default_factory=dict)

    def free(self, startd: str, slot: classads.ClassAd, now: float) -> None:
        """`startd` asked and got no job."""
        self.seen[startd] = (now, slot)

    def claimed(self, startd: str) -> None:
        self.seen.pop(startd, None)

    def better_elsewhere(
        self, job: classads.ClassAd, startd: str, here: float, now: float, fits: Fits
    ) -> str | None:
        """The name of a free slot the job ranks above `here` (its Rank of the asking slot), or None."""
        for name, (when, other) in list(self.seen.items()):
            if now - when > self.ttl:
                del self.seen[name]
                continue
            if name == startd:
                continue
            matched, rank = match_with_rank(job, other)
            if matched and rank > here and fits(job, other) is not None:
                return name
        return None

    def hold_back(
        self, job: classads.ClassAd, slot: classads.ClassAd, startd: str, now: float, fits: Fits
    ) -> bool:
        """True when `job` should wait for a free slot it ranks above `slot` (the asking one)."""
        if not self.seen or not ranks_targets(job):
            return False
        better = self.better_elsewhere(job, startd, match_with_rank(job, slot)[1], now, fits)
        if better is not None:
            log.debug("job held back from startd=%s for free startd=%s (higher Rank)", startd, better)
        return better is not None
