"""HTCondor IDTOKENs minted from the pool signing key, for pilots joining a real HTCondor pool.

How HTCondor does it (read in htcondor's src/condor_utils/store_cred.cpp `getTokenSigningKey`,
src/condor_utils/secure_file.cpp `simple_scramble` and src/condor_io/condor_auth_passwd.cpp
`Condor_Auth_Passwd::generate_token`; facts only, no code taken):

1. The POOL signing key file (SEC_TOKEN_POOL_SIGNING_KEY_FILE, written by condor_store_cred) holds
   the key XOR-scrambled with the repeating bytes DE AD BE EF. Unscramble it the same way.
2. For the POOL key (key id "POOL"), the unscrambled key is doubled: key || key (kept so that
   tokens issued before 8.9.12 still verify). Named keys from SEC_PASSWORD_DIRECTORY are not.
   (HTCondor truncates at the first NUL only when SEC_TOKEN_POOL_SIGNING_KEY_IS_PASSWORD is set;
   we do not.)
3. The JWT key = HKDF-SHA256(input key = that key, salt = b"htcondor", info = b"master jwt",
   length 32).
4. The token is a JWT signed HS256 with that key: header {"alg": "HS256", "kid": "POOL"}; claims
   `iss` (the pool's TRUST_DOMAIN), `sub` (user@domain), `iat`, `exp`, `jti` (32 hex characters)
   and `scope` = "condor:/READ condor:/ADVERTISE_STARTD ..." (space-separated authorizations).
   JSON objects are written with sorted keys and no spaces, as jwt-cpp's picojson does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from glidein.common.errors import ConfigError, SecurityError

SCRAMBLE = bytes([0xDE, 0xAD, 0xBE, 0xEF])
POOL_KID = "POOL"
# What a pilot's condor_master and condor_startd need to join the pool.
STARTD_AUTHZ = ("READ", "ADVERTISE_STARTD", "ADVERTISE_MASTER")


def scramble(data: bytes) -> bytes:
    """HTCondor's simple_scramble: XOR with DE AD BE EF repeated (its own inverse)."""
    return bytes(b ^ SCRAMBLE[i % 4] for i, b in enumerate(data))


def signing_key(file_bytes: bytes, kid: str = POOL_KID) -> bytes:
    """The signing key from a key file's bytes: unscrambled, doubled for the POOL key."""
    if not file_bytes:
        raise ConfigError("the token signing key file is empty")
    key = scramble(file_bytes)
    return key + key if kid == POOL_KID else key


def load_signing_key(path: str | Path, kid: str = POOL_KID) -> bytes:
    target = Path(path)
    try:
        mode = target.stat().st_mode
        data = target.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{target}: cannot read the HTCondor signing key: {exc.strerror}") from None
    if mode & 0o077:
        raise ConfigError(
            f"{target}: signing key is readable by others (mode {mode & 0o777:o}); chmod 600 it"
        )
    return signing_key(data, kid)


def jwt_key(key: bytes) -> bytes:
    """HKDF-SHA256(key, salt "htcondor", info "master jwt") -> 32 bytes."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"htcondor", info=b"master jwt").derive(key)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def mint(
    key: bytes,
    subject: str,
    issuer: str,
    authz: Sequence[str] = STARTD_AUTHZ,
    *,
    lifetime_s: int = 3600,
    kid: str = POOL_KID,
    now: float | None = None,
    jti: str | None = None,
) -> str:
    """An IDTOKEN for `subject` signed with `key` (from `signing_key`/`load_signing_key`)."""
    if lifetime_s <= 0:
        raise ConfigError(f"token lifetime must be > 0 seconds, got {lifetime_s}")
    if any(c in issuer for c in ", \t") or not issuer:
        raise ConfigError(
            f"token issuer (trust domain) {issuer!r} must be non-empty without spaces or commas"
        )
    issued = int(time.time() if now is None else now)
    claims: dict[str, object] = {
        "iss": issuer,
        "sub": subject,
        "iat": issued,
        "exp": issued + int(lifetime_s),
        "jti": jti or secrets.token_hex(16),
    }
    if authz:
        claims["scope"] = " ".join(f"condor:/{a}" for a in authz)
    signing_input = _b64(_json({"alg": "HS256", "kid": kid})) + "." + _b64(_json(claims))
    signature = hmac.new(jwt_key(key), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def verify(key: bytes, token: str, now: float | None = None) -> dict[str, object]:
    """The claims of a valid, unexpired IDTOKEN signed with `key`; SecurityError otherwise."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise SecurityError("not a JWT (expected three dot-separated parts)")
    expected = hmac.new(jwt_key(key), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(_b64(expected), parts[2]):
        raise SecurityError("IDTOKEN signature does not verify with this signing key")
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        raise SecurityError("IDTOKEN claims are not JSON") from None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if not isinstance(exp, int) or (time.time() if now is None else now) >= exp:
        raise SecurityError("IDTOKEN expired or without exp")
    return dict(claims)
