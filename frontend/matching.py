"""Which entries can run which jobs, and how many jobs each entry should count (glideinWMS's countMatch).

A job matches an entry when, with MY = the job and TARGET = the entry's glidefactory ad,
* the group's match expression is exactly true,
* the job's own Requirements is not false (an entry ad describes slots to come, not a slot:
  `TARGET.Memory` is undefined there, so only a definite false rules the entry out), and
* the entry's optional Requirements (MY = entry, TARGET = job) is exactly true.

Jobs arrive as autoclusters (`JobCluster`: a representative ad and its counts). They are grouped
again into job classes by the values of the job attributes the expressions really reference
(`key_attributes`, found with `classads.internal_refs`/`external_refs`, never a hand-kept list),
and each job class is tested once against the entries with the fast one-way path of
`frontend.match_index` (flattened job side, entries as bit masks, conjuncts cached). As with
`classads.OneWayMatcher`, the answer is exact when the operands of `&&`, `||` and `!` are booleans
or undefined; with ill-typed ones (`regexp(...)` of an integer `|| true`) flattening may fold to
true where a plain evaluation gives error.

Counts per entry (as glideinWMS): `count` every idle job that matches; `prop` each job adds 1/N to
each of the N entries it matches (with `weights`, its weighted fraction: `frontend.shares`);
`hereonly` jobs matching only this entry; `prop_mc` the prop share scaled by RequestCpus / the
entry's GLIDEIN_CPUS (glideins' worth of cpus; glideinWMS scales by the average cpus of the
matched jobs, we scale each job); the same for old idle jobs (idle >= 10 minutes); `running`
running jobs that match.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

from glidein.common import classads
from glidein.common.classads import ClassAd
from glidein.frontend.distribute import distribute
from glidein.frontend.glideins import Need
from glidein.frontend.match_index import (
    REQUIREMENTS,
    EntryIndex,
    JobTest,
    PrepareCache,
    conjuncts,
    top_name,
)
from glidein.frontend.match_memo import AdFacts, MatchMemo


@dataclass(frozen=True)
class JobCluster:
    """Jobs that are alike: one representative ad and how many are idle / old idle / running."""

    ad: ClassAd
    idle: int
    running: int = 0
    old_idle: int | None = None  # idle >= 10 minutes; None: not known, taken as `idle`
    schedd: str = ""

    @property
    def old(self) -> int:
        return self.idle if self.old_idle is None else self.old_idle


@dataclass
class EntryMatch:
    """The job counts of one entry for one group."""

    count: int = 0
    prop: float = 0.0
    hereonly: int = 0
    prop_mc: float = 0.0
    old_count: int = 0
    old_prop_mc: float = 0.0
    running: int = 0
    classes: int = 0  # job classes that match
    idle_share: int = 0  # `prop` as a whole number; over the entries they sum to the matched idle jobs
    needs: dict[Need, int] = field(default_factory=dict)  # idle jobs matching, by what they ask of a slot


@dataclass
class MatchResult:
    entries: dict[str, EntryMatch]
    idle: int = 0
    unmatched: int = 0
    running: int = 0  # running jobs of the group (each once, whatever it matches)
    job_classes: int = 0
    evaluations: int = 0
    key_attrs: tuple[str, ...] = ()
    errors: list[str] = field(default_factory=list)


def combined_expr(match_expr: str, job: ClassAd) -> str:
    """The group expression and the job's Requirements (not false) as one expression."""
    try:
        requirements = str(job.lookup(REQUIREMENTS))
    except KeyError:
        return match_expr
    return f"({match_expr}) && (({requirements}) =!= false)"


@functools.lru_cache(maxsize=256)
def _expr_conjuncts(match_expr: str) -> tuple[str, ...]:
    return tuple(conjuncts(match_expr))


def job_test_parts(match_expr: str, job: ClassAd) -> list[str]:
    """The conjuncts of `combined_expr`: the group expression's, then the job's Requirements."""
    parts = list(_expr_conjuncts(match_expr))
    if REQUIREMENTS in job:
        parts.append(f"({job.lookup(REQUIREMENTS)}) =!= false")
    return parts


def request_cpus(job: ClassAd) -> float:
    value = classads.eval_attr(job, "RequestCpus")
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 1:
        return 1.0
    return float(value)


def glidein_cpus(entry: ClassAd) -> float:
    """Cpus of one glidein of the entry: GLIDEIN_CPUS (auto/node/slot or <= 0: GLIDEIN_ESTIMATED_CPUS,
    else 1) times GLIDEIN_NODES, as glideinWMS's getGlideinCpusNum/getGlideinNodesNum."""
    cpus = _int_attr(entry, "GLIDEIN_CPUS", 1)
    if cpus is None or cpus <= 0:
        cpus = _int_attr(entry, "GLIDEIN_ESTIMATED_CPUS", 1) or 1
    nodes = _int_attr(entry, "GLIDEIN_NODES", 1) or 1
    return float(max(cpus, 1) * max(nodes, 1))


