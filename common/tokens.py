"""Pool tokens: HMAC-SHA256 signed, JWT-like, scoped and expiring (docs/INTERFACES.md section 4).

A token is ``base64url(header).base64url(claims).base64url(signature)`` with header
``{"alg": "HS256", "typ": "glidein"}`` and claims ``iss, sub, scope (list), iat, exp, jti``.
The signature is HMAC-SHA256 with the pool key over ``header_b64 + "." + claims_b64``.
The pool key is 32 random bytes stored as hex in a 0600 file. Startds send
``Authorization: Bearer <token>`` and need scope ``"startd"``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from collections.abc import Sequence
from pathlib import Path

from glidein.common.errors import ConfigError, SecurityError

KEY_BYTES = 32
_HEADER = {"alg": "HS256", "typ": "glidein"}
_MAX_TOKEN_LEN = 8192
_CLOCK_SKEW_S = 60
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def generate_key(path: str | Path) -> None:
    """Write a new random pool key (hex) to `path` with mode 0600; refuse to overwrite one."""
    target = Path(path)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{target}: key file exists; remove it first to make a new pool key") from None
    except OSError as exc:
        raise ConfigError(f"{target}: cannot create key file: {exc.strerror}") from None
    with os.fdopen(fd, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(secrets.token_bytes(KEY_BYTES).hex() + "\n")


def load_key(path: str | Path) -> bytes:
    """Read a pool key file; ConfigError when unreadable, malformed or readable by others."""
    target = Path(path)
    try:
        mode = target.stat().st_mode
        text = target.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"{target}: cannot read pool key: {exc.strerror}") from None
    if mode & 0o077:
        raise ConfigError(f"{target}: pool key is readable by others (mode {mode & 0o777:o}); chmod 600 it")
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise ConfigError(f"{target}: pool key is not hex") from None
    if len(key) != KEY_BYTES:
        raise ConfigError(f"{target}: pool key must be {KEY_BYTES} bytes, found {len(key)}")
    return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """Strict: only the base64url alphabet, no padding, and the one encoding of its bytes (the
    lenient decoder skips stray characters, so one token would have many accepted spellings)."""
    if not _B64URL.fullmatch(text):
        raise SecurityError("token is not base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise SecurityError("token is not base64url") from None
    if _b64(data) != text:
        raise SecurityError("token is not canonical base64url")
    return data


def _sign(key: bytes, signing_input: str) -> bytes:
    return hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()


def mint(  # noqa: PLR0917 - signature fixed by docs/INTERFACES.md section 4
    key: bytes,
    subject: str,
    scopes: Sequence[str],
    lifetime_s: int,
    issuer: str,
    now: float | None = None,
) -> str:
    """A token for `subject` with `scopes`, valid `lifetime_s` seconds from `now`."""
    if lifetime_s <= 0:
        raise ConfigError(f"token lifetime must be > 0 seconds, got {lifetime_s}")
    if isinstance(scopes, str):
        raise ConfigError("token scopes must be a list of names, not one string")
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": issuer,
        "sub": subject,
        "scope": list(scopes),
        "iat": issued,
        "exp": issued + int(lifetime_s),
        "jti": secrets.token_hex(8),
    }
    header_b64 = _b64(json.dumps(_HEADER, separators=(",", ":"), sort_keys=True).encode())
    claims_b64 = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    signing_input = f"{header_b64}.{claims_b64}"
    return f"{signing_input}.{_b64(_sign(key, signing_input))}"


def verify(key: bytes, token: str, scope: str, now: float | None = None) -> dict[str, object]:
    """The claims of a valid, unexpired `token` carrying `scope`; SecurityError otherwise."""
    token = token.strip()
    if len(token) > _MAX_TOKEN_LEN:
        raise SecurityError("token is too long")
    if not token.isascii():
        raise SecurityError("token is malformed (non-ASCII characters)")
    parts = token.split(".")
    if len(parts) != 3:
        raise SecurityError("token is malformed (expected three dot-separated parts)")
    header_b64, claims_b64, sig_b64 = parts
    if not hmac.compare_digest(_sign(key, f"{header_b64}.{claims_b64}"), _unb64(sig_b64)):
        raise SecurityError("token signature does not verify with this pool key")
    try:
        header = json.loads(_unb64(header_b64))
        claims = json.loads(_unb64(claims_b64))
    except (ValueError, UnicodeDecodeError):
        raise SecurityError("token header or claims are not JSON") from None
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise SecurityError("token algorithm is not HS256")
    if not isinstance(claims, dict):
        raise SecurityError("token claims are not an object")
    _check_claims(claims, scope, time.time() if now is None else now)
    return claims


def _check_claims(claims: dict[str, object], scope: str, now: float) -> None:
    exp, iat, scopes = claims.get("exp"), claims.get("iat"), claims.get("scope")
    if not isinstance(exp, int) or not isinstance(iat, int):
        raise SecurityError("token has no valid exp/iat claims")
    if now >= exp:
        raise SecurityError(f"token expired {int(now - exp)} s ago")
    if iat > now + _CLOCK_SKEW_S:
        raise SecurityError("token is issued in the future")
    if not isinstance(scopes, list) or scope not in scopes:
        raise SecurityError(f"token lacks scope {scope!r}")
    if not isinstance(claims.get("sub"), str):
        raise SecurityError("token has no subject")
