"""Keys, ad signatures and sealed (encrypted) parameters between factories and frontends.

* Signing: Ed25519. `sign_ad` adds `GlideinSignedAttrs` (the comma-separated, sorted names of the
  attributes covered) and `GlideinSignature` (base64 Ed25519 signature over `canonical_ad_bytes`).
  Listing the covered names lets an ad cross a collector that adds its own attributes
  (`LastHeardFrom`, `MyAddress`, ...). `verify_ad` returns only the signed attributes, so a
  consumer that reads its values from that result never trusts an unsigned one.
* Sealing: X25519 ephemeral-static key agreement, HKDF-SHA256, ChaCha20-Poly1305 (AEAD) with
  caller-supplied associated data (e.g. ``"<FrontendName>|<Name>"``). Blob = base64 of
  ``ephemeral public (32) || nonce (12) || ciphertext+tag``.
* Key files: unencrypted PKCS#8 PEM, written atomically with mode 0600.
* Expressions in an ad from outside: classad2 unparses recursively, so a 60,000-term chain in a
  listed attribute overflowed the C stack while its signature was being checked. `expression_text`
  first evaluates it (classad2's evaluation is depth-limited: a too deep tree fails, cleanly), then
  bounds its text with `classad_limits.check_text` (EXPRESSION): SecurityError, one line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Mapping, MutableMapping
from pathlib import Path

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from glidein.common.classad_limits import check_text
from glidein.common.errors import ClassAdError, ConfigError, SecurityError

SIGNATURE_ATTR = "GlideinSignature"
SIGNED_ATTRS_ATTR = "GlideinSignedAttrs"
_NOT_SIGNED = {SIGNATURE_ATTR.lower(), SIGNED_ATTRS_ATTR.lower()}
_HKDF_INFO = b"glidein-seal-v1"
_PUB_LEN = 32
_NONCE_LEN = 12

PrivateKey = Ed25519PrivateKey | X25519PrivateKey
PublicKey = Ed25519PublicKey | X25519PublicKey


# ---------------------------------------------------------------- keys


def generate_signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def generate_box_key() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


def save_private_key(key: PrivateKey, path: str | Path) -> None:
    """Write `key` as PKCS#8 PEM to `path` with mode 0600 (atomically: temp file + rename)."""
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=str(target.parent))
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load_private(path: str | Path) -> object:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read key file: {exc.strerror}") from None
    try:
        return serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: not a PEM private key ({exc})") from None


def load_signing_key(path: str | Path) -> Ed25519PrivateKey:
    key = _load_private(path)
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path}: not an Ed25519 private key")
    return key


def load_box_key(path: str | Path) -> X25519PrivateKey:
    key = _load_private(path)
    if not isinstance(key, X25519PrivateKey):
        raise ConfigError(f"{path}: not an X25519 private key")
    return key


