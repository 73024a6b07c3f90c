"""Job counts per entry from the job classes' entry masks, with numpy (issue 17).

Job classes that match the same entries (one bit mask) are summed first; each such group adds its
counts to every entry it matches, split by the entries' weights (`frontend.shares.split`). With
50,000 autoclusters x 5,000 entries there are tens of thousands of groups of about forty entries
each: one Python loop per (group, entry) pair took most of the matching step. Here the pairs are
arrays and each figure one `numpy.bincount`, which adds in the pairs' order, group after group:
the sums are the very ones the loop made, to the last bit (tests/unit/frontend/test_distribute.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from glidein.frontend.glideins import Need

Floats = npt.NDArray[np.float64]


class Counts(Protocol):
    """What `distribute` reads of a job class (`matching._JobClass`)."""

    idle: int
    old: int
    running: int
    idle_cpus: float
    old_cpus: float
    needs: dict[Need, int]


class EntryTotals(Protocol):
    """What `distribute` adds to, per entry (`matching.EntryMatch`)."""

    count: int
    prop: float
    hereonly: int
    prop_mc: float
    old_count: int
    old_prop_mc: float
    running: int
    classes: int
    needs: dict[Need, int]


def _bits(mask: int, size: int) -> npt.NDArray[np.intp]:
    """The set bits of `mask` (entry indices), lowest first."""
    raw = np.frombuffer(mask.to_bytes(size, "little"), dtype=np.uint8)
    return np.flatnonzero(np.unpackbits(raw, bitorder="little"))


def distribute(
    groups: Sequence[tuple[int, Sequence[Counts]]],
    weights: Sequence[float],
    cpus: Sequence[float],
    totals: Sequence[EntryTotals],
) -> None:
    """Add each (mask, job classes) group's counts to `totals[i]` for every entry i of the mask."""
    groups = [(mask, members) for mask, members in groups if mask]
    if not groups:
        return
    size = (len(totals) + 7) // 8
    matched = [_bits(mask, size) for mask, _ in groups]
    entry = np.concatenate(matched)
    group = np.repeat(np.arange(len(groups)), [len(m) for m in matched])
    w, c = np.asarray(weights, dtype=np.float64), np.asarray(cpus, dtype=np.float64)
    fields = ("idle", "old", "running", "idle_cpus", "old_cpus")
    per: dict[str, Floats] = {
        f: np.array([sum(getattr(m, f) for m in members) for _, members in groups], dtype=np.float64)
        for f in fields
    }
    width = np.bincount(group)
    total_w = np.bincount(group, weights=w[entry])
    share = np.where(
        total_w[group] > 0, w[entry] / np.where(total_w > 0, total_w, 1.0)[group], 1.0 / width[group]
    )
    here = np.where(width == 1, per["idle"], 0.0)
    classes = np.array([len(members) for _, members in groups], dtype=np.float64)
    n = len(totals)

    def add(values: Floats) -> list[float]:
        result: list[float] = np.bincount(entry, weights=values, minlength=n).tolist()
        return result

    sums = {
        "count": add(per["idle"][group]),
        "prop": add(per["idle"][group] * share),
        "hereonly": add(here[group]),
        "prop_mc": add(per["idle_cpus"][group] * share / c[entry]),
        "old_count": add(per["old"][group]),
        "old_prop_mc": add(per["old_cpus"][group] * share / c[entry]),
        "running": add(per["running"][group]),
        "classes": add(classes[group]),
    }
    for i, counts in enumerate(totals):
        counts.count += int(sums["count"][i])
        counts.prop += sums["prop"][i]
        counts.hereonly += int(sums["hereonly"][i])
        counts.prop_mc += sums["prop_mc"][i]
        counts.old_count += int(sums["old_count"][i])
        counts.old_prop_mc += sums["old_prop_mc"][i]
        counts.running += int(sums["running"][i])
        counts.classes += int(sums["classes"][i])
    _needs(groups, entry, group, totals)


def _needs(
    groups: Sequence[tuple[int, Sequence[Counts]]],
    entry: npt.NDArray[np.intp],
    group: npt.NDArray[np.intp],
    totals: Sequence[EntryTotals],
) -> None:
    """Each entry's idle jobs by what they ask of a slot: one bincount per distinct need."""
    ids: dict[Need, int] = {}
    rows: list[tuple[int, int, int]] = []
    for g, (_, members) in enumerate(groups):
        for member in members:
            for need, count in member.needs.items():
                rows.append((g, ids.setdefault(need, len(ids)), count))
    if not rows:
        return
    table = np.zeros((len(groups), len(ids)), dtype=np.float64)
    for g, k, count in rows:
        table[g, k] += count
    n = len(totals)
    by_need = [np.bincount(entry, weights=table[group, k], minlength=n) for k in range(len(ids))]
    matrix = np.stack(by_need, axis=1)
    needs = list(ids)
    for i in np.flatnonzero(matrix.any(axis=1)).tolist():
        own = totals[i].needs
        row = matrix[i]
        for k in np.flatnonzero(row).tolist():
            own[needs[k]] = own.get(needs[k], 0) + int(row[k])
