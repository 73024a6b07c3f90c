"""Pool tokens: mint, verify, scope, expiry, tampering and key files."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from glidein.common import tokens
from glidein.common.errors import ConfigError, SecurityError

KEY = bytes(range(32))
NOW = 1_700_000_000.0


def test_minted_token_verifies_with_its_claims() -> None:
    token = tokens.mint(KEY, "pilot-1", ["startd"], 3600, "fe1", now=NOW)
    claims = tokens.verify(KEY, token, "startd", now=NOW + 10)
    assert claims["sub"] == "pilot-1"
    assert claims["iss"] == "fe1"
    assert claims["scope"] == ["startd"]
    assert claims["exp"] == int(NOW) + 3600
    assert isinstance(claims["jti"], str)


def test_two_tokens_have_distinct_ids() -> None:
    first = tokens.mint(KEY, "s", ["startd"], 60, "i", now=NOW)
    second = tokens.mint(KEY, "s", ["startd"], 60, "i", now=NOW)
    assert first != second


def test_expired_token_is_refused() -> None:
    token = tokens.mint(KEY, "s", ["startd"], 60, "i", now=NOW)
    tokens.verify(KEY, token, "startd", now=NOW + 59)
    with pytest.raises(SecurityError, match="expired"):
        tokens.verify(KEY, token, "startd", now=NOW + 60)


def test_wrong_scope_is_refused() -> None:
    token = tokens.mint(KEY, "s", ["read"], 60, "i", now=NOW)
    with pytest.raises(SecurityError, match="scope 'startd'"):
        tokens.verify(KEY, token, "startd", now=NOW)


def test_other_key_is_refused() -> None:
    token = tokens.mint(KEY, "s", ["startd"], 60, "i", now=NOW)
    with pytest.raises(SecurityError, match="signature"):
        tokens.verify(bytes(32), token, "startd", now=NOW)


def test_tampered_claims_are_refused() -> None:
    token = tokens.mint(KEY, "s", ["read"], 60, "i", now=NOW)
    header, _claims, sig = token.split(".")
    forged_claims = tokens.mint(KEY, "s", ["startd"], 60, "i", now=NOW).split(".")[1]
    with pytest.raises(SecurityError):
        tokens.verify(KEY, f"{header}.{forged_claims}.{sig}", "startd", now=NOW)


@pytest.mark.parametrize("junk", ["", "a.b", "a.b.c.d", "!!!.???.***", "x" * 10000])
def test_malformed_tokens_are_refused(junk: str) -> None:
    with pytest.raises(SecurityError):
        tokens.verify(KEY, junk, "startd", now=NOW)


def test_future_token_is_refused() -> None:
    token = tokens.mint(KEY, "s", ["startd"], 3600, "i", now=NOW + 1000)
    with pytest.raises(SecurityError, match="future"):
        tokens.verify(KEY, token, "startd", now=NOW)


def test_key_file_roundtrip_is_0600(tmp_path: Path) -> None:
    path = tmp_path / "pool.key"
    tokens.generate_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = tokens.load_key(path)
    assert len(key) == 32
    with pytest.raises(ConfigError, match="exists"):
        tokens.generate_key(path)


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pool.key"
    tokens.generate_key(path)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        tokens.load_key(path)


def test_bad_key_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.key"
    path.write_text("zz\n")
    path.chmod(0o600)
    with pytest.raises(ConfigError, match=r"bad\.key: pool key is not hex"):
        tokens.load_key(path)


def test_non_ascii_token_is_refused_not_a_crash() -> None:
    token = tokens.mint(KEY, "s", ["startd"], 3600, "i", now=NOW)
    for bad in (token + "é", "é.x.y", token.replace(".", ".\u00ff", 1)):
        with pytest.raises(SecurityError, match="non-ASCII"):
            tokens.verify(KEY, bad, "startd", now=NOW)
