"""The collector's bounds on hostile input, without sockets: ad and constraint size, eval(),
failing evaluations, ClassAdLifetime."""

from __future__ import annotations

import time

import pytest

from glidein.common import classads
from glidein.common.errors import ClassAdError
from glidein.pool.collector import planner
from glidein.pool.collector.ads import Record, build_record
from glidein.pool.collector.limits import check_ad, check_expression
from glidein.pool.collector.store import AdStore

NOW = 1000.0


def _blob(**exprs: str) -> bytes:
    lines = {"MyType": '"glidet"', "Name": '"n"', **exprs}
    return "".join(f"{name} = {expr}\0" for name, expr in lines.items()).encode()


@pytest.mark.parametrize(
    ("lifetime", "expected"),
    [
        ("9" * 5000, 86400.0),  # used to raise ValueError (int() of > 4300 digits)
        ("9" * 400, 86400.0),  # an int no float holds: used to raise OverflowError (the fuzz test)
        ("1e999", 86400.0),  # inf: used to never expire
        ("99999999999", 86400.0),
        ("300", 300.0),
        ("2.5", 2.5),
        ("-5", 900.0),
        ("0", 900.0),
        ('"60"', 900.0),
        ("A + 1", 900.0),
    ],
)
def test_lifetime_is_clamped_and_non_numbers_take_the_default(lifetime: str, expected: float) -> None:
    record = build_record(_blob(ClassAdLifetime=lifetime), None, NOW, 900.0)
    assert record.expires == NOW + expected
    capped = build_record(_blob(ClassAdLifetime=lifetime), None, NOW, 10.0, max_lifetime=60.0)
    assert capped.expires <= NOW + 60


def test_ads_over_the_bounds_are_refused_naming_the_attribute() -> None:
    with pytest.raises(ClassAdError, match=r"attribute Huge: .*operators"):
        build_record(_blob(Huge=" + ".join(["1"] * 30_000)), None, NOW, 900.0)
    with pytest.raises(ClassAdError, match=r"attribute Deep: .*nested"):
        build_record(_blob(Deep="(" * 100 + "1" + ")" * 100), None, NOW, 900.0)
    with pytest.raises(ClassAdError, match=r"attribute E: .*eval"):
        build_record(_blob(E="EVAL (S) + 1"), None, NOW, 900.0)
    check_ad(_blob(S='"eval(S) is text"', Sum=" + ".join(["1"] * 3000)).decode())  # within bounds


def test_constraints_over_the_bounds_are_refused() -> None:
    check_expression('Name == "eval(x)" && ' + " && ".join(["A == 1"] * 500), "Requirements")
    for text, why in [
        (" + ".join(["1"] * 5000), "operators"),
        ("(" * 65 + "1" + ")" * 65, "nested"),
        ("x" * 70_000, "characters"),
        ("eval(S)", "eval"),
    ]:
        with pytest.raises(ClassAdError, match=rf"Requirements: .*{why}"):
            check_expression(text, "Requirements")


def test_a_failing_evaluation_is_no_match_and_is_reported() -> None:
    store = AdStore()
    good = build_record(_blob(), None, NOW, 900.0)
    deep = build_record(_blob(Name='"d"', Sum=" + ".join(["1"] * 1000)), None, NOW, 900.0)
    store.put(good)
    store.put(deep)
    failed: list[tuple[Record, Exception]] = []
    either = classads.parse_expr("Sum > 0 || true")  # classad2 raises on the deep Sum
    assert store.matching(store.candidates(None, {}), either, NOW, None, failed) == [good]
    assert [record for record, _ in failed] == [deep]
    failed.clear()
    fails = classads.parse_expr("random(0) == 0")
    assert store.matching(store.candidates(None, {}), fails, NOW, 1, failed) == []
    assert len(failed) == 2


@pytest.mark.parametrize(
    "constraint",
    [
        "(" * 63 + 'MyType == "x" && ' + "()" * 32_700 + ")" * 63,  # as large and deep as the bounds let in
        "(" * 64 + 'MyType == "x" && ' + "(a) && " * 9_000 + "b" + ")" * 64,
        "(" * 50_000 + 'Name == "x"' + ")" * 50_000,  # beyond the bounds: linear all the same
    ],
)
def test_the_planner_is_linear_in_depth(constraint: str) -> None:
    start = time.perf_counter()
    terms = planner.index_terms(constraint)
    assert time.perf_counter() - start < 2.0  # a hang guard: it takes a few hundredths of that
    assert terms in ({}, {"mytype": {"x"}}, {"name": {"x"}})
