"""glideinWMS match_expr (Python) -> ClassAd: the same matches as glideinWMS over jobs x entries.

The reference is glideinWMS's own rule, reproduced here in the test only: `eval` of the Python text
with `glidein = {"attrs": <entry attributes>}` and `job = <job attributes>`; a match is a result
`== True`; any exception (KeyError for a missing attribute) is no match (glideinFrontendLib.countMatch).
"""

from __future__ import annotations

import pytest

from glidein.common import classads
from glidein.common.config.xml_match_expr import MatchExprRefused, combine, translate
from tests.unit.config.gwms_match import ENTRIES, JOBS, glideinwms_matches, glideinwms_pairs, our_matches

A = 'glidein["attrs"]'
EXPRESSIONS = [
    "True",
    f'{A}["GLIDEIN_Site"] in job["DESIRED_Sites"].split(",")',
    f'{A}.get("GLIDEIN_Site") in job.get("DESIRED_Sites", "").split(",")',
    f'{A}["GLIDEIN_Site"] not in job["DESIRED_Sites"].split(",")',
    f'not ({A}["GLIDEIN_Site"] in job["DESIRED_Sites"].split(","))',
    f'{A}["GLIDEIN_Site"] in job.get("DESIRED_Sites", "Site_A").split()',
    f'{A}["GLIDEIN_CPUS"] >= job["RequestCpus"]',
    f'{A}.get("GLIDEIN_CPUS", 1) >= job.get("RequestCpus", 1)',
    f'int({A}["GLIDEIN_MaxMemMBs"]) >= job["RequestMemory"] and {A}["GLIDEIN_CPUS"] >= job["RequestCpus"]',
    f'{A}.get("GLIDEIN_Max_Walltime", 0) > job.get("MaxWallTimeMins", 0) * 60 + 300',
    f'job["x509UserProxyVOName"] in {A}["GLIDEIN_Supported_VOs"].split(",") or {A}["GLIDEIN_CPUS"] == 4',
    f'{A}["GLIDEIN_CPUS"] == 4 or job["x509UserProxyVOName"] in {A}["GLIDEIN_Supported_VOs"].split(",")',
    f'not ({A}["GLIDEIN_Site"] == "Site_A" or job["Kind"] in [2, 3])',
    f'not ({A}.get("GLIDEIN_Site") == "Site_A" and job.get("Kind") != 7)',
    f'{A}["GLIDEIN_Site"] != "Site_B" and job["DESIRED_Sites"] != ""',
    f'{A}.get("GLIDEIN_Site") in ["Site_A", "Site C"] and not job.get("Kind") in [7]',
    f'{A}.get("GLIDEIN_Is_Test", False) == True or float(job.get("RequestCpus", 1)) <= 1.5',
    f'job.get("Kind") == {A}.get("GLIDEIN_CPUS") or -job.get("RequestCpus", 0) < -4',
    f'not (not ({A}["GLIDEIN_Site"] in job["DESIRED_Sites"].split(",")) or job["RequestCpus"] > 4)',
    f'({A}["GLIDEIN_Site"] == "Site_A" and job["Kind"] == 2) or ({A}["GLIDEIN_Site"] == "Site_B" and True)',
]


@pytest.mark.parametrize("python", EXPRESSIONS)
def test_translation_matches_like_glideinwms(python: str) -> None:
    expr = translate(python)
    want = glideinwms_pairs(python)
    assert our_matches(expr) == want
    direct = {
        (j, e)
        for j, job in enumerate(JOBS)
        for e, entry in enumerate(ENTRIES)
        if classads.evaluate(expr, classads.from_dict(job), classads.from_dict(entry)) is True
    }
    assert direct == want


def test_grid_tells_the_forms_apart() -> None:
    """The grid is rich enough: the site-list test matches some pairs and not others."""
    python = EXPRESSIONS[1]
    hits = sum(glideinwms_matches(python, job, entry) for job in JOBS for entry in ENTRIES)
    assert 0 < hits < len(JOBS) * len(ENTRIES) // 4


def test_common_forms_read_as_operators_write_them() -> None:
    assert translate('glidein["attrs"]["GLIDEIN_Site"] in job["DESIRED_Sites"].split(",")') == (
        'identicalMember(TARGET.GLIDEIN_Site, split(MY.DESIRED_Sites, ","))'
    )
    assert translate('glidein["attrs"]["GLIDEIN_CPUS"] >= job["RequestCpus"] and True') == (
        "TARGET.GLIDEIN_CPUS >= MY.RequestCpus"
    )
    assert translate("True") == "true"


def test_global_and_group_expressions_are_anded() -> None:
    assert combine("True", 'job["A"] == 1') == "MY.A == 1"
    assert combine('job["B"] > 2', 'job["A"] == 1') == "MY.B > 2 && MY.A == 1"
    assert combine(None, None) == "true"


@pytest.mark.parametrize(
    ("python", "reason", "advice"),
    [
        (
            'job["DESIRED_Sites"].find("X") >= 0',
            "call `job['DESIRED_Sites'].find('X')` (only .get(), .split(), int() and float() translate)",
            "match_expr` in ClassAd",
        ),
        ('glidein["attrs"]["GLIDEIN_Site"] in job["DESIRED_Sites"]', "tests a substring", "stringListMember"),
        ('glidein["params"]["X"] == 1', "`glidein['params']` is not job", 'glidein["attrs"]["NAME"]'),
        ('job["A"] < "b"', "string ordering", "compare numbers"),
        ("1 < job['A'] < 3", "chained comparison", "a < b and b < c"),
        ('job.get("A")', "is not a comparison", "match_expr` in ClassAd"),
        ('job["A"] / 2 > 1', "is not a job or entry attribute", "ClassAd"),
        ('job["A"] == (', "not valid Python", "ClassAd"),
        ('__import__("os").system("x")', "is not a comparison", "ClassAd"),
        ('job["A"] in glidein["attrs"]["B"].split(", ")', "separator", "one-character"),
    ],
)
def test_other_forms_are_refused_with_what_to_write(python: str, reason: str, advice: str) -> None:
    with pytest.raises(MatchExprRefused) as caught:
        translate(python)
    assert reason in caught.value.reason
    assert advice in caught.value.advice
    assert "\n" not in str(caught.value)