def public_key_b64(key: PrivateKey | PublicKey) -> str:
    """The raw 32-byte public key, base64: the form ads carry (PubKeyValue, FactorySigningKey)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey | X25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def _raw_public(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SecurityError(f"{what}: public key is not valid base64") from None
    if len(raw) != _PUB_LEN:
        raise SecurityError(f"{what}: public key has {len(raw)} bytes, expected {_PUB_LEN}")
    return raw


def verify_key_from_b64(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(_raw_public(text, "Ed25519"))


def box_key_from_b64(text: str) -> X25519PublicKey:
    return X25519PublicKey.from_public_bytes(_raw_public(text, "X25519"))


def key_id(key: PrivateKey | PublicKey | str) -> str:
    """A short stable id of a public key (or of a private key's public half, or of its base64)."""
    text = key if isinstance(key, str) else public_key_b64(key)
    return hashlib.sha256(text.strip().encode("ascii")).hexdigest()[:16]


# ---------------------------------------------------------------- canonical form and signatures


def _canonical_value(value: object) -> object:  # noqa: PLR0911 - one return per type
    """A JSON-able, type-tagged form that survives a trip through ClassAd text and back."""
    if value is None:
        return ["n"]
    if isinstance(value, bool):
        return ["b", value]
    if isinstance(value, int):
        return ["i", str(value)]
    if isinstance(value, float):
        return ["f", "nan" if math.isnan(value) else format(value, ".12g")]
    if isinstance(value, str):
        return ["s", value]
    if isinstance(value, list | tuple):
        return ["l", [_canonical_value(v) for v in value]]
    if isinstance(value, Mapping):
        return ["a", {str(k).lower(): _canonical_value(v) for k, v in value.items()}]
    # A ClassAd expression (classad2.ExprTree) or a sentinel: its unparsed text is a fixed point.
    return ["e", expression_text(value)]


def expression_text(value: object) -> str:
    """The text of a ClassAd expression, or SecurityError when it is too deep or too big to handle.

    Evaluated first (duck-typed `.eval()`, depth-limited in classad2) so that a tree deep enough to
    overflow the recursive unparser is refused before it is unparsed.
    """
    evaluate = getattr(value, "eval", None)
    if callable(evaluate):
        try:
            evaluate()
        except Exception as exc:  # classad2 raises its own ClassAdException
            raise SecurityError(f"expression refused: it cannot be evaluated ({exc})") from None
    text = str(value)
    try:
        check_text(text, "expression")
    except ClassAdError as exc:
        raise SecurityError(f"expression refused: {exc}") from None
    return text


def _lower_map(ad: Mapping[str, object]) -> dict[str, str]:
    return {str(name).lower(): str(name) for name in ad}


def canonical_ad_bytes(ad: Mapping[str, object], names: list[str] | None = None) -> bytes:
    """The bytes a signature covers: the named attributes (default: all but the signature ones).

    Attribute names are case-insensitive (as in ClassAds) and sorted; values are type-tagged so
    that ``1``, ``"1"`` and ``true`` differ. A ClassAd (any Mapping) or a plain dict works.
    Raises SecurityError when a named attribute is missing.
    """
    lower = _lower_map(ad)
    wanted = sorted(n.lower() for n in names) if names is not None else sorted(set(lower) - _NOT_SIGNED)
    body: list[object] = []
    for name in wanted:
        if name not in lower:
            raise SecurityError(f"signed attribute {name} is missing from the ad")
        body.append([name, _canonical_value(ad[lower[name]])])
    return json.dumps(body, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def sign_ad(ad: MutableMapping[str, object], key: Ed25519PrivateKey) -> MutableMapping[str, object]:
    """Sign every attribute now in `ad`; sets GlideinSignedAttrs and GlideinSignature; returns `ad`."""
    for attr in (SIGNATURE_ATTR, SIGNED_ATTRS_ATTR):
        if attr in ad:
            del ad[attr]
    names = sorted(str(name) for name in ad)
    signature = key.sign(canonical_ad_bytes(ad, names))
    ad[SIGNED_ATTRS_ATTR] = ",".join(names)
    ad[SIGNATURE_ATTR] = base64.b64encode(signature).decode("ascii")
    return ad


def verify_ad(ad: Mapping[str, object], public: Ed25519PublicKey | str) -> dict[str, object]:
    """Check `ad`'s signature with `public` (key or base64); return the signed attributes only.

    Raises SecurityError (one line) when unsigned, malformed, tampered or signed by another key.
    """
    values = {str(name): value for name, value in ad.items()}  # one pass over a ClassAd
    lower = _lower_map(values)
    sig_text = values.get(lower.get(SIGNATURE_ATTR.lower(), SIGNATURE_ATTR))
    names_text = values.get(lower.get(SIGNED_ATTRS_ATTR.lower(), SIGNED_ATTRS_ATTR))
    if not isinstance(sig_text, str) or not isinstance(names_text, str):
        raise SecurityError(f"ad is not signed (no {SIGNATURE_ATTR}/{SIGNED_ATTRS_ATTR} strings)")
    names = [n for n in names_text.split(",") if n]
    if not names:
        raise SecurityError(f"{SIGNED_ATTRS_ATTR} is empty")
    try:
        signature = base64.b64decode(sig_text, validate=True)
    except (binascii.Error, ValueError):
        raise SecurityError(f"{SIGNATURE_ATTR} is not valid base64") from None
    key = verify_key_from_b64(public) if isinstance(public, str) else public
    try:
        key.verify(signature, canonical_ad_bytes(values, names))
    except InvalidSignature:
        raise SecurityError(f"bad {SIGNATURE_ATTR} (tampered ad or another signer's key)") from None
    return {lower[n.lower()]: values[lower[n.lower()]] for n in names}


# ---------------------------------------------------------------- sealing


def _derive(shared: bytes, eph_pub: bytes, recipient_pub: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO + eph_pub + recipient_pub)
    return hkdf.derive(shared)


def _raw(public: X25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def seal(public: X25519PublicKey | str, plaintext: bytes, aad: bytes | str) -> str:
    """Encrypt `plaintext` for the holder of `public`'s private key; `aad` is bound, not hidden."""
    recipient = box_key_from_b64(public) if isinstance(public, str) else public
    aad_bytes = aad.encode("utf-8") if isinstance(aad, str) else aad
    ephemeral = X25519PrivateKey.generate()
    eph_pub = _raw(ephemeral.public_key())
    key = _derive(ephemeral.exchange(recipient), eph_pub, _raw(recipient))
    nonce = os.urandom(_NONCE_LEN)
    ciphertext = ChaCha20Poly1305(key).encrypt(nonce, plaintext, aad_bytes)
    return base64.b64encode(eph_pub + nonce + ciphertext).decode("ascii")


def open_sealed(private: X25519PrivateKey, blob: str, aad: bytes | str) -> bytes:
    """Decrypt a `seal` blob; SecurityError if it is malformed, altered, for another key or aad."""
    aad_bytes = aad.encode("utf-8") if isinstance(aad, str) else aad
    try:
        raw = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        raise SecurityError("sealed blob is not valid base64") from None
    if len(raw) < _PUB_LEN + _NONCE_LEN + 16:
        raise SecurityError(f"sealed blob too short ({len(raw)} bytes)")
    eph_pub, nonce, ciphertext = raw[:_PUB_LEN], raw[_PUB_LEN : _PUB_LEN + _NONCE_LEN], raw[_PUB_LEN + 12 :]
    try:
        shared = private.exchange(X25519PublicKey.from_public_bytes(eph_pub))
    except ValueError:
        raise SecurityError("sealed blob has an invalid ephemeral key") from None
    key = _derive(shared, eph_pub, _raw(private.public_key()))
    try:
        return ChaCha20Poly1305(key).decrypt(nonce, ciphertext, aad_bytes)
    except InvalidTag:
        raise SecurityError(
            "sealed blob does not open (altered, wrong key or wrong associated data)"
        ) from None
