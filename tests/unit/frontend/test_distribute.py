"""numpy's distribute gives, to the last bit, the sums of the per-(group, entry) loop it replaced."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from glidein.frontend.distribute import distribute
from glidein.frontend.glideins import Need
from glidein.frontend.match_index import indices
from glidein.frontend.matching import EntryMatch
from glidein.frontend.shares import split


@dataclass
class Members:
    idle: int
    old: int
    running: int
    idle_cpus: float
    old_cpus: float
    needs: dict[Need, int] = field(default_factory=dict)


def loop(
    groups: list[tuple[int, list[Members]]], weights: list[float], cpus: list[float]
) -> list[EntryMatch]:
    """The loop matching.py ran before issue 17 (one (group, entry) pair at a time)."""
    out = [EntryMatch() for _ in weights]
    for mask, members in groups:
        if not mask:
            continue
        matched = indices(mask)
        shares = split([weights[i] for i in matched])
        idle = sum(m.idle for m in members)
        old = sum(m.old for m in members)
        running = sum(m.running for m in members)
        idle_cpus = sum(m.idle_cpus for m in members)
        old_cpus = sum(m.old_cpus for m in members)
        here = idle if len(matched) == 1 else 0
        needs: dict[Need, int] = {}
        for member in members:
            for need, n in member.needs.items():
                needs[need] = needs.get(need, 0) + n
        for i, share in zip(matched, shares, strict=True):
            counts = out[i]
            counts.count += idle
            counts.prop += idle * share
            counts.hereonly += here
            counts.prop_mc += idle_cpus * share / cpus[i]
            counts.old_count += old
            counts.old_prop_mc += old_cpus * share / cpus[i]
            counts.running += running
            counts.classes += len(members)
            for need, n in needs.items():
                counts.needs[need] = counts.needs.get(need, 0) + n
    return out


NEEDS = [Need(1, 2000), Need(4, 8000), Need(1, 1000, 1), Need(8, 16000)]


@st.composite
def members(draw: st.DrawFn) -> Members:
    idle, old = draw(st.integers(0, 10**6)), draw(st.integers(0, 10**6))
    cpus = draw(st.sampled_from([1.0, 2.0, 4.0, 8.0]))
    needs = draw(st.dictionaries(st.sampled_from(NEEDS), st.integers(1, 10**5), max_size=3))
    return Members(idle, old, draw(st.integers(0, 1000)), idle * cpus, old * cpus, needs)


@settings(max_examples=200, deadline=None)
@given(
    size=st.integers(1, 70),
    data=st.data(),
)
def test_distribute_equals_the_loop(size: int, data: st.DataObject) -> None:
    masks = st.integers(0, (1 << size) - 1)
    groups = data.draw(st.lists(st.tuples(masks, st.lists(members(), min_size=1, max_size=3)), max_size=12))
    weights = data.draw(
        st.lists(st.sampled_from([0.0, 0.1, 0.5, 1.0, 1 / 3, 7.25]), min_size=size, max_size=size)
    )
    cpus = data.draw(st.lists(st.sampled_from([1.0, 4.0, 8.0, 3.0]), min_size=size, max_size=size))
    want = loop(groups, weights, cpus)
    got = [EntryMatch() for _ in range(size)]
    distribute(groups, weights, cpus, got)
    for g, w in zip(got, want, strict=True):
        assert (g.count, g.hereonly, g.old_count, g.running, g.classes) == (
            w.count,
            w.hereonly,
            w.old_count,
            w.running,
            w.classes,
        )
        assert (g.prop, g.prop_mc, g.old_prop_mc) == (w.prop, w.prop_mc, w.old_prop_mc)  # bit for bit
        assert g.needs == w.needs
