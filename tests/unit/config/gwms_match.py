"""glideinWMS's match rule (test-side only) and our matcher over a grid of jobs x entries.

glideinWMS (glideinFrontendLib.countMatch) evaluates `match_expr` with Python's `eval`, with
`glidein = {"attrs": <entry attributes>}` and `job = <job attributes>`; a match is a result
`== True`; any exception (KeyError for a missing attribute) is no match. It is reproduced here, in
the tests only, as the reference the ClassAd translation is compared with.
"""

from __future__ import annotations

import itertools
from typing import Any

from glidein.common import classads
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


def glideinwms_pairs(python: str) -> set[tuple[int, int]]:
    """(job, entry) pairs glideinWMS matches with the Python `match_expr`."""
    return {
        (j, e)
        for j, job in enumerate(JOBS)
        for e, entry in enumerate(ENTRIES)
        if glideinwms_matches(python, job, entry)
    }
