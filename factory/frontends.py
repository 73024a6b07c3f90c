"""The glideclientglobal ads addressed to this factory: which frontends talk to it, as they say.

One ad per frontend (docs/INTERFACES.md section 8), read once a cycle. It is believed only with
the trust requests need (factory/requests.py): a configured FrontendName, signed by a key that
`frontends[].signing_keys` lists under the ad's FrontendSigningKeyID, a signed ReqExpiry not past
(`requests.check_expiry`, same skew allowance) and an AdSequence not older than the last one
seen. Only its signed attributes are read. Nothing here decides what is submitted; the factory
logs what changes (a frontend appears, changes or goes; an ad it refuses), and `status.json`
(`glidein factory status`) shows what the frontends say of themselves.

An operator learns here what glideclient ads alone do not say: the key id a frontend signs with
when it is not configured (its public key is in the ad, to compare with what the frontend's
operator sent), an identity other than the configured one (as the frontend says it, and as the
collector authenticated it, `AuthenticatedIdentity`), and a frontend that still seals its secrets
for a key this factory no longer has.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass

from glidein.common import crypto
from glidein.common.errors import GlideinError, ProtocolError, SecurityError
from glidein.factory.requests import FrontendTrust, check_expiry, plain

log = logging.getLogger(__name__)
MY_TYPE = "glideclientglobal"


@dataclass(frozen=True)
class FrontendSeen:
    """What a verified glideclientglobal ad says, and what an operator should look at."""

    name: str
    identity: str
    authenticated: str  # AuthenticatedIdentity added by an authenticating collector, else ""
    key_id: str
    groups: tuple[str, ...]
    requests: int  # glideclient ads it sent this factory in its last cycle
    version: str
    sequence: int
    lifetime: int
    notes: tuple[str, ...] = ()

    def describe(self) -> str:
        text = (
            f"frontend={self.name} identity={self.identity} key_id={self.key_id} "
            f"groups={','.join(self.groups) or '-'} requests={self.requests} version={self.version or '-'}"
        )
        return text + "".join(f"; {note}" for note in self.notes)

    def as_status(self) -> dict[str, object]:
        return asdict(self)


def _text(values: Mapping[str, object], attr: str) -> str:
    value = values.get(attr)
    return value if isinstance(value, str) else ""


def _number(values: Mapping[str, object], attr: str) -> int:
    value = values.get(attr)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProtocolError(f"{attr}={value!r} is not a non-negative integer")
    return value


@dataclass(frozen=True)
class Expectations:
    """What this factory knows of its frontends (its config) and of itself."""

    trust: Mapping[str, FrontendTrust]
    identities: Mapping[str, str]  # frontend name -> configured identity
    global_name: str  # our glidefactoryglobal Name: glidein@factory


def verify(
    ad: Mapping[str, object], known: Expectations, seal_keys: Collection[str], now: float | None = None
) -> FrontendSeen:
    """The FrontendSeen of one ad, or GlideinError saying why it is not believed."""
    frontend = _text(ad, "FrontendName")
    trust = known.trust.get(frontend)
    if trust is None:
        raise SecurityError(f"frontend {frontend!r} is not configured (frontends[].name)")
    key_ident = _text(ad, "FrontendSigningKeyID")
    public = trust.keys.get(key_ident)
    if public is None:
        shown = _text(ad, "FrontendSigningKey") or "not in the ad"
        raise SecurityError(
            f"signed with key id {key_ident!r}, not one of frontend {frontend}'s signing_keys "
            f"(the ad says its public key is {shown}: add it only if its operator confirms it)"
        )
    signed = crypto.verify_ad(ad, public)
    if _text(signed, "FrontendName") != frontend or _text(signed, "ReqName") != known.global_name:
        raise ProtocolError("FrontendName or ReqName is not signed")
    check_expiry(signed, time.time() if now is None else now)
    identity, expected = _text(signed, "FrontendIdentity"), known.identities.get(frontend, "")
    authenticated = _text(ad, "AuthenticatedIdentity")  # the collector's, never signed
    notes = []
    if identity != expected:
        notes.append(f"says identity {identity!r}, configured {expected!r}")
    if authenticated and authenticated != expected:
        notes.append(f"the collector authenticated it as {authenticated!r}, configured {expected!r}")
    stale = sorted({k for k in _text(signed, "ReqPubKeyID").split(",") if k} - set(seal_keys))
    if stale:
        notes.append(f"seals secrets for key id(s) {','.join(stale)} this factory no longer has")
    groups = tuple(g for g in _text(signed, "GroupNames").split(",") if g)
    return FrontendSeen(
        name=frontend,
        identity=identity,
        authenticated=authenticated,
        key_id=key_ident,
        groups=groups,
        requests=_number(signed, "NumberOfRequests"),
        version=_text(signed, "FrontendVersion"),
        sequence=_number(signed, "AdSequence"),
        lifetime=_number(signed, "ClassAdLifetime"),
        notes=tuple(notes),
    )


class FrontendWatch:
    """The frontends seen through their glideclientglobal ads, cycle after cycle (logs changes)."""

    def __init__(self, known: Expectations) -> None:
        self.known = known
        self.seen: dict[str, FrontendSeen] = {}
        self.refused: dict[str, str] = {}  # ad Name -> why (logged once per change)

    def update(
        self, ads: Iterable[Mapping[str, object]], seal_keys: Collection[str], clock: float | None = None
    ) -> dict[str, FrontendSeen]:
        """Take this cycle's ads (ours are kept by ReqName); returns the frontends seen now."""
        now: dict[str, FrontendSeen] = {}
        refused: dict[str, str] = {}
        for ad in ads:
            if plain(ad, "ReqName") != self.known.global_name:
                continue
            name = str(plain(ad, "Name"))
            try:
                seen = verify(ad, self.known, seal_keys, clock)
                last = self.seen.get(seen.name)
                if last is not None and seen.sequence < last.sequence:
                    raise SecurityError(f"AdSequence {seen.sequence} is older than {last.sequence}")
            except GlideinError as exc:
                refused[name] = str(exc)
                if self.refused.get(name) != refused[name]:
                    log.warning("ignoring %s Name=%s: %s", MY_TYPE, name, exc)
                continue
            now[seen.name] = seen
        self._log_changes(now)
        self.seen, self.refused = now, refused
        return now

    def _log_changes(self, now: Mapping[str, FrontendSeen]) -> None:
        for name in sorted(now):
            seen, last = now[name], self.seen.get(name)
            if last is None or (seen.identity, seen.key_id, seen.groups, seen.notes) != (
                last.identity,
                last.key_id,
                last.groups,
                last.notes,
            ):
                level = logging.WARNING if seen.notes else logging.INFO
                log.log(
                    level, "%s %s", "frontend seen:" if last is None else "frontend changed:", seen.describe()
                )
        for name in sorted(set(self.seen) - set(now)):
            log.info("frontend=%s no longer advertises its %s ad (stopped or expired)", name, MY_TYPE)

    def status(self) -> dict[str, object]:
        """For status.json: the frontends seen and the ads refused (with why)."""
        return {
            "seen": {name: seen.as_status() for name, seen in sorted(self.seen.items())},
            "refused": dict(sorted(self.refused.items())),
        }
