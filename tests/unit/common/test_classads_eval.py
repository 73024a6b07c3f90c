"""Evaluation: Python values, UNDEFINED vs ERROR, HTCondor functions, MY/TARGET scoping."""

import subprocess
import sys
import textwrap

import pytest

from glidein.common import classads as ca

JOB = ca.parse_ad(
    """
    Owner = "alice"
    RequestMemory = 2048
    DESIRED_Sites = "SiteA,SiteB"
    Memory = 1
    """
)
SLOT = ca.parse_ad('[Memory = 4096; GLIDEIN_Site = "SiteB"; Cpus = 8]')


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("1 + 2", 3),
        ("7 / 2", 3),
        ("7.0 / 2", 3.5),
        ("4611686018427387904 + 1", 2**62 + 1),
        ('strcat("a", "b")', "ab"),
        ('"é" + ""', ca.ERROR),
        ('{1, 1 + 1, "x"}', [1, 2, "x"]),
        ("[a = 1].a", 1),
        ('stringListMember("b", "a,b,c")', True),
        ('stringListMember("B", "a,b,c")', False),
        ('stringListIMember("B", "a,b,c")', True),
        ('stringListMember("b", "a;b", ";")', True),
        ("member(2, {1, 2, 3})", True),
        ('member("z", {"a"})', False),
        ('regexp("^Site[AB]$", "SiteB")', True),
        ('regexp("^site", "SiteB", "i")', True),
        ('regexp("(", "x")', ca.ERROR),
        ("undefined =?= undefined", True),
        ("undefined == undefined", ca.UNDEFINED),
        ('1 =?= "1"', False),
        ('"A" == "a"', True),
        ('"A" =?= "a"', False),
        ("1 =!= undefined", True),
        ("nope", ca.UNDEFINED),
        ("1 / 0", ca.ERROR),
        ('1 + "a"', ca.ERROR),
        ("undefined || true", True),
        ("undefined && false", False),
        ("error || true", ca.ERROR),
        ("isUndefined(nope)", True),
        ('ifThenElse(nope =?= undefined, "dflt", nope)', "dflt"),
        ('relTime("1:00:00")', 3600.0),
        ('absTime("2020-01-01T00:00:00Z")', 1577836800.0),
    ],
)
def test_evaluate_values(expr: str, expected: object) -> None:
    value = ca.evaluate(expr)
    assert value == expected or value is expected
    assert type(value) is type(expected)


def test_undefined_and_error_are_distinct_and_falsy() -> None:
    assert ca.UNDEFINED is not ca.ERROR
    assert not ca.UNDEFINED and not ca.ERROR
    assert repr(ca.UNDEFINED) == "UNDEFINED" and repr(ca.ERROR) == "ERROR"
    assert ca.Undefined() is ca.UNDEFINED and ca.ErrorValue() is ca.ERROR
    assert not ca.is_true(ca.evaluate("1 / 0")) and not ca.is_true(1) and not ca.is_true("true")
    assert ca.is_true(ca.evaluate("1 == 1"))


def test_my_and_target_scopes() -> None:
    assert ca.evaluate("MY.Memory", JOB, SLOT) == 1
    assert ca.evaluate("TARGET.Memory", JOB, SLOT) == 4096
    assert ca.evaluate("Memory", JOB, SLOT) == 1  # MY wins for unscoped refs
    assert ca.evaluate("Cpus", JOB, SLOT) == 8  # unscoped falls back to TARGET
    assert ca.evaluate("MY.Cpus", JOB, SLOT) is ca.UNDEFINED
    assert ca.evaluate("TARGET.Cpus", None, SLOT) == 8
    assert ca.evaluate("stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites)", JOB, SLOT) is True
    assert ca.eval_attr(JOB, "RequestMemory") == 2048
    assert ca.eval_attr(JOB, "Missing") is ca.UNDEFINED


def test_references() -> None:
    req = "TARGET.Memory >= RequestMemory && stringListMember(GLIDEIN_Site, DESIRED_Sites) && w.v > 0"
    assert ca.external_refs(req, JOB) == {"TARGET.Memory", "GLIDEIN_Site", "w.v"}
    assert ca.internal_refs(req, JOB) == {"RequestMemory", "DESIRED_Sites"}
    assert ca.external_refs("1 + 1") == set()
    assert ca.external_refs(ca.parse_expr("a + b")) == {"a", "b"}


IMPORT_ORDER_SCRIPT = textwrap.dedent(
    """
    import sys
    from glidein.common import classads as ca
    assert "htcondor2" in sys.modules
    job = ca.parse_ad('[Requirements = Memory >= 100 && stringListMember("a", Sites)]')
    slot = ca.parse_ad('[Memory = 200; Sites = "b,a"; Requirements = true]')
    assert ca.evaluate('stringListMember("a", "b,a")') is True
    assert ca.evaluate("Memory", ca.ClassAd(), slot) == 200
    assert ca.symmetric_match(job, slot) is True
    assert ca.OneWayMatcher(job).matches(slot) is True
    print("ok")
    """
)


def test_import_order_safety_in_a_fresh_interpreter() -> None:
    """Importing only our module is enough for stringListMember and unscoped TARGET fallback."""
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_ORDER_SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
