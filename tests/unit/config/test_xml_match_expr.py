"""glideinWMS match_expr (Python) -> ClassAd: the same matches as glideinWMS over jobs x entries.

The reference is glideinWMS's own rule, reproduced here in the test only: `eval` of the Python text
with `glidein = {"attrs": <entry attributes>}` and `job = <job attributes>`; a match is a result
`== True`; any exception (KeyError for a missing attribute) is no match (glideinFrontendLib.countMatch).
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from glidein.common import classads
from glidein.common.config.xml_match_expr import MatchExprRefused, combine, translate
from glidein.frontend.matching import JobCluster, match

SITES = [None, "Site_A", "Site_B", "site_a", "Site C"]
ENTRY_EXTRAS: list[dict[str, Any]] = [
    {},
    {"GLIDEIN_CPUS": 8, "GLIDEIN_MaxMemMBs": 16000, "GLIDEIN_Supported_VOs": "CMS,Fermilab"},
    {"GLIDEIN_CPUS": 1, "GLIDEIN_MaxMemMBs": "2000", "GLIDEIN_Supported_VOs": "ATLAS"},
    {"GLIDEIN_CPUS": 4.0, "GLIDEIN_Max_Walltime": 86400, "GLIDEIN_Is_Test": True},
]
JOB_SITES = [None, "Site_A,Site_B", "Site_A, Site_B", "site_a", "", "Site C", "Site_B"]
JOB_EXTRAS: list[dict[str, Any]] = [
    {},
    {"RequestCpus": 1, "RequestMemory": 2000, "x509UserProxyVOName": "CMS"},
    {"RequestCpus": 4, "RequestMemory": 8000, "MaxWallTimeMins": 600, "Kind": 2},
    {"RequestCpus": 8.0, "RequestMemory": 20000, "MaxWallTimeMins": 2000, "Kind": 7},
]


def _ads(sites: list[str | None], extras: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    out = []
    for site, extra in itertools.product(sites, extras):
        ad = dict(extra)
        if site is not None:
            ad[key] = site
        out.append(ad)
    return out


ENTRIES = _ads(SITES, ENTRY_EXTRAS, "GLIDEIN_Site")
JOBS = _ads(JOB_SITES, JOB_EXTRAS, "DESIRED_Sites")

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


def glideinwms_matches(python: str, job: dict[str, Any], entry: dict[str, Any]) -> bool:
    """glideinWMS's countMatch, test-side only: eval, `== True`, any exception is no match."""
    names = {"glidein": {"attrs": entry}, "job": job}
    try:
        return bool(eval(python, {"__builtins__": {"int": int, "float": float}}, names) == True)  # noqa: E712
    except Exception:
        return False


def our_matches(expr: str) -> set[tuple[int, int]]:
    """(job, entry) pairs our frontend's matcher finds for the translated expression."""
    entries = [classads.from_dict(e) for e in ENTRIES]
    names = [f"e{i}" for i in range(len(entries))]
    found = set()
    for j, job in enumerate(JOBS):
        result = match(expr, [JobCluster(classads.from_dict(job), 1)], entries, names)
        found |= {(j, int(name[1:])) for name, counts in result.entries.items() if counts.count}
    return found


@pytest.mark.parametrize("python", EXPRESSIONS)
def test_translation_matches_like_glideinwms(python: str) -> None:
    expr = translate(python)
    want = {
        (j, e)
        for j, job in enumerate(JOBS)
        for e, entry in enumerate(ENTRIES)
        if glideinwms_matches(python, job, entry)
    }
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
            "call `job['DESIRED_Sites'].find('X')`",
            "only .get(), .split()",
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
