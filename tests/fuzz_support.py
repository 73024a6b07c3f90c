"""What the seeded fuzz suites share: ClassAd expression texts meant to hurt a parser or evaluator.

Each suite adds its own (YAML, HTTP, CEDAR) cases beside these; none of them may crash a process.
"""

from __future__ import annotations

HOSTILE_EXPRESSIONS = [
    " + ".join(["1"] * 30_000),  # overflowed classad2's parser stack (SIGSEGV) before the limits
    "(" * 70 + "1" + ")" * 70,  # deeper than the nesting limit
    "eval(S)",
    "random(-1)",
    "1/0",
    "9" * 5000,  # an integer Python refuses to convert (4300+ digits)
    "1e999",
    '"unterminated',
    "x" * 70_000,
    "{ 1, 2, { 3 }",
    "-",
    "",
]
