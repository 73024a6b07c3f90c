"""What the collector does for each command, apart from any I/O: update, invalidate, query."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from glidein.common import classads
from glidein.common.errors import ClassAdError
from glidein.pool import cedar
from glidein.pool.collector import planner
from glidein.pool.collector.ads import MAX_LIFETIME, Policy, Prepared, Record, finish, prepare
from glidein.pool.collector.limits import check_expression
from glidein.pool.collector.projection import Projection
from glidein.pool.collector.store import AdStore, ValueFilter

log = logging.getLogger(__name__)
_LIST_SPLIT = re.compile(r"[\s,]+")


@dataclass
class Stats:
    updates: int = 0
    rejected: int = 0
    queries: int = 0
    invalidated: int = 0
    expired: int = 0


@dataclass
class QuerySpec:
    """One table of a query: MyTypes to scan (None = all), constraint, limit, projection."""

    types: set[str] | None
    constraint: classads.ExprTree | None  # None: true
    terms: dict[str, set[str]] = field(default_factory=dict)
    filters: list[ValueFilter] = field(default_factory=list)
    limit: int | None = None
    projection: Projection | None = None


def _exprs(raw_lines: list[bytes]) -> dict[str, str]:
    """Lower-cased name -> old-syntax expression text of a request ad."""
    exprs = {}
    for raw in raw_lines:
        name, expr = cedar.split_line(raw.decode("utf-8", "replace"))
        exprs[name.lower()] = expr
    return exprs


Plan = tuple[classads.ExprTree | None, dict[str, set[str]], list[ValueFilter]]  # None: true


def _value_filters(new: str, terms: dict[str, set[str]]) -> list[ValueFilter]:
    """The `&&` terms of a constraint that reference one plain attribute (not an equality term
    already), each to be evaluated once per distinct value of that attribute."""
    filters = []
    for term in planner.conjuncts(new) or ():
        if "random" in term.lower():
            continue  # a value drawn per ad cannot be drawn once per value
        try:
            refs = classads.external_refs(term)
        except ClassAdError:
            continue
        if len(refs) == 1:
            (ref,) = refs
            if planner.plain_name(ref) and ref.lower() not in terms:
                filters.append(ValueFilter(ref.lower(), classads.parse_expr(term), term.strip()))
    return filters


def _constraint(text: str | None, where: str) -> Plan:
    """The parsed constraint, its index terms and value filters; ClassAdError (naming `where`) if
    it is too big."""
    if text:
        check_expression(text, where)
    new = cedar.old_to_new(text) if text else "true"
    if new.strip().lower() == "true":
        return None, {}, []  # every ad: nothing to evaluate
    terms = planner.index_terms(new)
    return classads.parse_expr(new), terms, _value_filters(new, terms)


def _positive_int(text: str | None) -> int | None:
    value = cedar.literal(text) if text else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _projection(text: str | None) -> Projection | None:
    value = cedar.literal(text) if text else None
    if not isinstance(value, str) or not value.strip():
        return None
    return Projection(name for name in _LIST_SPLIT.split(value.strip()) if name)


class Collector:
    """The command logic over an AdStore; the server hands it decoded messages."""

    def __init__(
        self,
        store: AdStore,
        default_lifetime: float,
        clock: Callable[[], float],
        max_lifetime: float = MAX_LIFETIME,
    ) -> None:
        self.store = store
        self.default_lifetime = default_lifetime
        self.max_lifetime = max_lifetime
        self.policy = Policy(default_lifetime, max_lifetime)
        self.clock = clock
        self.stats = Stats()

    def update(self, command: int, msg: cedar.Message, peer: str) -> Record | None:
        """Store the ad of an UPDATE_* message; a bad ad is logged (one line) and skipped."""
        _, blob = msg.get_ad_blob(alone=True)
        try:
            prepared: Prepared | str = prepare(blob, cedar.command_type(command), self.policy)
        except ClassAdError as exc:
            prepared = str(exc)
        return self.store_prepared(command, prepared, peer)

    def store_prepared(self, command: int, prepared: Prepared | str, peer: str) -> Record | None:
        """Store a prepared update (here or by the ingest helper), or log why it was rejected."""
        try:
            if isinstance(prepared, str):
                raise ClassAdError(prepared)
            record = finish(prepared, self.clock(), self.policy)
        except ClassAdError as exc:
            self.stats.rejected += 1
            log.warning("peer=%s rejected %s: %s", peer, cedar.COMMAND_NAMES.get(command), exc)
            return None
        self.store.put(record)
        self.stats.updates += 1
        log.debug("peer=%s stored %s %s", peer, record.my_type, record.name)
        return record

    def _types(self, command: int, exprs: dict[str, str]) -> set[str] | None:
        target = cedar.literal(exprs.get("targettype", '""'))
        name = cedar.COMMAND_NAMES.get(command, "")
        if name in ("QUERY_ANY_ADS",) or (isinstance(target, str) and target.lower() == "any"):
            return None
        by_target = "GENERIC" in name or name.startswith("QUERY_STARTD") or name == "INVALIDATE_STARTD_ADS"
        if by_target and isinstance(target, str) and target:
            return {target.lower()}
        typed = cedar.command_type(command)
        if typed is None:
            raise ClassAdError(f"{name} without TargetType")
        return {typed.lower()}

    def invalidate(self, command: int, msg: cedar.Message, peer: str) -> int:
        exprs = _exprs(msg.get_ad_raw())
        types = self._types(command, exprs)
        name = cedar.literal(exprs.get("name", '""'))
        if isinstance(name, str) and name and types is not None:
            removed = sum(self.store.remove(t, name) for t in types)
        else:
            if "requirements" not in exprs:
                raise ClassAdError("invalidation without Requirements")
            constraint, terms, filters = _constraint(exprs["requirements"], "Requirements")
            if types is not None and "mytype" in terms:
                types &= terms["mytype"]
            now = self.clock()
            scope = types if types is not None else terms.get("mytype")
            records = self.store.candidates(scope, terms, filters)
            doomed = self._matching(records, constraint, now, None, peer)
            removed = sum(self.store.remove(r.my_type, r.name) for r in doomed)
        self.stats.invalidated += removed
        log.info("peer=%s %s removed=%d", peer, cedar.COMMAND_NAMES.get(command), removed)
        return removed

    def query_specs(self, command: int, msg: cedar.Message) -> list[QuerySpec]:
        exprs = _exprs(msg.get_ad_raw())
        limit = _positive_int(exprs.get("limitresults"))
        projection = _projection(exprs.get("projection"))
        if command in (cedar.COMMANDS["QUERY_MULTIPLE_ADS"], cedar.COMMANDS["QUERY_MULTIPLE_PVT_ADS"]):
            tags = cedar.literal(exprs.get("targettype", '""'))
            specs = []
            for tag in _LIST_SPLIT.split(tags if isinstance(tags, str) else ""):
                if tag:
                    low = tag.lower()
                    text = exprs.get(low + "requirements", exprs.get("requirements"))
                    tag_limit = _positive_int(exprs.get(low + "limitresults")) or limit
                    tag_proj = _projection(exprs.get(low + "projection")) or projection
                    where = tag + "Requirements" if low + "requirements" in exprs else "Requirements"
                    specs.append(self._spec({low}, (text, where), tag_limit, tag_proj))
            return specs
        if command == cedar.COMMANDS["QUERY_STARTD_PVT_ADS"]:
            return []  # private attributes are not kept
        constraint = exprs.get("requirements"), "Requirements"
        return [self._spec(self._types(command, exprs), constraint, limit, projection)]

    def _spec(
        self,
        types: set[str] | None,
        text: tuple[str | None, str],
        limit: int | None,
        projection: Projection | None,
    ) -> QuerySpec:
        """`text`: (constraint text or None, attribute it came from)."""
        constraint, terms, filters = _constraint(*text)
        if "mytype" in terms:
            types = terms["mytype"] if types is None else types & terms["mytype"]
        return QuerySpec(types, constraint, terms, filters, limit, projection)

    def _matching(
        self,
        records: list[Record],
        constraint: classads.ExprTree | None,
        now: float,
        limit: int | None,
        peer: str,
    ) -> list[Record]:
        """store.matching; an ad on which the constraint fails to evaluate does not match (one line)."""
        failed: list[tuple[Record, Exception]] = []
        found = self.store.matching(records, constraint, now, limit, failed)
        if failed:
            record, exc = failed[0]
            log.warning(
                "peer=%s constraint failed to evaluate on %d ads (no match), first %s %s: %s",
                peer, len(failed), record.my_type, record.name, exc,
            )  # fmt: skip
        return found

    def answer(self, specs: list[QuerySpec], peer: str = "?") -> Iterator[bytes]:
        """Encoded answer items (without the final 0) for the query specs."""
        self.stats.queries += 1
        now = self.clock()
        for spec in specs:
            records = self.store.candidates(spec.types, spec.terms, spec.filters)
            for record in self._matching(records, spec.constraint, now, spec.limit, peer):
                yield spec.projection.item(record) if spec.projection else record.item
