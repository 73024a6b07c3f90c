"""Two-way matching with Rank, and the fast one-way matcher."""

from glidein.common import classads as ca

JOB = ca.parse_ad(
    """
    RequestMemory = 2048
    RequestCpus = 2
    DESIRED_Sites = "SiteA,SiteB"
    Requirements = TARGET.Memory >= RequestMemory && TARGET.Cpus >= RequestCpus && \
        stringListMember(TARGET.GLIDEIN_Site, DESIRED_Sites)
    Rank = TARGET.Memory / 1024 + (TARGET.GLIDEIN_Site == "SiteB")
    """
)


def _slot(site: str, memory: int, cpus: int, start: str = "TARGET.RequestMemory <= MY.Memory") -> ca.ClassAd:
    ad = ca.from_dict({"GLIDEIN_Site": site, "Memory": memory, "Cpus": cpus})
    ad["Requirements"] = ca.expr_value(start)
    return ad


def test_match_with_rank_orders_slots() -> None:
    slots = [
        _slot("SiteA", 4096, 4),
        _slot("SiteB", 4096, 4),
        _slot("SiteB", 8192, 8),
        _slot("SiteC", 9999, 9),
    ]
    results = [ca.match_with_rank(JOB, slot) for slot in slots]
    assert results == [(True, 4.0), (True, 5.0), (True, 9.0), (False, 0.0)]
    best = max((r for r in zip(results, slots, strict=True) if r[0][0]), key=lambda r: r[0][1])
    assert best[1]["Memory"] == 8192


def test_slot_side_requirements_count() -> None:
    refusing = _slot("SiteA", 4096, 4, start='TARGET.Owner =?= "bob"')
    assert ca.OneWayMatcher(JOB).matches(refusing)
    assert not ca.symmetric_match(JOB, refusing)
    assert not ca.OneWayMatcher(JOB).matches_both(refusing)
    assert ca.match_with_rank(JOB, refusing) == (False, 0.0)


def test_only_true_matches() -> None:
    slot = _slot("SiteA", 4096, 4)
    for req in ["1", "1.0", '"true"', "undefined", "error", "TARGET.Nope", "1/0"]:
        job = ca.from_dict({"Requirements": ca.expr_value(req)})
        assert not ca.symmetric_match(job, ca.from_dict({"Requirements": True}))
        assert not ca.OneWayMatcher(job).matches(slot)
    assert not ca.symmetric_match(ca.ClassAd(), slot)  # no Requirements: no match


def test_rank_values() -> None:
    slot = _slot("SiteB", 1024, 1)
    for rank_expr, expected in [
        ("3", 3.0),
        ("2.5", 2.5),
        ("true", 1.0),
        ("false", 0.0),
        ('"x"', 0.0),
        ("nope", 0.0),
    ]:
        assert ca.rank(ca.from_dict({"Rank": ca.expr_value(rank_expr)}), slot) == expected
    assert ca.rank(ca.ClassAd(), slot) == 0.0


def test_one_way_matcher_from_expression() -> None:
    matcher = ca.OneWayMatcher(
        'TARGET.Memory >= X * 2 && member(TARGET.GLIDEIN_Site, {"SiteA"})', my=ca.from_dict({"X": 1024})
    )
    assert "X" not in matcher.flattened
    assert matcher.matches(_slot("SiteA", 2048, 1))
    assert not matcher.matches(_slot("SiteA", 2047, 1))
    assert not matcher.matches(_slot("SiteB", 4096, 1))
    assert not ca.OneWayMatcher(ca.ClassAd()).matches(_slot("SiteA", 1, 1))
