"""Bounds on ClassAd text from outside, checked before it reaches classad2.

classad2's parser and evaluator recurse: an expression of some 200,000 `+` terms, or nested a few
thousand parentheses deep, overflows the C stack and kills the process (SIGSEGV, no log line).
`check_text` scans the text once (linear, no recursion) and refuses what is too long, has too many
operators or nests too deep, with a `ClassAdError` that names what and where. Every place that
parses text it did not write itself (collector, factory, frontend, schedd, startd) calls it first.
"""

from __future__ import annotations

from dataclasses import dataclass

from glidein.common.errors import ClassAdError

OPERATOR_CHARS = frozenset("+-*/%&|^!<>=?:~")
OPEN, CLOSE = frozenset("([{"), frozenset(")]}")


@dataclass(frozen=True)
class Limits:
    """How much ClassAd text one value (expression or whole ad) may hold."""

    max_chars: int = 1 << 20  # a whole ad: 1 MiB
    max_operators: int = 20_000  # operator characters outside string literals
    max_depth: int = 64  # nesting of (), [] and {}


AD = Limits()
EXPRESSION = Limits(max_chars=64 << 10, max_operators=4_000, max_depth=64)


def _literal_end(text: str, start: int, quote: str) -> int:
    """Index just past the string literal (or quoted name) opened at `start`; len(text) if open."""
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == quote:
            return i + 1
        i += 1
    return len(text)


def measure(text: str) -> tuple[int, int]:
    """(operator characters, deepest nesting) outside string literals, in one pass."""
    operators = depth = deepest = 0
    i = 0
    while i < len(text):
        char = text[i]
        if char in "\"'":
            i = _literal_end(text, i, char)
            continue
        if char in OPEN:
            depth += 1
            deepest = max(deepest, depth)
        elif char in CLOSE:
            depth = max(0, depth - 1)
        elif char in OPERATOR_CHARS:
            operators += 1
        i += 1
    return operators, deepest


def check_text(text: str, where: str, limits: Limits = EXPRESSION) -> None:
    """ClassAdError naming `where` when `text` is beyond `limits`; nothing is parsed."""
    if len(text) > limits.max_chars:
        raise ClassAdError(f"{where}: {len(text)} characters, more than {limits.max_chars}")
    operators, deepest = measure(text)
    if operators > limits.max_operators:
        raise ClassAdError(f"{where}: {operators} operators, more than {limits.max_operators}")
    if deepest > limits.max_depth:
        raise ClassAdError(f"{where}: nested {deepest} deep, more than {limits.max_depth}")
