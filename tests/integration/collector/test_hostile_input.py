"""Hostile ads and queries sent to a real collector: refused with one log line, never a crash."""

from __future__ import annotations

from glidein.pool import cedar
from tests.integration.collector.conftest import Running
from tests.procs import wait_for

LONG = " + ".join(["1"] * 200_000)  # classad2's parser overflows the C stack on this (SIGSEGV)


def test_long_expression_ad_is_refused_and_the_connection_goes_on(collector: Running) -> None:
    long_ad = [("MyType", '"glidelong"'), ("Name", '"long"'), ("Huge", LONG)]
    good = [("MyType", '"glidelong"'), ("Name", '"good"'), ("Value", "1 + 2")]
    cedar.advertise(collector.address, [long_ad, good], "UPDATE_AD_GENERIC")
    wait_for(lambda: len(cedar.query(collector.address, "glidelong")) == 1, timeout=10)
    (line,) = collector.lines("rejected")
    assert "peer=127.0.0.1:" in line and "Huge" in line and "operators" in line
    assert collector.answers()


def test_long_or_deep_constraint_gets_an_empty_answer(collector: Running) -> None:
    cedar.advertise(collector.address, [[("MyType", '"glideq"'), ("Name", '"q"')]], "UPDATE_AD_GENERIC")
    deep = "(" * 5000 + "true" + ")" * 5000
    many = " + ".join(["1"] * 10_000) + " > 0"
    for constraint in (many, deep, LONG + " > 0"):
        assert cedar.query(collector.address, "glideq", constraint) == []
    lines = collector.lines("bad query")
    assert len(lines) == 3 and "operators" in lines[0] and "nested" in lines[1] and "characters" in lines[2]
    assert "Requirements" in lines[0] and "peer=127.0.0.1:" in lines[0]
    assert collector.answers()


def test_eval_of_a_long_string_is_refused(collector: Running) -> None:
    text = cedar.quote_old("+".join(["1"] * 200_000))
    cedar.advertise(
        collector.address,
        [
            [("MyType", '"glideev"'), ("Name", '"s"'), ("S", text)],
            [("MyType", '"glideev"'), ("Name", '"e"'), ("E", "eval(S)")],
        ],
        "UPDATE_AD_GENERIC",
    )
    assert cedar.query(collector.address, "glideev", "eval(S) > 0") == []
    assert "eval" in collector.lines("bad query")[0]
    assert "eval" in collector.lines("rejected")[0]
    assert collector.answers()


def test_failing_constraint_evaluation_is_no_match(collector: Running) -> None:
    deep_sum = " + ".join(["1"] * 1000)  # within the limits, but classad2 refuses to evaluate it
    ads = [[("MyType", '"glidefail"'), ("Name", '"f"'), ("Sum", deep_sum)]]
    cedar.advertise(collector.address, ads, "UPDATE_AD_GENERIC")
    wait_for(lambda: len(cedar.query(collector.address, "glidefail")) == 1, timeout=10)
    assert cedar.query(collector.address, "glidefail", "random(0) == 0") == []
    assert cedar.query(collector.address, "glidefail", "Sum > 0") == []
    assert cedar.query(collector.address, "glidefail", 'Sum > 0 || Name == "f"') == []
    assert len(collector.lines("failed to evaluate")) == 3
    assert collector.answers()


def test_huge_lifetime_is_clamped(collector: Running) -> None:
    ads = [
        [("MyType", '"glidelife"'), ("Name", '"digits"'), ("ClassAdLifetime", "9" * 5000)],
        [("MyType", '"glidelife"'), ("Name", '"inf"'), ("ClassAdLifetime", "1e999")],
    ]
    cedar.advertise(collector.address, ads, "UPDATE_AD_GENERIC")
    wait_for(lambda: len(cedar.query(collector.address, "glidelife")) == 2, timeout=10)
    assert "Traceback" not in collector.log()


def test_long_invalidation_constraint_is_refused_and_the_connection_goes_on(collector: Running) -> None:
    cedar.advertise(collector.address, [[("MyType", '"glideinv"'), ("Name", '"i"')]], "UPDATE_AD_GENERIC")
    wait_for(lambda: len(cedar.query(collector.address, "glideinv")) == 1, timeout=10)
    cedar.invalidate(collector.address, "glideinv", LONG + " || true")
    wait_for(lambda: len(collector.lines("bad invalidation")) == 1, timeout=10)
    assert "characters" in collector.lines("bad invalidation")[0]
    assert len(cedar.query(collector.address, "glideinv")) == 1
    assert collector.lines(" closed: ") == []
    assert collector.answers()
