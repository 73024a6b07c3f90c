"""The fast one-way evaluation behind `frontend.matching`: entries as bit masks, conjunct by conjunct.

A job class's test is flattened against the job (`OneWayMatcher`). When nothing of the job is
left in it, its `TARGET.` scope is rewritten to `MY.` (`to_entry_scope`) so it can be evaluated
with the entry as its only ad (several times faster than a MY/TARGET evaluation). A test that is
a conjunction `c1 && c2 && ...` is exactly true when every `(ci) && true` is, so each conjunct is
evaluated on its own, once per distinct value of the entry attributes IT references, and cached
by its text across job classes: `GLIDEIN_MaxMemMBs >= 4000` is evaluated for a handful of memory
sizes, not for every entry and every job class. Results are bit masks over the entries.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from glidein.common import classads
from glidein.common.classads import ClassAd, ExprTree, OneWayMatcher
from glidein.common.errors import ClassAdError
from glidein.frontend.verdicts import Layout, Positions, ValueKey, Verdicts, carried

REQUIREMENTS = "Requirements"
# String literals and quoted names (kept as they are), or a scope keyword with its optional dot.
_SCOPE_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|\b(target|my)\b(\s*\.)?', re.I | re.S)
# `stringListMember(MY.attr, "a,b c")` with plain items: answered from an index of the entries;
# `stringListIMember` the same, case-insensitive (ASCII only, as HTCondor folds case).
_MEMBER = re.compile(r'^stringList(I?)Member\(\s*MY\.([A-Za-z_]\w*)\s*,\s*"([\w.:@/\-, ]*)"\s*\)$', re.I)
# `member(MY.attr, split("a,b c"))`: the same, but member compares with == (case-insensitive).
_ITEMS = r'"([\w.:@/\-, ]*)"'
_MEMBER_SPLIT = re.compile(
    rf"^member\(\s*MY\.([A-Za-z_]\w*)\s*,\s*split\(\s*(?:\(\s*{_ITEMS}\s*\)|{_ITEMS})\s*\)\s*\)$", re.I
)
_PLAIN_STRING = re.compile(r'^"([\w.:@/\-]+)"$')
# What matters to find top-level `&&`: strings, brackets, and the operators that bind looser.
_STRUCT_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|&&|\|\||=\?=|[?:()\[\]{}]', re.S)


# An attribute reference that is not a function name, not after a dot and not before one.
_REF_TOKEN = re.compile(
    r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|(?<![.\w])((?:my\s*\.\s*)?)([A-Za-z_]\w*)\b(?!\s*[(.])',
    re.I | re.S,
)


def inline_job_literals(flat_text: str, job: ClassAd) -> str | None:
    """Job attributes that flattening left in place (e.g. inside a function call) replaced by their
    constant values; None when one of them is not a constant."""
    refs = {name.lower() for name in classads.internal_refs(flat_text, job)}
    if not refs:
        return flat_text
    values: dict[str, str] = {}
    for name in refs:
        text = value_text(job, name)
        if text is None or classads.external_refs(text):
            return None
        values[name] = f"({text})"
    out, pos = [], 0
    for token in _REF_TOKEN.finditer(flat_text):
        name = token.group(2)
        if name is None or name.lower() not in values:
            continue
        out.append(flat_text[pos : token.start()] + values[name.lower()])
        pos = token.end()
    out.append(flat_text[pos:])
    inlined = "".join(out)
    return inlined if not classads.internal_refs(inlined, job) else None


def to_entry_scope(flat_text: str) -> str | None:
    """`TARGET.x` -> `MY.x` outside strings; None when a MY reference or a bare scope remains."""
    out, pos = [], 0
    for token in _SCOPE_TOKEN.finditer(flat_text):
        if token.group(1) is None:
            continue
        if token.group(1).lower() == "my" or token.group(2) is None:
            return None
        out.append(flat_text[pos : token.start()] + "MY.")
        pos = token.end()
    out.append(flat_text[pos:])
    return "".join(out)


def conjuncts(text: str) -> list[str]:
    """The top-level `&&` operands of `text`, or `[text]` when it is not a plain conjunction."""
    depth, cuts = 0, []
    for token in _STRUCT_TOKEN.finditer(text):
        kind = token.group(0)
        if kind in ("(", "[", "{"):
            depth += 1
        elif kind in (")", "]", "}"):
            depth -= 1
        elif depth == 0 and kind in ("||", "?", ":"):
            return [text]
        elif depth == 0 and kind == "&&":
            cuts.append(token.span())
    if not cuts:
        inner = _unwrap(text)
        return [text] if inner is None else conjuncts(inner)
    bounds = [0, *[x for span in cuts for x in span], len(text)]
    pieces = [text[bounds[i] : bounds[i + 1]].strip() for i in range(0, len(bounds), 2)]
    return [part for piece in pieces for part in conjuncts(piece)]


def _unwrap(text: str) -> str | None:
    """The inside of `( ... )` when those two parentheses enclose all of `text`, else None."""
    text = text.strip()
    if not text.startswith("("):
        return None
    depth = 0
    for token in _STRUCT_TOKEN.finditer(text):
        kind = token.group(0)
        if kind in ("(", "[", "{"):
            depth += 1
        elif kind in (")", "]", "}"):
            depth -= 1
            if depth == 0:
                return text[1:-1] if token.end() == len(text) else None
    return None


@functools.lru_cache(maxsize=1 << 16)
def _core(text: str) -> str:
    """`text` without enclosing parentheses and `&& true` operands (what the indexes recognise)."""
    pieces = [p for p in conjuncts(text) if p.strip().lower() != "true"]
    return pieces[0] if len(pieces) == 1 else text


def top_name(ref: str) -> str:
    parts = ref.split(".")
    return parts[1] if parts[0].lower() in ("my", "target") and len(parts) > 1 else parts[0]


def value_text(ad: ClassAd, name: str) -> str | None:
    try:
        return str(ad.lookup(name))
    except KeyError:
        return None


@functools.lru_cache(maxsize=4096)
def _entry_tree(text: str) -> tuple[ExprTree, tuple[str, ...]]:
    tree = classads.parse_expr(text)
    return tree, tuple(sorted({top_name(r) for r in classads.external_refs(tree)}, key=str.lower))


# A conjunct prepared for one job: (flattened text, its entry-scope form or None for the slow path).
Prepared = tuple[str, "str | None"]
PrepareCache = dict[tuple[str, tuple[tuple[str, "str | None"], ...]], Prepared]


def prepare(part: str, job: ClassAd, cache: PrepareCache) -> Prepared:
    """Flatten one conjunct against `job`; cached by the values of the job attributes it reads."""
    refs = classads.internal_refs(part, job)
    key = (part, tuple(sorted((r.lower(), value_text(job, r)) for r in refs)))
    hit = cache.get(key)
    if hit is None:
        flat = OneWayMatcher(part, my=job).flattened
        rewritten = None
        if flat not in ("true", "false"):
            inlined = inline_job_literals(flat, job)
            rewritten = to_entry_scope(inlined) if inlined is not None else None
        hit = cache[key] = (flat, rewritten)
    return hit


class JobTest:
    """The test of one job class: its conjuncts flattened against the job, ready for `EntryIndex`.

    `parts` are the conjuncts of the whole test (split before flattening, so that the split is
    done once per group expression); `whole` is the whole test, for the slow exact path. Job
    classes that agree on what a conjunct reads share its flattening through `cache`.
    """

    def __init__(
        self, parts: Sequence[str], whole: str, job: ClassAd, cache: PrepareCache | None = None
    ) -> None:
        self.job, self.whole, self.key = job, whole, ""
        self.constant: bool | None = None
        # (text, tree, entry attrs, the conjunct itself)
        self.parts: list[tuple[str, ExprTree, tuple[str, ...], str]] = []
        cache = {} if cache is None else cache
        wrap = len(parts) > 1
        prepared = []
        for part in parts:
            flat, rewritten = prepare(f"({part}) && true" if wrap else part, job, cache)
            if flat == "false":
                self.constant = False
                return
            if flat != "true":
                prepared.append(rewritten)
        if not prepared:
            self.constant = True
            return
        for rewritten in prepared:
            if rewritten is None:
                self.parts = []  # the slow, exact path
                return
            text = f"({rewritten}) && true" if len(prepared) > 1 else rewritten
            tree, names = _entry_tree(text)
            self.parts.append((text, tree, names, _core(rewritten)))
        # What the entries are tested with: equal keys, equal answers (the whole-test cache).
        self.key = "\n".join(part[0] for part in self.parts)

    def matches(self, entry: ClassAd) -> bool:
        """The exact (slow) evaluation with MY = the job and TARGET = `entry`."""
        return OneWayMatcher(self.whole, my=self.job).matches(entry)


class EntryIndex:
    """Entries as bit masks; caches per conjunct text and per set of referenced attributes."""

    def __init__(self, entries: Sequence[ClassAd], verdicts: Verdicts | None = None) -> None:
        self.entries = entries
        self.all = (1 << len(entries)) - 1
        self.with_requirements = [i for i, e in enumerate(entries) if REQUIREMENTS in e]
        self.verdicts = verdicts  # answers kept from the last cycle, by entry values
        self._groups: dict[tuple[str, ...], list[tuple[int, ClassAd, ValueKey]]] = {}
        self._keysets: dict[tuple[str, ...], Positions] = {}
        self._layouts: dict[tuple[str, ...], Layout] = {}
        self._parts: dict[str, int] = {}
        self._whole: dict[str, int] = {}
        self._members: dict[tuple[str, bool], tuple[dict[str, int], int]] = {}
        self.evaluations = 0
        self.errors: list[str] = []

    def _grouped(self, names: tuple[str, ...]) -> list[tuple[int, ClassAd, ValueKey]]:
        """(mask, representative entry, values) per distinct value of `names`."""
        groups = self._groups.get(names)
        if groups is None:
            by_value: dict[ValueKey, list[int]] = {}
            keys: Positions = {}
            for index, entry in enumerate(self.entries):
                key = tuple(value_text(entry, n) for n in names)
                if any(text is not None and classads.external_refs(text) for text in key):
                    key = ("#", str(index))  # an expression over other attributes: alone
                else:
                    keys.setdefault(key, len(keys))
                by_value.setdefault(key, []).append(index)
            groups = [(sum(1 << i for i in idx), self.entries[idx[0]], key) for key, idx in by_value.items()]
            self._groups[names] = groups
            if self.verdicts is not None:
                keys = self.verdicts.values(names, keys)
                if len(keys) == len(groups):  # no entry alone: the whole layout can be reused
                    self._layouts[names] = self.verdicts.layout(names, tuple((k, m) for m, _, k in groups))
            self._keysets[names] = keys
        return groups

    def _member_index(self, attr: str, fold: bool) -> tuple[dict[str, int], int]:
        """Entries by plain string value of `attr` (lower-cased with `fold`), and the others' mask."""
        found = self._members.get((attr.lower(), fold))
        if found is None:
            by_value: dict[str, int] = {}
            others = 0
            for index, entry in enumerate(self.entries):
                literal = _PLAIN_STRING.match(value_text(entry, attr) or "")
                if literal and (literal.group(1).isascii() or not fold):
                    value = literal.group(1).lower() if fold else literal.group(1)
                    by_value[value] = by_value.get(value, 0) | (1 << index)
                else:
                    others |= 1 << index
            found = self._members[(attr.lower(), fold)] = (by_value, others)
        return found

    def _indexed(self, piece: str) -> tuple[int, int] | None:
        """(entries where the list-membership test `piece` is true, entries it cannot answer), or
        None when `piece` is not such a test."""
        test = _membership(piece)
        if test is None:
            return None
        attr, items, fold = test
        by_value, others = self._member_index(attr, fold)
        mask = 0
        for item in items:
            mask |= by_value.get(item, 0)
        return mask, others

    def _part_mask(self, part: tuple[str, ExprTree, tuple[str, ...], str], within: int) -> int:
        """Entries (among `within`) where one conjunct is true; cached when every entry was seen."""
        text, tree, names, piece = part
        cached = self._parts.get(text)
        if cached is not None:
            return cached & within
        mask, uncovered = 0, self.all
        indexed = self._indexed(piece)
        if indexed is None and self.verdicts is not None and carried(text):
            mask, complete = self._carried_mask(text, tree, names, within)
            if complete:
                self._parts[text] = mask
            return mask & within
        if indexed is not None:  # plain items: the index answers exactly; others are evaluated below
            mask, uncovered = indexed
            self.evaluations += 1
        todo, complete = uncovered & within, not uncovered & ~within
        for group_mask, entry, _ in self._grouped(names) if todo else ():
            if group_mask & todo:
                self.evaluations += 1
                if classads.holds(tree, entry):
                    mask |= group_mask
        if complete:
            self._parts[text] = mask
        return mask & within

    def _carried_mask(
        self, text: str, tree: ExprTree, names: tuple[str, ...], within: int
    ) -> tuple[int, bool]:
        """(entries where the conjunct holds, whether every entry was decided): answers for entry
        values decided in the last cycle come from `verdicts`; the others are evaluated among
        `within` only (the entries still in question for this job class)."""
        assert self.verdicts is not None
        groups = self._grouped(names)
        layout = self._layouts.get(names)
        whole = self.verdicts.mask(text, layout) if layout is not None else None
        if whole is not None:
            return whole, True
        keyset = self._keysets[names]
        record = self.verdicts.get(text)
        known, skipped, held = record if record is not None else (None, 0, 0)
        mask, holding, left, fresh = 0, 0, 0, record is None
        for group_mask, entry, key in groups:
            pos = keyset.get(key)  # None: an entry alone (its value an expression), evaluated
            old = pos if known is keyset else None if known is None or pos is None else known.get(key)
            if old is not None and not skipped >> old & 1:
                ok = bool(held >> old & 1)
            elif not group_mask & within:
                if pos is not None:
                    left |= 1 << pos
                continue
            else:
                self.evaluations += 1
                ok = classads.holds(tree, entry)
                fresh = fresh or pos is not None
            if ok:
                mask |= group_mask
                if pos is not None:
                    holding |= 1 << pos
        if fresh:
            self.verdicts.put(text, keyset, left, holding)
        if layout is not None and not left:
            self.verdicts.put_mask(text, layout, mask)
        return mask, not left

    def mask(self, test: JobTest) -> int:
        """The entries whose ads pass `test` (entry Requirements not checked here)."""
        if test.constant is not None:
            return self.all if test.constant else 0
        if not test.parts:
            return self._slow_mask(test)
        whole = self._whole.get(test.key)
        if whole is not None:
            return whole
        mask = self.all
        # Cached conjuncts first: they narrow the entries the others are evaluated on.
        for part in sorted(test.parts, key=lambda p: p[0] not in self._parts):
            mask = self._part_mask(part, mask)
            if not mask:
                break
        self._whole[test.key] = mask
        return mask

    def _slow_mask(self, test: JobTest) -> int:
        mask = 0
        matcher = OneWayMatcher(test.whole, my=test.job)
        for index, entry in enumerate(self.entries):
            self.evaluations += 1
            if matcher.matches(entry):
                mask |= 1 << index
        return mask

    def entry_requirements(self, mask: int, job: ClassAd) -> int:
        """Clear the entries whose own Requirements (MY = entry, TARGET = job) are not exactly true."""
        for index in self.with_requirements:
            bit = 1 << index
            if mask & bit:
                entry = self.entries[index]
                self.evaluations += 1
                try:
                    ok = classads.holds(entry.lookup(REQUIREMENTS), entry, job)
                except ClassAdError as exc:
                    self.errors.append(str(exc))
                    ok = False
                if not ok:
                    mask &= ~bit
        return mask


@functools.lru_cache(maxsize=1 << 17)
def _membership(piece: str) -> tuple[str, frozenset[str], bool] | None:
    """(attribute, items, case folded) of a list-membership test the index answers, else None;
    cached by text: the same job classes' tests come back every cycle."""
    member = _MEMBER.match(piece)
    if member:
        fold = bool(member.group(1))
        attr, items = member.group(2), member.group(3).lower() if fold else member.group(3)
    else:
        split = _MEMBER_SPLIT.match(piece)
        if not split:
            return None
        attr, items, fold = split.group(1), (split.group(2) or split.group(3) or "").lower(), True
    if fold and not items.isascii():
        return None  # classad2 folds ASCII letters only: evaluated
    return attr, frozenset(i for i in re.split(r"[, ]+", items) if i), fold


def indices(mask: int) -> list[int]:
    """The set bits of `mask`, lowest first."""
    out = []
    while mask:
        low = mask & -mask
        out.append(low.bit_length() - 1)
        mask ^= low
    return out
