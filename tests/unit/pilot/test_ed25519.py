"""The wrapper's pure-Python Ed25519 verification agrees with `cryptography`."""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from glidein.pilot_wrapper.glidein_startup import ed25519_verify

# RFC 8032 section 7.1, TEST 2 (one-byte message).
RFC_PUB = bytes.fromhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
RFC_MSG = bytes.fromhex("72")
RFC_SIG = bytes.fromhex(
    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
    "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
)


def test_rfc8032_vector() -> None:
    assert ed25519_verify(RFC_PUB, RFC_MSG, RFC_SIG)
    assert not ed25519_verify(RFC_PUB, b"\x73", RFC_SIG)


@settings(max_examples=25, deadline=None)
@given(message=st.binary(max_size=2048))
def test_signatures_made_by_cryptography_verify(message: bytes) -> None:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes_raw()
    signature = key.sign(message)
    assert ed25519_verify(public, message, signature)
    assert not ed25519_verify(public, message + b"x", signature)


def test_any_changed_bit_or_other_key_fails() -> None:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes_raw()
    message = os.urandom(300)
    signature = key.sign(message)
    for index in (0, 17, 31, 32, 50, 63):
        bad = bytearray(signature)
        bad[index] ^= 0x04
        assert not ed25519_verify(public, message, bytes(bad)), index
    other = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    assert not ed25519_verify(other, message, signature)


def test_malformed_inputs_are_refused_not_raised() -> None:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes_raw()
    signature = key.sign(b"m")
    assert not ed25519_verify(public, b"m", signature[:63])
    assert not ed25519_verify(public[:31], b"m", signature)
    assert not ed25519_verify(b"\xff" * 32, b"m", signature)  # y >= p: not a point encoding
    big_s = signature[:32] + (2**253).to_bytes(32, "little")  # S >= L
    assert not ed25519_verify(public, b"m", big_s)
