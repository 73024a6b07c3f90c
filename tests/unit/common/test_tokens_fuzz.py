"""Seeded fuzzing of pool-token verification: every altered token is refused, only SecurityError escapes."""

from __future__ import annotations

import random
import time

from glidein.common import tokens
from glidein.common.errors import SecurityError

SEED = 13
CASES = 20_000
KEY = bytes(range(32))
ALPHABET = [chr(c) for c in range(32, 127)] + ["\u00e9", "\x00", "\n", "\t", "=", ".", "-", "_", "/", "+"]


def _mutate(rng: random.Random, token: str) -> str:
    chars = list(token)
    for _ in range(rng.randrange(1, 4)):
        pos = rng.randrange(len(chars) + 1)
        kind = rng.randrange(3)
        if kind == 0 and chars:
            chars[min(pos, len(chars) - 1)] = rng.choice(ALPHABET)
        elif kind == 1:
            del chars[pos : pos + rng.randrange(1, 5)]
        else:
            chars[pos:pos] = rng.choice(ALPHABET) * rng.randrange(1, 4)
    return "".join(chars)


def test_every_altered_token_is_refused_with_a_security_error() -> None:
    good = tokens.mint(KEY, "startd1", ["startd"], 600, "pool")
    assert tokens.verify(KEY, good, "startd")["sub"] == "startd1"
    rng = random.Random(SEED)
    start = time.monotonic()
    refused = 0
    for _ in range(CASES):
        token = _mutate(rng, good)
        if token.strip() == good:
            continue  # surrounding whitespace is not part of the token
        try:
            tokens.verify(KEY, token, "startd")
        except SecurityError as exc:
            assert "\n" not in str(exc)
            refused += 1
        else:
            raise AssertionError(f"an altered token verified: {token!r} (issued {good!r})")
    assert refused > CASES * 0.95 and time.monotonic() - start < 30
