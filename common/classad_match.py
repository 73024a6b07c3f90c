"""Matchmaking over ClassAds: two-way match, Rank, a fast one-way matcher, attribute references.

Import these names from `glidein.common.classads` (which re-exports them); this module only
exists to keep that one small.

Semantics, as HTCondor's negotiator: `a` and `b` match when `a.Requirements` evaluated with
MY = a, TARGET = b is exactly true and vice versa; a missing Requirements never matches.
classad2's `symmetricMatch` never evaluates Rank, and treats 1 as true: we do neither.
"""

import re

from glidein.common.classad_core import (
    PARSE_ERRORS,
    ClassAd,
    ExprTree,
    cached_expr,
    eval_attr,
    holds,
)

REQUIREMENTS = "Requirements"
RANK = "Rank"


def _requirements_hold(ad: ClassAd, target: ClassAd) -> bool:
    try:
        tree = ad.lookup(REQUIREMENTS)
    except KeyError:
        return False
    return holds(tree, ad, target)


def symmetric_match(a: ClassAd, b: ClassAd) -> bool:
    """Both Requirements are exactly true, each evaluated with the other ad as TARGET."""
    return _requirements_hold(a, b) and _requirements_hold(b, a)


def rank(ad: ClassAd, target: ClassAd) -> float:
    """`ad.Rank` evaluated against `target` as a float (true -> 1.0; missing/undefined/error/
    non-numeric -> 0.0), the way HTCondor ranks candidates."""
    value = eval_attr(ad, RANK, target)
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    return 0.0


def match_with_rank(job: ClassAd, slot: ClassAd) -> tuple[bool, float]:
    """(two-way match, job's Rank of the slot); the rank is 0.0 when they do not match."""
    if not symmetric_match(job, slot):
        return False, 0.0
    return True, rank(job, slot)


_ERROR_WORD = re.compile(r"\berror\b", re.I)


def _flatten(my: ClassAd, expr: ExprTree) -> ExprTree | bool:
    """`expr` partially evaluated against `my`, or `expr` itself where flattening is not exact.

    classad2's flatten folds a fully known `true || "x"` to error (evaluation short-circuits to
    true) and fails on circular references; in those cases the unflattened expression is kept.
    """
    try:
        flat = my.flatten(expr)
    except PARSE_ERRORS:
        return expr
    if isinstance(flat, bool):
        return flat
    if isinstance(flat, ExprTree) and not (
        _ERROR_WORD.search(str(flat)) and not _ERROR_WORD.search(str(expr))
    ):
        return flat
    return expr


class OneWayMatcher:
    """Tests one expression (by default a job's Requirements) against many targets, fast.

    The expression is flattened once against its own ad (every attribute of the job side is
    substituted, job-only clauses folded away), so each `.matches(target)` evaluates only what
    depends on the target. `OneWayMatcher(job_ad)` uses `job_ad.Requirements`;
    `OneWayMatcher("expr", my=ad)` uses an expression text or ExprTree with `ad` (default: an
    empty ad) as MY. The answer equals plain evaluation whenever the operands of `&&`, `||`
    and `!` are booleans or undefined (true of any sane Requirements; a property test checks
    it); with ill-typed operands (`TARGET.Name || true`) flattening may fold to true/false
    where plain evaluation gives error. Pass `exact=True` to skip flattening.
    """

    def __init__(
        self,
        job: ClassAd | ExprTree | str,
        my: ClassAd | None = None,
        attr: str = REQUIREMENTS,
        exact: bool = False,
    ) -> None:
        if isinstance(job, ClassAd):
            self._my: ClassAd = job
            try:
                expr: ExprTree | None = job.lookup(attr)
            except KeyError:
                expr = None
        else:
            self._my = my if my is not None else ClassAd()
            expr = cached_expr(job) if isinstance(job, str) else job
        flat: ExprTree | bool = False
        if expr is not None:
            flat = expr if exact else _flatten(self._my, expr)
        self._expr: ExprTree | None = None if isinstance(flat, bool) else flat
        self._constant = flat is True

    @property
    def my(self) -> ClassAd:
        """The ad on the job side (MY)."""
        return self._my

    @property
    def flattened(self) -> str:
        """The flattened expression text (what each target is tested with)."""
        if self._expr is None:
            return "true" if self._constant else "false"
        return str(self._expr)

    def matches(self, target: ClassAd) -> bool:
        """The expression is exactly true with MY = the job side and TARGET = `target`."""
        if self._expr is None:
            return self._constant
        return holds(self._expr, self._my, target)

    def matches_both(self, target: ClassAd) -> bool:
        """`matches(target)` and `target.Requirements` holds against the job side: the same
        answer as `symmetric_match(job, target)`."""
        return self.matches(target) and _requirements_hold(target, self._my)


def _refs(names: list[str]) -> set[str]:
    return {name for name in names if name}


def external_refs(expr: str | ExprTree, scope_ad: ClassAd | None = None) -> set[str]:
    """Attribute references in `expr` that `scope_ad` (default: none) does not define, as
    written: `TARGET.Memory`, `Cpus`, `a.b`."""
    tree = cached_expr(expr) if isinstance(expr, str) else expr
    scope = scope_ad if scope_ad is not None else ClassAd()
    return _refs(scope.externalRefs(tree))


def internal_refs(expr: str | ExprTree, scope_ad: ClassAd) -> set[str]:
    """Attributes of `scope_ad` that `expr` references (directly or through other attributes)."""
    tree = cached_expr(expr) if isinstance(expr, str) else expr
    return _refs(scope_ad.internalRefs(tree))
