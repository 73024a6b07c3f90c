"""HTCondor IDTOKENs: checked against a vector computed here by hand (RFC 5869 HKDF, HMAC, base64url)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import pytest

from glidein.common.errors import ConfigError, SecurityError
from glidein.frontend import idtokens


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869, written out: extract then expand."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def test_hand_hkdf_matches_rfc5869_case_1() -> None:
    okm = hkdf_sha256(bytes([0x0B] * 22), bytes(range(13)), bytes(range(0xF0, 0xFA)), 42)
    assert okm.hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )


def test_idtoken_equals_hand_computed_vector(tmp_path: Path) -> None:
    password = b"pool-password-123"
    # the file condor_store_cred writes: each byte XOR DE AD BE EF
    key_file = tmp_path / "POOL"
    key_file.write_bytes(bytes(b ^ [0xDE, 0xAD, 0xBE, 0xEF][i % 4] for i, b in enumerate(password)))
    key_file.chmod(0o600)
    key = idtokens.load_signing_key(key_file)
    assert key == password + password  # the POOL key is doubled

    token = idtokens.mint(
        key,
        "pilot@example.org",
        "pool.example.org",
        ["READ", "ADVERTISE_STARTD"],
        lifetime_s=3600,
        now=1700000000,
        jti="00112233445566778899aabbccddeeff",
    )
    header = '{"alg":"HS256","kid":"POOL"}'
    claims = (
        '{"exp":1700003600,"iat":1700000000,"iss":"pool.example.org",'
        '"jti":"00112233445566778899aabbccddeeff","scope":"condor:/READ condor:/ADVERTISE_STARTD",'
        '"sub":"pilot@example.org"}'
    )
    signing_input = b64url(header.encode()) + "." + b64url(claims.encode())
    jwt_key = hkdf_sha256(password + password, b"htcondor", b"master jwt", 32)
    expected = (
        signing_input + "." + b64url(hmac.new(jwt_key, signing_input.encode(), hashlib.sha256).digest())
    )
    assert token == expected
    assert idtokens.verify(key, token, now=1700000001)["sub"] == "pilot@example.org"


def test_named_key_not_doubled_and_verify_refuses() -> None:
    key = idtokens.signing_key(idtokens.scramble(b"k" * 32), kid="other")
    assert key == b"k" * 32
    token = idtokens.mint(key, "a@b", "dom", kid="other", now=100, lifetime_s=10)
    with pytest.raises(SecurityError, match="expired"):
        idtokens.verify(key, token, now=200)
    with pytest.raises(SecurityError, match="does not verify"):
        idtokens.verify(b"x" * 32, token, now=101)
    with pytest.raises(ConfigError, match="spaces or commas"):
        idtokens.mint(key, "a@b", "two words")


def test_key_file_readable_by_others_refused(tmp_path: Path) -> None:
    path = tmp_path / "POOL"
    path.write_bytes(b"\x01\x02")
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        idtokens.load_signing_key(path)
