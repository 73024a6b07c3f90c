"""The ad store: ads keyed by MyType and Name, indexed by both, with expiry and attribute indexes.

Keys are case-insensitive (ClassAd `==` on strings is). The MyType index is the outer dict, so a
query for one MyType scans only that bucket; a Name constraint is a dict lookup per bucket.
When a query pins another attribute to a string (`GLIDEIN_Site == "X"`) in a large store, the
store builds an index of that attribute on first use and keeps it up to date: ads whose value
is a plain string literal are filed under it, ads where it is any other expression are always
candidates, ads without it cannot match. The query still evaluates its whole constraint on
every candidate, so an index only ever narrows the scan.

An index is also a table of the distinct values of its attribute: a conjunct of a constraint that
references only that attribute (`stringListMember(GLIDEIN_Site, "A,B")`, `regexp(...)`) is
evaluated once per distinct value instead of once per ad (`ValueFilter`), and only the ads
whose value can pass are scanned. An index whose attribute is mostly not a plain string (`Cpus`)
narrows nothing: it is dropped and not built again.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from glidein.common import classads
from glidein.pool.collector.ads import Record

log = logging.getLogger(__name__)
Key = tuple[str, str]
INDEX_MIN_ADS = 1000  # smaller stores are scanned, not indexed
MAX_INDEXES = 16
_PLAIN = re.compile(rb'"([^"\\\0]*)"[ \t]*\Z')
MAX_VALUES_SHARE = 8  # a value filter pays when the ads outnumber the distinct values this much
MAX_CACHED_FILTERS = 64  # value filters whose passing values are remembered (then forgotten at once)


@dataclass(frozen=True)
class ValueFilter:
    """One `&&` term of a constraint that references only `attr` (lower-cased); `text`, its
    text, names it in the store's cache of which values pass (none for a term that calls
    `time()`, whose answer changes)."""

    attr: str
    term: classads.ExprTree
    text: str = ""

    @property
    def cacheable(self) -> bool:
        return bool(self.text) and "time" not in self.text.lower()

    def passes(self, value: str | None) -> bool:
        """Whether an ad whose `attr` is the string `value` (None: absent) can satisfy the whole
        constraint: unless the term is false, undefined or error there (`&&` is then not true)."""
        ad = classads.ClassAd() if value is None else classads.ClassAd({self.attr: value})
        result = classads.evaluate(self.term, ad)
        return not (result is False or result is classads.UNDEFINED or result is classads.ERROR)


class AttrIndex:
    """Records by the lower-cased plain string value of one attribute."""

    def __init__(self, attr: str) -> None:
        name = re.escape(attr.encode())
        self.pattern = re.compile(rb"\0[ \t]*(" + name + rb")[ \t]*=[ \t]*([^\0]*)", re.I)
        self.lower_name = attr.lower().encode()
        self.probe = b"\0" + attr.encode() + b" = "  # the spelling ads use, learnt from the first one
        self.values: dict[str, dict[Key, Record]] = {}  # exact string value -> records
        self.spellings: dict[str, set[str]] = {}  # lower-cased value -> exact values filed
        self.other: dict[Key, Record] = {}
        self.filed: dict[Key, str | None] = {}  # key -> its value bucket (None: in `other`)

    def _expr(self, blob: bytes) -> bytes | None:
        """The attribute's expression text in an ad's wire lines, None if it has none."""
        start = blob.rfind(self.probe)
        if start >= 0:
            start += len(self.probe)
        elif blob.startswith(self.probe[1:]):
            start = len(self.probe) - 1
        elif self.lower_name in blob.lower():  # another spelling or spacing
            found = self.pattern.findall(b"\0" + blob)
            if not found:
                return None
            self.probe = b"\0" + found[-1][0] + b" = "
            return bytes(found[-1][1])
        else:
            return None
        return blob[start : blob.find(b"\0", start)]

    def add(self, key: Key, record: Record) -> None:
        expr = self._expr(record.blob)
        if expr is None:
            return  # no such attribute: `attr == "x"` cannot be true
        plain = _PLAIN.match(expr)
        if plain:
            value = plain.group(1).decode("utf-8", "replace")
            self.values.setdefault(value, {})[key] = record
            self.spellings.setdefault(value.lower(), set()).add(value)
            self.filed[key] = value
        else:
            self.other[key] = record
            self.filed[key] = None

    def discard(self, key: Key) -> None:
        if key not in self.filed:
            return
        value = self.filed.pop(key)
        if value is None:
            del self.other[key]
            return
        bucket = self.values[value]
        del bucket[key]
        if not bucket:
            del self.values[value]
            spellings = self.spellings[value.lower()]
            spellings.discard(value)
            if not spellings:
                del self.spellings[value.lower()]

    def exact(self, values: set[str]) -> list[str]:
        """The filed values equal to one of `values` (lower-cased) ignoring case, as ClassAd `==`."""
        return [spelling for value in values for spelling in self.spellings.get(value, ())]

    def candidates(self, exact: Sequence[str]) -> list[Record]:
        found = [r for value in exact for r in self.values[value].values()]
        return found + list(self.other.values())

    def size(self, exact: Sequence[str]) -> int:
        return sum(len(self.values[value]) for value in exact) + len(self.other)

    def mostly_other(self) -> bool:
        return len(self.other) > len(self.filed) // 2


class AdStore:
    """All live ads; `now` is always passed in (the server owns the clock)."""

    def __init__(self, index_min_ads: int = INDEX_MIN_ADS, values_share: int = MAX_VALUES_SHARE) -> None:
        self.types: dict[str, dict[str, Record]] = {}
        self.indexes: dict[str, AttrIndex] = {}
        self.unindexed: set[str] = set()  # attributes whose index would not narrow
        self.count = 0
        self.index_min_ads = index_min_ads
        self.values_share = values_share
        self.passing: dict[tuple[str, str], dict[str, bool]] = {}  # (attr, term text) -> value -> passes

    def __len__(self) -> int:
        return self.count

    def put(self, record: Record) -> bool:
        """Store or replace; True when the ad is new."""
        key = (record.my_type.lower(), record.name.lower())
        bucket = self.types.setdefault(key[0], {})
        old = bucket.get(key[1])
        if old is not None:
            self._unindex(key)
        else:
            self.count += 1
        bucket[key[1]] = record
        for index in self.indexes.values():
            index.add(key, record)
        return old is None

    def _unindex(self, key: Key) -> None:
        for index in self.indexes.values():
            index.discard(key)

    def remove(self, my_type: str, name: str) -> bool:
        key = (my_type.lower(), name.lower())
        bucket = self.types.get(key[0])
        record = bucket.pop(key[1], None) if bucket is not None else None
        if record is None:
            return False
        self.count -= 1
        self._unindex(key)
        if not bucket:
            del self.types[key[0]]
        return True

    def expire(self, now: float) -> int:
        """Drop every ad whose lifetime is over; return how many."""
        stale = [r for bucket in self.types.values() for r in bucket.values() if r.expires <= now]
        for record in stale:
            self.remove(record.my_type, record.name)
        return len(stale)

    def _index(self, attr: str) -> AttrIndex | None:
        """The index of `attr`, built on first use in a large store; None when it would not narrow."""
        index = self.indexes.get(attr)
        if index is not None or attr in self.unindexed:
            return index
        if self.count < self.index_min_ads or len(self.indexes) >= MAX_INDEXES:
            return None
        index = AttrIndex(attr)
        for type_key, bucket in self.types.items():
            for name_key, record in bucket.items():
                index.add((type_key, name_key), record)
        if index.mostly_other():
            self.unindexed.add(attr)
            log.info("attribute %s is mostly not a string over %d ads: not indexed", attr, self.count)
            return None
        self.indexes[attr] = index
        log.info("indexed attribute %s over %d ads", attr, self.count)
        return index

    def _filtered(self, value_filter: ValueFilter, scan: int) -> tuple[int, AttrIndex, list[str]] | None:
        """(candidates, index, values) of the values of its index that can pass `value_filter`;
        None when it cannot narrow (no index, too many values, or ads without it can pass)."""
        index = self._index(value_filter.attr)
        if index is None or len(index.values) * self.values_share > scan or value_filter.passes(None):
            return None
        exact = self._passing_values(value_filter, index)
        return index.size(exact), index, exact

    def _passing_values(self, value_filter: ValueFilter, index: AttrIndex) -> list[str]:
        """The values of `index` that can pass `value_filter`, each evaluated once per filter
        text (a term's answer for a value does not change unless it calls time())."""
        if not value_filter.cacheable:
            return [value for value in index.values if value_filter.passes(value)]
        key = (value_filter.attr, value_filter.text)
        known = self.passing.get(key)
        if known is not None and len(known) > 2 * len(index.values) + 1000:
            known = None  # values long gone: start again
        if known is None:
            if len(self.passing) >= MAX_CACHED_FILTERS:
                self.passing.clear()
            known = self.passing[key] = {}
        exact = []
        for value in index.values:
            passes = known.get(value)
            if passes is None:
                passes = known[value] = value_filter.passes(value)
            if passes:
                exact.append(value)
        return exact

    def candidates(
        self, types: set[str] | None, terms: dict[str, set[str]], filters: Sequence[ValueFilter] = ()
    ) -> list[Record]:
        """Ads that may match: of `types` (lower-cased; None = all) and, per the equality `terms`
        {lower attr: lower values} and the one-attribute `filters` of the constraint, through the
        most selective index."""
        names = terms.get("name")
        buckets = (
            list(self.types.values()) if types is None else [self.types[t] for t in types if t in self.types]
        )
        if names is not None:
            return [r for r in (b.get(n) for b in buckets for n in names) if r is not None]
        scan = sum(len(bucket) for bucket in buckets)
        best: tuple[int, AttrIndex, list[str]] | None = None
        for attr, values in terms.items():
            index = None if attr == "mytype" else self._index(attr)
            if index is not None:
                exact = index.exact(values)
                if best is None or index.size(exact) < best[0]:
                    best = (index.size(exact), index, exact)
        for value_filter in filters:
            if best is not None and best[0] * self.values_share < scan:
                break  # narrow enough already
            found = self._filtered(value_filter, scan)
            if found is not None and (best is None or found[0] < best[0]):
                best = found
        if best is None or best[0] >= scan:
            return [record for bucket in buckets for record in bucket.values()]
        found_records = best[1].candidates(best[2])
        return found_records if types is None else [r for r in found_records if r.my_type.lower() in types]

    def matching(
        self,
        records: list[Record],
        constraint: classads.ExprTree | None,
        now: float,
        limit: int | None = None,
        failed: list[tuple[Record, Exception]] | None = None,
    ) -> list[Record]:
        """The live records for which `constraint` is true (None: true), at most `limit`. A record on which
        the evaluation raises (classad2 refuses deep expressions, `random(0)`) does not match;
        it is appended to `failed` with the exception."""
        if constraint is None:  # true: every live record
            live = [record for record in records if record.expires > now]
            return live if limit is None else live[:limit]
        evaluate = constraint.eval
        found: list[Record] = []
        for record in records:
            if record.expires <= now:
                continue
            try:
                matched = evaluate(record.ad) is True
            except Exception as exc:  # classad2 raises its own exception types
                if failed is not None:
                    failed.append((record, exc))
                continue
            if matched:
                found.append(record)
                if limit is not None and len(found) >= limit:
                    break
        return found
