"""Matching counts equal a brute-force evaluation job by job, entry by entry."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glidein.common import classads
from glidein.common.classads import ClassAd
from glidein.frontend.match_index import conjuncts, to_entry_scope
from glidein.frontend.matching import JobCluster, glidein_cpus, match

SITES = ["A", "B", "C", "D"]
JOB_REQS = [
    None,
    "TARGET.GLIDEIN_MaxMemMBs >= RequestMemory",
    'TARGET.Memory >= RequestMemory && TARGET.Arch == "X86_64"',  # undefined at entries: no veto
    'TARGET.GLIDEIN_Site =!= "B"',
    "NeedsBig",  # through another attribute that looks at the entry: the slow path
    "MY.NotThere =!= undefined || TARGET.GLIDEIN_CPUS > 1",
]
ENTRY_REQS = [None, None, None, "TARGET.RequestCpus <= 4", "TARGET.DESIRED_Sites =!= undefined"]
MATCH_EXPRS = [
    "stringListMember(TARGET.GLIDEIN_Site, DESIRED_Sites)",
    "TARGET.GLIDEIN_CPUS >= RequestCpus",
    "true",
    'GLIDEIN_Site =!= "D" && RequestMemory <= 4000',
    "stringListMember(GLIDEIN_Site, DESIRED_Sites) && RequestMemory <= TARGET.GLIDEIN_MaxMemMBs",
    'regexp("^[AB]", TARGET.GLIDEIN_Site) || Owner == "bob"',
    # flattening leaves DESIRED_Sites inside split(): inlined as a constant, or the slow path
    "member(TARGET.GLIDEIN_Site, split(DESIRED_Sites)) && RequestMemory <= TARGET.GLIDEIN_MaxMemMBs",
    "stringListIMember(TARGET.GLIDEIN_Site, DESIRED_Sites) && RequestMemory <= TARGET.GLIDEIN_MaxMemMBs",
]


@st.composite
def job_ads(draw: st.DrawFn) -> ClassAd:
    values: dict[str, object] = {
        "RequestCpus": draw(st.sampled_from([1, 2, 4, 8])),
        "RequestMemory": draw(st.sampled_from([1000, 2000, 4000, 8000])),
        "Owner": draw(st.sampled_from(["alice", "bob"])),
        "Cmd": draw(st.sampled_from(["/bin/a", "/bin/b"])),  # referenced by nothing
    }
    sites = draw(st.lists(st.sampled_from(SITES), unique=True, max_size=3))
    has_sites = draw(st.booleans())
    if sites or has_sites:
        values["DESIRED_Sites"] = ",".join(sites)
    ad = classads.from_dict(values)
    req = draw(st.sampled_from(JOB_REQS))
    if req is not None:
        ad["Requirements"] = classads.parse_expr(req)
    if req == "NeedsBig":
        ad["NeedsBig"] = classads.parse_expr("TARGET.GLIDEIN_MaxMemMBs > 3000")
    return ad


@st.composite
def entry_ads(draw: st.DrawFn) -> ClassAd:
    ad = classads.from_dict(
        {
            # not only plain names; well-typed though (see the OneWayMatcher caveat in matching.py)
            "GLIDEIN_Site": draw(st.sampled_from([*SITES, "A B", "a", None])),
            "GLIDEIN_CPUS": draw(st.sampled_from([1, 4, 8, "auto"])),
            "GLIDEIN_MaxMemMBs": draw(st.sampled_from([2000, 4000, 16000])),
        }
    )
    req = draw(st.sampled_from(ENTRY_REQS))
    if req is not None:
        ad["Requirements"] = classads.parse_expr(req)
    return ad


def brute_force(expr: str, clusters: list[JobCluster], entries: list[ClassAd]) -> dict[int, dict[str, float]]:
    out = {
        i: dict.fromkeys(("count", "prop", "hereonly", "prop_mc", "old_count", "old_prop_mc", "running"), 0.0)
        for i in range(len(entries))
    }
    for cluster in clusters:
        job = cluster.ad
        matched = []
        for i, entry in enumerate(entries):
            ok = classads.evaluate(expr, job, entry) is True
            if "Requirements" in job:
                ok = ok and classads.evaluate(job.lookup("Requirements"), job, entry) is not False
            if "Requirements" in entry:
                ok = ok and classads.evaluate(entry.lookup("Requirements"), entry, job) is True
            if ok:
                matched.append(i)
        cpus = job["RequestCpus"]
        old = cluster.idle if cluster.old_idle is None else cluster.old_idle
        for i in matched:
            entry_cpus = entries[i]["GLIDEIN_CPUS"]
            entry_cpus = entry_cpus if isinstance(entry_cpus, int) else 1
            counts = out[i]
            counts["count"] += cluster.idle
            counts["prop"] += cluster.idle / len(matched)
            counts["hereonly"] += cluster.idle if len(matched) == 1 else 0
            counts["prop_mc"] += cluster.idle * cpus / len(matched) / entry_cpus
            counts["old_count"] += old
            counts["old_prop_mc"] += old * cpus / len(matched) / entry_cpus
            counts["running"] += cluster.running
    return out


@settings(max_examples=150, deadline=None)
@given(
    expr=st.sampled_from(MATCH_EXPRS),
    jobs=st.lists(
        st.tuples(job_ads(), st.integers(0, 50), st.integers(0, 5), st.one_of(st.none(), st.integers(0, 50))),
        max_size=12,
    ),
    entries=st.lists(entry_ads(), max_size=8),
)
def test_counts_equal_brute_force(
    expr: str, jobs: list[tuple[ClassAd, int, int, int | None]], entries: list[ClassAd]
) -> None:
    clusters = [JobCluster(ad, idle, running, old) for ad, idle, running, old in jobs]
    names = [f"e{i}" for i in range(len(entries))]
    result = match(expr, clusters, entries, names)
    want = brute_force(expr, clusters, entries)
    for i, name in enumerate(names):
        got = result.entries[name]
        assert (got.count, got.hereonly, got.old_count, got.running) == (
            want[i]["count"],
            want[i]["hereonly"],
            want[i]["old_count"],
            want[i]["running"],
        ), name
        assert got.prop == pytest.approx(want[i]["prop"])
        assert got.prop_mc == pytest.approx(want[i]["prop_mc"])
        assert got.old_prop_mc == pytest.approx(want[i]["old_prop_mc"])
    total_idle = sum(c.idle for c in clusters)
    assert result.idle == total_idle
    assert sum(r.prop for r in result.entries.values()) + result.unmatched == pytest.approx(total_idle)


def test_autoclusters_keyed_by_referenced_attributes_only() -> None:
    ads = [
        classads.from_dict({"RequestCpus": 1, "DESIRED_Sites": "A", "Cmd": f"/bin/{i}", "Owner": "u"})
        for i in range(20)
    ]
    entries = [classads.from_dict({"GLIDEIN_Site": s, "GLIDEIN_CPUS": 1, "Name": s}) for s in "AAB"]
    result = match(
        "stringListMember(TARGET.GLIDEIN_Site, DESIRED_Sites)",
        [JobCluster(ad, 3) for ad in ads],
        entries,
        ["a1", "a2", "b"],
    )
    assert result.key_attrs == ("DESIRED_Sites", "Requirements")
    assert (result.job_classes, result.evaluations) == (1, 1)  # one class, one look-up in the site index
    assert result.entries["a1"].prop == 30 and result.entries["b"].count == 0


def test_multicore_jobs_scaled_to_glideins() -> None:
    job = classads.from_dict({"RequestCpus": 4})
    entries = [classads.from_dict({"GLIDEIN_CPUS": 8}), classads.from_dict({"GLIDEIN_CPUS": "auto"})]
    result = match("true", [JobCluster(job, 10)], entries, ["big", "auto"])
    # each entry gets 5 jobs x 4 cpus = 20 cpus: 2.5 glideins of 8 cpus, 20 glideins of 1 cpu
    assert result.entries["big"].prop_mc == pytest.approx(2.5)
    assert result.entries["auto"].prop_mc == pytest.approx(20)


def test_glidein_cpus_estimated_and_nodes() -> None:
    ad = classads.from_dict({"GLIDEIN_CPUS": "node", "GLIDEIN_ESTIMATED_CPUS": 16, "GLIDEIN_NODES": 2})
    assert glidein_cpus(ad) == 32


@pytest.mark.parametrize(
    ("flat", "want"),
    [
        (
            'TARGET.a > 1 && stringListMember(target.S, "TARGET.x")',
            'MY.a > 1 && stringListMember(MY.S, "TARGET.x")',
        ),
        ("MY.x > TARGET.y", None),
        ("isUndefined(TARGET)", None),
        ("MyType == TARGET.MyTarget && my_attr", "MyType == MY.MyTarget && my_attr"),
    ],
)
def test_to_entry_scope(flat: str, want: str | None) -> None:
    assert to_entry_scope(flat) == want


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("a && b", ["a", "b"]),
        (
            '(a || b) && stringListMember(x, "p && q") && c is d',
            ["a || b", 'stringListMember(x, "p && q")', "c is d"],
        ),
        ("a && b || c", ["a && b || c"]),
        ("a && b ? c : d", ["a && b ? c : d"]),
        ("f(a && b)", ["f(a && b)"]),
        ("((a && b)) && (c || d) && ((e) isnt false)", ["a", "b", "c || d", "(e) isnt false"]),
        ("(a) || (b)", ["(a) || (b)"]),
    ],
)
def test_conjuncts(text: str, want: list[str]) -> None:
    assert conjuncts(text) == want


def test_conjunct_cache_shares_evaluations_across_job_classes() -> None:
    entries = [
        classads.from_dict(
            {"GLIDEIN_Site": f"S{i}", "GLIDEIN_MaxMemMBs": 2000 * (1 + i % 2), "GLIDEIN_CPUS": 1}
        )
        for i in range(10)
    ]
    jobs = [classads.from_dict({"RequestMemory": 3000, "DESIRED_Site": f"S{i}"}) for i in range(5)]
    expr = "TARGET.GLIDEIN_MaxMemMBs >= RequestMemory && TARGET.GLIDEIN_Site == DESIRED_Site"
    result = match(expr, [JobCluster(ad, 2) for ad in jobs], entries, [f"e{i}" for i in range(10)])
    # memory: 2 distinct sizes, once; sites: only the 5 entries with 4000 MB, per job class
    assert result.evaluations == 2 + 5 * 5
    assert [result.entries[f"e{i}"].count for i in range(10)] == [0, 2, 0, 2, 0, 0, 0, 0, 0, 0]


@pytest.mark.parametrize(
    "expr",
    [
        "member(TARGET.GLIDEIN_Site, split(DESIRED_Sites))",  # == : case-insensitive
        "stringListMember(TARGET.GLIDEIN_Site, DESIRED_Sites)",  # case-sensitive
        "stringListIMember(TARGET.GLIDEIN_Site, DESIRED_Sites)",  # case-insensitive
    ],
)
def test_site_index_keeps_classad_case_rules(expr: str) -> None:
    sites = ["SiteA", "sitea", "SITEB", "Site C", "SiteD"]
    entries = [classads.from_dict({"GLIDEIN_Site": s, "GLIDEIN_CPUS": 1}) for s in sites]
    entries.append(classads.from_dict({"GLIDEIN_CPUS": 1}))  # no site at all
    jobs = [classads.from_dict({"DESIRED_Sites": "SiteA, siteb"})]
    names = [f"e{i}" for i in range(len(entries))]
    result = match(expr, [JobCluster(jobs[0], 1)], entries, names)
    want = [classads.evaluate(expr, jobs[0], e) is True for e in entries]
    assert [result.entries[n].count == 1 for n in names] == want
    assert any(want)


# Site names and lists as written by hand: case variants, non-ASCII letters (HTCondor folds ASCII
# only), delimiters doubled or leading, a value that is not a plain name.
SITE_NAMES = ["SiteA", "sitea", "SITEA", "Sité", "SITÉ", "sité", "T2_CH", "t2_ch", "x.y-z", "a b"]


@settings(max_examples=200, deadline=None)
@given(
    expr=st.sampled_from(
        [
            "member(TARGET.GLIDEIN_Site, split(DESIRED_Sites))",
            "stringListMember(TARGET.GLIDEIN_Site, DESIRED_Sites)",
            "stringListIMember(TARGET.GLIDEIN_Site, DESIRED_Sites)",
        ]
    ),
    sites=st.lists(st.one_of(st.sampled_from(SITE_NAMES), st.none(), st.just(7)), min_size=1, max_size=8),
    lists=st.lists(
        st.tuples(
            st.lists(st.sampled_from(SITE_NAMES), max_size=4), st.sampled_from([",", ", ", " ", ",,", " ,"])
        ),
        min_size=1,
        max_size=5,
    ),
)
def test_site_index_equals_classad2(
    expr: str, sites: list[object], lists: list[tuple[list[str], str]]
) -> None:
    """The index's answer is classad2's for every entry and job (the fast path is exact)."""
    entries = [classads.from_dict({"GLIDEIN_Site": s, "GLIDEIN_CPUS": 1}) for s in sites]
    jobs = [classads.from_dict({"DESIRED_Sites": sep + sep.join(items)}) for items, sep in lists]
    names = [f"e{i}" for i in range(len(entries))]
    for job in jobs:
        result = match(expr, [JobCluster(job, 1)], entries, names)
        want = [classads.evaluate(expr, job, e) is True for e in entries]
        assert [result.entries[n].count == 1 for n in names] == want, job["DESIRED_Sites"]
