"""Pilot credentials: short-lived tokens minted per (credential, entry), reused while fresh.

`token` credentials are the embedded pool's tokens (`glidein.common.tokens`, the same key and
format as `glidein token create`); `idtoken` credentials are HTCondor IDTOKENs from the pool
signing key (`frontend.idtokens`). A token is re-minted when less than half of its lifetime is
left, so the sealed parameters (and the factory's view of the credential) change only then.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from glidein.common import tokens
from glidein.common.config.frontend import Credential
from glidein.frontend import idtokens

TOKEN_PARAM = "GLIDEIN_Token"  # noqa: S105 - the name of the parameter, not a secret


def choose(credentials: Sequence[Credential], auth_methods: object) -> Credential | None:
    """The first credential whose type the entry supports (GLIDEIN_Supported_AuthMethods), else the
    first one."""
    if not credentials:
        return None
    if isinstance(auth_methods, str) and auth_methods.strip():
        supported = {m.strip().lower() for m in auth_methods.split(",")}
        for cred in credentials:
            if cred.type in supported:
                return cred
    return credentials[0]


@dataclass
class _Minted:
    token: str
    expires: float


class TokenMinter:
    def __init__(self, default_issuer: str, clock: Callable[[], float] = time.time) -> None:
        self.default_issuer, self.clock = default_issuer, clock
        self._keys: dict[str, bytes] = {}
        self._cache: dict[tuple[str, str], _Minted] = {}

    def _key(self, cred: Credential) -> bytes:
        key = self._keys.get(cred.name)
        if key is None:
            if cred.type == "idtoken":
                key = idtokens.load_signing_key(cred.pool_key)
            else:
                key = tokens.load_key(cred.pool_key)
            self._keys[cred.name] = key
        return key

    def token(self, cred: Credential, subject: str, entry: str) -> str:
        """A token for `subject`'s pilots at `entry`, fresh for at least half its lifetime."""
        now = self.clock()
        cached = self._cache.get((cred.name, entry))
        if cached is not None and cached.expires - now > cred.lifetime / 2:
            return cached.token
        issuer = cred.issuer or self.default_issuer
        if cred.type == "idtoken":
            authz = idtokens.STARTD_AUTHZ if cred.scopes == ["startd"] else tuple(cred.scopes)
            # HTCondor authorizes `user@domain` identities (ALLOW_ADVERTISE_STARTD = fe.main@<domain>)
            who = subject if "@" in subject else f"{subject}@{issuer}"
            text = idtokens.mint(self._key(cred), who, issuer, authz, lifetime_s=cred.lifetime, now=now)
        else:
            text = tokens.mint(self._key(cred), subject, cred.scopes, cred.lifetime, issuer, now=now)
        self._cache[(cred.name, entry)] = _Minted(text, now + cred.lifetime)
        return text
