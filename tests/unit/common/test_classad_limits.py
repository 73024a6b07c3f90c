"""Bounds checked before classad2 sees text from outside (its parser overflows the C stack)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from glidein.common.classad_limits import AD, check_text, measure
from glidein.common.errors import ClassAdError

LONG_CHAIN = "+".join(["a"] * 200_000)  # about 400 KB: this killed the collector with SIGSEGV


def test_measure_skips_string_literals_and_quoted_names() -> None:
    assert measure("a + b * (c - \"x+(y\" ) && 'we+ird' < [d = 1; e = {1, 2}]") == (8, 2)
    assert measure('"unterminated (((') == (0, 0)
    assert measure('"esc \\" (" + f') == (1, 0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (LONG_CHAIN, "characters, more than 65536"),
        ("+".join(["a"] * 5_000), "operators, more than 4000"),
        ("(" * 100 + "1" + ")" * 100, "nested 100 deep, more than 64"),
    ],
)
def test_too_much_is_refused_with_where(text: str, message: str) -> None:
    with pytest.raises(ClassAdError, match=f"ad Requirements: .*{message}"):
        check_text(text, "ad Requirements")


def test_ordinary_expressions_pass() -> None:
    sites = " || ".join(f'stringListMember("Site_{i}", DESIRED_Sites)' for i in range(300))
    start = f"(TARGET.Memory >= 2048) && ({sites})"
    assert check_text(start, "START") is None and measure(start) == (
        299 * 2 + 2 + 2,
        2,
    )  # "||" x299, "&&", ">=": 2 characters each
    big = '[ Note = "' + "x" * 500_000 + '"; A = 1 + 2 ]'  # a large ad is judged as a whole
    assert check_text(big, "a whole ad", AD) is None and measure(big) == (3, 1)


def test_the_unbounded_chain_really_crashes_classad2() -> None:
    """Why the bound exists: the same text parsed directly kills the process."""
    code = f"import htcondor2, classad2\nclassad2.ExprTree({LONG_CHAIN!r})\n"
    run = subprocess.run(
        [sys.executable, "-"], input=code.encode(), capture_output=True, timeout=120, check=False
    )
    assert run.returncode < 0 or run.returncode > 128, run.returncode  # killed by a signal