def _int_attr(ad: ClassAd, name: str, default: int) -> int | None:
    value = classads.eval_attr(ad, name)
    if value is classads.UNDEFINED:
        return default
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def key_attributes(
    match_expr: str, clusters: Sequence[JobCluster], entries: Sequence[ClassAd], memo: MatchMemo | None = None
) -> list[str]:
    """Job attributes any expression references: the match expression and each job's Requirements
    (through other attributes too), and what entries' Requirements ask of the job."""
    memo = memo or new_memo()
    names: set[str] = {REQUIREMENTS}

    def refs(ad: ClassAd) -> frozenset[str]:
        return frozenset(classads.internal_refs(combined_expr(match_expr, ad), ad))

    for cluster in clusters:
        names |= memo.refs(memo.facts(cluster.ad), match_expr, refs)
    for entry in entries:
        if REQUIREMENTS in entry:
            found = classads.external_refs(entry.lookup(REQUIREMENTS), entry)
            names |= {top_name(r) for r in found}
    return sorted(names, key=str.lower)


def new_memo() -> MatchMemo:
    """A memo for one cycle's matching (the daemon keeps one across cycles)."""
    return MatchMemo(request_cpus)


class _JobClass:
    """Clusters alike in every referenced attribute: one test, summed counts."""

    def __init__(self, test: JobTest, ad: ClassAd) -> None:
        self.ad, self.test = ad, test
        self.idle = self.old = self.running = 0
        self.idle_cpus = self.old_cpus = 0.0
        # What the idle jobs ask of a slot, from each autocluster's own ad: the class is keyed by
        # what the expressions reference, which need not include RequestMemory or RequestCpus.
        self.needs: dict[Need, int] = {}

    def add(self, cluster: JobCluster, facts: AdFacts) -> None:
        cpus = facts.cpus
        if cluster.idle > 0:
            self.needs[facts.need] = self.needs.get(facts.need, 0) + cluster.idle
        self.idle += cluster.idle
        self.old += cluster.old
        self.running += cluster.running
        self.idle_cpus += cluster.idle * cpus
        self.old_cpus += cluster.old * cpus


def _job_classes(
    match_expr: str, clusters: Sequence[JobCluster], keys: Sequence[str], memo: MatchMemo
) -> list[_JobClass]:
    classes: dict[tuple[str | None, ...], _JobClass] = {}
    names = tuple(keys)

    def build(ad: ClassAd, cache: PrepareCache) -> JobTest:
        return JobTest(job_test_parts(match_expr, ad), combined_expr(match_expr, ad), ad, cache)

    for cluster in clusters:
        facts = memo.facts(cluster.ad)
        key = memo.key(facts, names)
        job_class = classes.get(key)
        if job_class is None:
            test = memo.test((match_expr, names, key), cluster.ad, build)
            job_class = classes[key] = _JobClass(test, cluster.ad)
        job_class.add(cluster, facts)
    return list(classes.values())


def match(
    match_expr: str,
    clusters: Sequence[JobCluster],
    entries: Sequence[ClassAd],
    names: Sequence[str],
    weights: Sequence[float] | None = None,
    *,
    memo: MatchMemo | None = None,
) -> MatchResult:
    """Counts per entry name (`names[i]` names `entries[i]`) for one group's idle/running jobs;
    `weights[i]` weighs entry i in the prop split (`frontend.shares`; None: even, as glideinWMS).
    `memo` carries what was read of the same autocluster ads in the last cycle (`match_memo`)."""
    memo = memo or new_memo()
    keys = key_attributes(match_expr, clusters, entries, memo)
    job_classes = _job_classes(match_expr, clusters, keys, memo)
    index = EntryIndex(entries, memo.verdicts)
    result = MatchResult({name: EntryMatch() for name in names}, key_attrs=tuple(keys))
    result.job_classes = len(job_classes)
    by_mask: dict[int, list[_JobClass]] = {}
    for job_class in job_classes:
        result.idle += job_class.idle
        result.running += job_class.running
        mask = index.entry_requirements(index.mask(job_class.test), job_class.ad)
        if not mask:
            result.unmatched += job_class.idle
        by_mask.setdefault(mask, []).append(job_class)
    result.evaluations, result.errors = index.evaluations, index.errors
    cpus = [glidein_cpus(entry) for entry in entries]
    weight = list(weights) if weights is not None else [1.0] * len(entries)
    distribute(list(by_mask.items()), weight, cpus, [result.entries[name] for name in names])
    _apportion(list(result.entries.values()), result.idle - result.unmatched)
    return result


def _apportion(counts: list[EntryMatch], total: int) -> None:
    """Whole-number idle shares (largest remainder): each is `prop` rounded down or up, and they sum
    to `total`, so per-entry figures add up to the group's without counting a job twice."""
    floors = [int(c.prop + 1e-9) for c in counts]
    left = total - sum(floors)
    order = sorted(range(len(counts)), key=lambda i: floors[i] - counts[i].prop)
    for rank, i in enumerate(order):
        counts[i].idle_share = floors[i] + (1 if rank < left else 0)
