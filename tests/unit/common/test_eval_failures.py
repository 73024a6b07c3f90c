"""An expression classad2 parses but cannot evaluate is ERROR (or no match), never an exception.

classad2 refuses to evaluate a chain of some 500 `+` terms ("failed to evaluate expression"), well
inside the size bounds of classad_limits. Such a value came from a hostile schedd ad and killed the
frontend (found by tests/integration/factory/test_ads_fuzz.py); an entry ad or a job could do it too.
"""

from __future__ import annotations

from glidein.common import classads
from glidein.common.classads import ClassAd, ExprTree
from glidein.frontend.matching import JobCluster, match

CHAIN = " + ".join(["1"] * 600)


def test_evaluate_and_eval_attr_give_error() -> None:
    ad = ClassAd()
    ad["X"] = ExprTree(CHAIN)
    assert classads.eval_attr(ad, "X") is classads.ERROR
    assert classads.evaluate(CHAIN) is classads.ERROR
    assert classads.evaluate("1 + 1") == 2


def test_a_failing_requirements_never_matches() -> None:
    job = classads.from_dict({"RequestCpus": 1})
    job["Requirements"] = ExprTree("TARGET.Cpus + " + CHAIN + " > 0")  # cannot be folded away
    slot = classads.from_dict({"Cpus": 1, "Requirements": True})
    assert classads.symmetric_match(job, slot) is False
    assert classads.OneWayMatcher(job).matches(slot) in (True, False)  # flattened first: no exception


def test_frontend_matching_goes_on_past_a_failing_entry() -> None:
    good = classads.from_dict({"GLIDEIN_Site": "A", "GLIDEIN_CPUS": 1})
    bad_site = classads.from_dict({"GLIDEIN_CPUS": 1})
    bad_site["GLIDEIN_Site"] = ExprTree(CHAIN)
    bad_req = classads.from_dict({"GLIDEIN_Site": "A", "GLIDEIN_CPUS": 1})
    bad_req["Requirements"] = ExprTree(CHAIN + " > 0")
    job = classads.from_dict({"RequestCpus": 1, "DESIRED_Sites": "A"})
    result = match(
        "stringListMember(TARGET.GLIDEIN_Site, DESIRED_Sites)",
        [JobCluster(job, idle=4)],
        [good, bad_site, bad_req],
        ["good", "bad_site", "bad_req"],
    )
    assert result.entries["good"].count == 4
    assert result.entries["bad_site"].count == 0 and result.entries["bad_req"].count == 0
