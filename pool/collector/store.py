"""The ad store: ads keyed by MyType and Name, indexed by both, with expiry.

Keys are case-insensitive (ClassAd `==` on strings is). The MyType index is the outer dict, so a
query for one MyType scans only that bucket; a Name constraint is a dict lookup per bucket.
"""

from __future__ import annotations

from collections.abc import Iterator

from glidein.common import classads
from glidein.pool.collector.ads import Record


class AdStore:
    """All live ads; `now` is always passed in (the server owns the clock)."""

    def __init__(self) -> None:
        self.types: dict[str, dict[str, Record]] = {}

    def __len__(self) -> int:
        return sum(len(bucket) for bucket in self.types.values())

    def put(self, record: Record) -> bool:
        """Store or replace; True when the ad is new."""
        bucket = self.types.setdefault(record.my_type.lower(), {})
        key = record.name.lower()
        is_new = key not in bucket
        bucket[key] = record
        return is_new

    def remove(self, my_type: str, name: str) -> bool:
        bucket = self.types.get(my_type.lower())
        if bucket is None or bucket.pop(name.lower(), None) is None:
            return False
        if not bucket:
            del self.types[my_type.lower()]
        return True

    def expire(self, now: float) -> int:
        """Drop every ad whose lifetime is over; return how many."""
        dropped = 0
        for type_key in list(self.types):
            bucket = self.types[type_key]
            stale = [key for key, record in bucket.items() if record.expires <= now]
            for key in stale:
                del bucket[key]
            dropped += len(stale)
            if not bucket:
                del self.types[type_key]
        return dropped

    def candidates(self, types: set[str] | None, names: set[str] | None) -> list[Record]:
        """Ads that may match: those of `types` (lower-cased; None = all) named in `names`."""
        buckets = (
            list(self.types.values()) if types is None else [self.types[t] for t in types if t in self.types]
        )
        if names is None:
            return [record for bucket in buckets for record in bucket.values()]
        found = (bucket.get(name) for bucket in buckets for name in names)
        return [record for record in found if record is not None]

    def matching(
        self, records: list[Record], constraint: classads.ExprTree, now: float, limit: int | None = None
    ) -> Iterator[Record]:
        """The live records for which `constraint` is true, at most `limit`."""
        count = 0
        for record in records:
            if record.expires > now and classads.is_true(constraint.eval(record.ad)):
                yield record
                count += 1
                if limit is not None and count >= limit:
                    return
