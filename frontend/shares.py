"""Pure: how a group splits its idle jobs among the entries that match them, weighted by feedback.

glideinWMS gives each of the N entries a job matches 1/N of it (`prop`). Here each entry has a
weight, the group's `rank` expression evaluated with MY = the entry's glidefactory ad (over the
factory's `GLIDEIN_Feedback_*` figures, factory/feedback.py), and a job matched by several entries
is split among them in proportion to their weights:

* a number >= 0 is the weight (a negative one counts as 0);
* undefined, an error or a non-number means "no history": the entry gets a fair share, the mean
  weight of the group's entries that have one (1 when none has: the even split of glideinWMS);
* when every entry a job matches weighs 0, that job is split evenly (nobody is better);
* an entry weighing less than a third (`CUTOFF`) of the group's best entry weighs 0: it gets no
  share of the jobs that better entries also match (jobs only it matches stay its own). A
  proportional share cannot keep a poor site from getting pilots: the frontend asks for at
  least one pilot per cycle from every entry with a share of idle jobs (`frontend.pressure`),
  and a late-binding pilot that starts takes whatever job is idle. The entry's figures leave the
  factory's window once no pilot of it ends there, and it is then new again: tried with a fair
  share, the way a blocked black hole is retried.

The frontend adds one figure of its own to each entry ad it weighs,
``GLIDEIN_Feedback_RelativeThroughput``: the entry's `GLIDEIN_Feedback_JobsPerPilotHour` over the
mean of the group's entries that have one (1 = as the others; jobs per pilot-hour depend on the
group's jobs, so only the comparison means something), kept within [0.1, 10] so that one bad
window never starves an entry. Left out (undefined) where the entry has no jobs per pilot-hour.

The default rank (`DEFAULT_RANK`) weighs an entry by the four figures of its pilots: validation
success, judged once three pilots ended in the factory's window; the share of its jobs that did not
fail; its relative throughput; and short queue waits (1 / (1 + median wait / 300 s)). An entry
with neither a validation rate nor a wait is new:

    ifThenElse(GLIDEIN_Feedback_Pilots >= 3, GLIDEIN_Feedback_ValidationRate,
               ifThenElse(isReal(GLIDEIN_Feedback_QueueWaitMedian), 1.0, undefined))
    * (1.0 - ifThenElse(isReal(GLIDEIN_Feedback_JobFailureRate), GLIDEIN_Feedback_JobFailureRate, 0.0))
    * ifThenElse(isReal(GLIDEIN_Feedback_RelativeThroughput), GLIDEIN_Feedback_RelativeThroughput, 1.0)
    / (1.0 + ifThenElse(isReal(GLIDEIN_Feedback_QueueWaitMedian), GLIDEIN_Feedback_QueueWaitMedian, 0.0)
           / 300.0)

(a rate of 1, no failed job, the group's mean throughput and waits of 5 minutes weigh 0.5; a
validation rate of 0 weighs 0 whatever the rest; a site whose nodes run jobs three times slower
has a third of the throughput of its peers and weighs about a third).
"""

from __future__ import annotations

import copy
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from glidein.common import classads
from glidein.common.classads import ClassAd
from glidein.common.config.frontend import DEFAULT_RANK

__all__ = [
    "DEFAULT_RANK",
    "EVEN_RANK",
    "RELATIVE_THROUGHPUT",
    "EntryWeight",
    "entry_weights",
    "rank_value",
    "split",
    "with_relative_throughput",
]

EVEN_RANK = "undefined"  # every entry "new": glideinWMS's even split
JOBS_PER_HOUR = "GLIDEIN_Feedback_JobsPerPilotHour"
RELATIVE_THROUGHPUT = "GLIDEIN_Feedback_RelativeThroughput"
THROUGHPUT_RANGE = (0.1, 10.0)
CUTOFF = 1.0 / 3.0  # an entry weighing less than this share of the group's best gets weight 0


@dataclass(frozen=True)
class EntryWeight:
    """One entry's weight in the split and why (what `glidein frontend explain` prints)."""

    name: str
    weight: float
    rank: float | None  # the rank's value; None: no history (fair share)
    cut: bool = False  # weighed under CUTOFF of the group's best: no share of the jobs they share

    def text(self) -> str:
        if self.cut:
            return f"0 (rank {self.rank:.3g}: under {CUTOFF:.2g} of the group's best entry)"
        if self.rank is None:
            return f"{self.weight:.3g} (no history: fair share, the mean of the others)"
        return f"{self.weight:.3g} (rank {self.rank:.3g})"


def rank_value(rank: str, entry: ClassAd) -> float | None:
    """The rank of one entry ad: a number, or None when undefined, an error or not a number."""
    value = classads.evaluate(rank, entry)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _jobs_per_hour(ad: ClassAd) -> float | None:
    value = ad.get(JOBS_PER_HOUR)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return float(value)


def with_relative_throughput(entries: Sequence[ClassAd]) -> list[ClassAd]:
    """The entries, those with jobs per pilot-hour copied with RELATIVE_THROUGHPUT added."""
    rates = [_jobs_per_hour(ad) for ad in entries]
    known = [r for r in rates if r is not None]
    mean = statistics.fmean(known) if known else 0.0
    if mean <= 0:
        return list(entries)
    low, high = THROUGHPUT_RANGE
    out = []
    for ad, rate in zip(entries, rates, strict=True):
        if rate is None:
            out.append(ad)
            continue
        own = copy.copy(ad)
        own[RELATIVE_THROUGHPUT] = min(high, max(low, rate / mean))
        out.append(own)
    return out


def entry_weights(rank: str, entries: Sequence[ClassAd], names: Sequence[str]) -> list[EntryWeight]:
    """The weight of each entry (`names[i]` names `entries[i]`); one under CUTOFF of the best is 0."""
    if RELATIVE_THROUGHPUT.lower() in rank.lower():
        entries = with_relative_throughput(entries)
    ranks = [rank_value(rank, ad) for ad in entries]
    known = [max(0.0, r) for r in ranks if r is not None]
    fair = statistics.fmean(known) if known else 1.0
    if fair <= 0:  # every judged entry is failing: newcomers are tried as if all were new
        fair = 1.0
    raw = [fair if r is None else max(0.0, r) for r in ranks]
    floor = CUTOFF * max(raw, default=0.0)
    return [
        EntryWeight(name, 0.0, r, cut=True) if 0 < w < floor else EntryWeight(name, w, r)
        for name, w, r in zip(names, raw, ranks, strict=True)
    ]


def split(weights: Sequence[float]) -> list[float]:
    """Fractions of one job for the entries it matches: in proportion to the weights, summing to 1."""
    total = sum(weights)
    if total <= 0:
        return [1.0 / len(weights)] * len(weights)
    return [w / total for w in weights]
