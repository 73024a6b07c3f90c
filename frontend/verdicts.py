"""Conjunct results carried from one cycle to the next, by the entry values they read.

Within a cycle `match_index.EntryIndex` evaluates a conjunct (flattened against a job class, the
entry its only ad) once per distinct value of the entry attributes it references. The same job
classes and the same entry values come back cycle after cycle, so the answer for a (conjunct
text, entry values) pair is kept here: it is what classad2 gave for those very values. An entry
whose values change, or a new value, is evaluated again; nothing else about the entries matters.
When the entries are the very same as last cycle (values, masks and order: the `Layout`), a
conjunct's whole entry mask is reused without looking at each value.

Not carried: conjuncts that may not give the same answer twice (`time()`, `random()`, ... any
text with "time" or "random" in it, or `eval(...)`, whose references are not known), and entries
whose referenced attribute is itself an expression (`match_index` tests those one by one).
Holds what this cycle and the previous one used (`next_cycle`).
"""

from __future__ import annotations

import re

ValueKey = tuple[str | None, ...]  # the unparsed values of the attributes a conjunct reads
Positions = dict[ValueKey, int]  # the entry values of one cycle, each with its bit (shared)
# the entry values of the evaluation (shared between records), as bits: those left out, those
# the conjunct held for (bits, not sets: 50,000 conjuncts x 300 values at global-pool scale)
Record = tuple[Positions, int, int]
Layout = tuple[tuple[ValueKey, int], ...]  # the entries' values and their bit masks, in order
_IMPURE = re.compile(r"time|random|\beval\s*\(", re.I)


def carried(text: str) -> bool:
    """Whether the answers of the conjunct `text` may be kept from one cycle to the next."""
    return _IMPURE.search(text) is None


class Verdicts:
    """Per conjunct text: the entry values it was decided for, and those it held for."""

    def __init__(self) -> None:
        self._now: dict[str, Record] = {}
        self._before: dict[str, Record] = {}
        self._seen: dict[tuple[str, ...], Positions] = {}
        self._layouts: dict[tuple[str, ...], Layout] = {}
        self._masks: dict[str, tuple[Layout, int]] = {}
        self._masks_before: dict[str, tuple[Layout, int]] = {}

    def next_cycle(self) -> None:
        self._before, self._now = self._now, {}
        self._masks_before, self._masks = self._masks, {}

    def layout(self, names: tuple[str, ...], layout: Layout) -> Layout:
        """`layout` as the object of the last cycle when equal (the same entries, values and
        order): a conjunct's whole mask is then reused as it is (`mask`)."""
        seen = self._layouts.get(names)
        if seen is not None and seen == layout:
            return seen
        self._layouts[names] = layout
        return layout

    def mask(self, text: str, layout: Layout) -> int | None:
        """The entries where `text` held, when they were decided for this very `layout`."""
        found = self._masks.get(text) or self._masks_before.get(text)
        if found is None or found[0] is not layout:
            return None
        self._masks[text] = found
        return found[1]

    def put_mask(self, text: str, layout: Layout, mask: int) -> None:
        self._masks[text] = (layout, mask)

    def values(self, names: tuple[str, ...], keys: Positions) -> Positions:
        """`keys` (the entry values of `names` this cycle and their bits), as the object of the
        last cycle when equal: records share it instead of each holding its own."""
        seen = self._seen.get(names)
        if seen is not None and seen == keys:
            return seen
        self._seen[names] = keys
        return keys

    def get(self, text: str) -> Record | None:
        found = self._now.get(text)
        if found is None:
            found = self._before.get(text)
            if found is not None:
                self._now[text] = found
        return found

    def put(self, text: str, values: Positions, skipped: int, held: int) -> None:
        """`text` was decided for `values` but the `skipped` bits (not evaluated), and held for
        the `held` bits."""
        self._now[text] = (values, skipped, held)
