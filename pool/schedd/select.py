"""Which jobs a constraint selects, decided once per autocluster whenever that is exact.

A constraint that references no per-job attribute (see autoclusters.PER_JOB) has the same value
for every job of an autocluster: it is evaluated on the autocluster's ad only, and the jobs of
the other autoclusters are skipped without building their ads.
"""

from __future__ import annotations

from glidein.common import classads
from glidein.common.classad_core import PARSE_ERRORS
from glidein.common.classad_limits import check_text
from glidein.common.classad_text import snippet
from glidein.common.errors import ClassAdError
from glidein.pool.schedd.autoclusters import PER_JOB, AutoClusters, referenced_names


def check_constraint(text: str) -> classads.ExprTree:
    """The parsed constraint, its size bounded before classad2 sees it; ClassAdError otherwise."""
    check_text(text, "constraint")
    return classads.parse_expr(text)


def verdict(expr: classads.ExprTree, ad: classads.ClassAd) -> bool:
    """True when `expr` is true for `ad`; ClassAdError when classad2 fails to evaluate it."""
    try:  # not classads.evaluate, which turns this failure into ERROR: the user should hear of it
        return expr.eval(ad) is True
    except PARSE_ERRORS:
        raise ClassAdError(f"constraint {snippet(str(expr))}: cannot be evaluated") from None


class Selector:
    def __init__(self, constraint: str | None, acs: AutoClusters) -> None:
        text = (constraint or "").strip()
        self.expr = check_constraint(text) if text and text != "true" else None
        self.per_autocluster = self.expr is not None and not (referenced_names(text) & PER_JOB)
        self.acs = acs
        self._verdicts: dict[int, bool] = {}

    @property
    def selects_all(self) -> bool:
        return self.expr is None

    def autocluster_may_match(self, ac_id: int) -> bool:
        if self.expr is None or not self.per_autocluster:
            return True
        known = self._verdicts.get(ac_id)
        if known is None:
            known = self._verdicts[ac_id] = verdict(self.expr, self.acs.by_id[ac_id].ad)
        return known

    def needs_job_ad(self) -> bool:
        """True when the autocluster verdict is not enough and each job's ad must be evaluated."""
        return self.expr is not None and not self.per_autocluster

    def matches(self, ad: classads.ClassAd) -> bool:
        return self.expr is None or verdict(self.expr, ad)
