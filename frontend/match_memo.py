"""What matching reads of each autocluster ad, remembered from one cycle to the next.

A schedd's autoclusters change little between cycles, and `jobs.AdCache` hands back the same ad
object for an autocluster whose JSON did not change. `MatchMemo` keeps, per such ad (by identity,
the ad itself held so its id cannot be reused), the job attributes its expressions reference, its
job-class key, what one of its idle jobs asks of a slot and its RequestCpus, and per job class the
flattened test (`match_index.JobTest`). At 50,000 autoclusters this is most of a cycle's matching
work (bench/frontend.py). Each answer is what the plain computation gives for that ad: the memo only
skips recomputing it. It holds what this cycle and the previous one used (`next_cycle`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from glidein.common.classads import ClassAd
from glidein.frontend.glideins import Need, job_need
from glidein.frontend.match_index import JobTest, PrepareCache, value_text
from glidein.frontend.verdicts import Verdicts

JobKey = tuple[str | None, ...]
_TestKey = tuple[str, tuple[str, ...], JobKey]  # match expression, key attributes, their values
_PREPARED_MAX = 200_000  # flattened conjuncts kept across cycles before the store starts afresh


@dataclass
class AdFacts:
    """One autocluster ad's values for matching (`refs` per match expression, `keys` per key set)."""

    ad: ClassAd
    need: Need
    cpus: float
    refs: dict[str, frozenset[str]] = field(default_factory=dict)
    keys: dict[tuple[str, ...], JobKey] = field(default_factory=dict)


class MatchMemo:
    def __init__(self, request_cpus: Callable[[ClassAd], float]) -> None:
        self._cpus = request_cpus
        self._now: dict[int, AdFacts] = {}
        self._before: dict[int, AdFacts] = {}
        self._tests: dict[_TestKey, JobTest] = {}
        self._tests_before: dict[_TestKey, JobTest] = {}
        self.prepared: PrepareCache = {}
        self.verdicts = Verdicts()  # conjunct answers by entry values (`verdicts`)
        self.computed = 0  # ads whose facts were computed (not remembered), for the bench and tests

    def next_cycle(self) -> None:
        self._before, self._now = self._now, {}
        self._tests_before, self._tests = self._tests, {}
        self.verdicts.next_cycle()
        if len(self.prepared) > _PREPARED_MAX:
            self.prepared = {}

    def facts(self, ad: ClassAd) -> AdFacts:
        found = self._now.get(id(ad))
        if found is not None and found.ad is ad:
            return found
        found = self._before.pop(id(ad), None)
        if found is None or found.ad is not ad:
            found = AdFacts(ad, job_need(ad), self._cpus(ad))
            self.computed += 1
        self._now[id(ad)] = found
        return found

    def key(self, facts: AdFacts, keys: tuple[str, ...]) -> JobKey:
        key = facts.keys.get(keys)
        if key is None:
            key = facts.keys[keys] = tuple(value_text(facts.ad, name) for name in keys)
        return key

    def refs(
        self, facts: AdFacts, match_expr: str, compute: Callable[[ClassAd], frozenset[str]]
    ) -> frozenset[str]:
        refs = facts.refs.get(match_expr)
        if refs is None:
            refs = facts.refs[match_expr] = compute(facts.ad)
        return refs

    def test(
        self, which: _TestKey, ad: ClassAd, build: Callable[[ClassAd, PrepareCache], JobTest]
    ) -> JobTest:
        """The job class's test: equal key values, equal test (the key attributes are every
        attribute the expressions read of the job)."""
        found = self._tests.get(which) or self._tests_before.get(which)
        if found is None:
            found = build(ad, self.prepared)
        self._tests[which] = found
        return found
