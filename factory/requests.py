"""Validation of glideclient requests: signed, fresh, allowed, decryptable; else skipped with one line.

A request is honoured only when
* its FrontendName is configured, and it is signed (Ed25519, `common.crypto.verify_ad`) by the key
  that configuration lists under the ad's FrontendSigningKeyID; only signed attributes are read;
* it has not expired: its signed `ReqExpiry` (unix time, signing time + lifetime) is no more than
  CLOCK_SKEW (60 s) before our clock, and no more than MAX_LIFETIME + CLOCK_SKEW after it. A request
  without ReqExpiry (a frontend older than this check) is refused with a line saying so;
* it is fresh: AdSequence strictly greater than the last one accepted for this (frontend, Name),
  or the very same ad (same sequence and signature) read again; an older one is a replay. Sequences
  are judged only against an accepted request that has not expired, so one far-future AdSequence
  (a frontend whose clock jumped, then lost its state) locks nobody out beyond its own lifetime;
* its SecurityClass is allowed for that frontend and ReqName is one of our entries;
* GlideinEncParams opens with our X25519 key ReqPubKeyID (current or still in its grace period),
  the associated data being "<FrontendName>|<Name>".
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from glidein.common import crypto
from glidein.common.errors import GlideinError, ProtocolError, SecurityError
from glidein.factory.entry import REMOVE_MODES, ClientRequest
from glidein.factory.state import StateWriteError

log = logging.getLogger(__name__)
PARAM_PREFIX = "GlideinParam"
CLOCK_SKEW = 60.0  # seconds a frontend's clock may be behind or ahead of ours
MAX_LIFETIME = 86_400.0  # a signed request honoured for at most a day after it was signed
# what tells a request ad validated before (RequestValidator.known): a projected query reads only these
KEY_ATTRS = ("Name", "FrontendName", "ReqName", "AdSequence", crypto.SIGNATURE_ATTR, "ReqPubKeyID")
MAX_OPENED = 200_000  # sealed blobs kept opened (about 2 per request of a 5,000 x 10 factory)


@dataclass(frozen=True)
class FrontendTrust:
    """What the factory configuration says about one frontend."""

    name: str
    keys: Mapping[str, str]  # key id -> Ed25519 public key, base64
    security_classes: frozenset[str] = frozenset({"*"})

    @classmethod
    def from_keys(cls, name: str, keys: Iterable[str], classes: Iterable[str] = ("*",)) -> FrontendTrust:
        return cls(name, {crypto.key_id(k): k for k in keys}, frozenset(classes))


@dataclass(frozen=True)
class ValidRequest:
    entry: str  # entry ad Name (entry@glidein@factory)
    name: str  # the glideclient ad Name
    request: ClientRequest
    group: str
    sequence: int
    signature: str
    expiry: float
    params: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def credential_id(self) -> str:
        """A stable id of the secret parameters (never the secrets themselves)."""
        blob = json.dumps(self.secrets, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12] if self.secrets else ""


Accepted = tuple[int, str, float]  # AdSequence, signature, ReqExpiry of the last accepted request


class SequenceStore(Protocol):
    def last_sequence(self, frontend: str, name: str) -> Accepted | None: ...

    def save_sequence(self, frontend: str, name: str, accepted: Accepted) -> None: ...


class MemorySequences:
    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], Accepted] = {}

    def last_sequence(self, frontend: str, name: str) -> Accepted | None:
        return self.seen.get((frontend, name))

    def save_sequence(self, frontend: str, name: str, accepted: Accepted) -> None:
        self.seen[(frontend, name)] = accepted


def _str(ad: Mapping[str, object], attr: str) -> str:
    value = ad.get(attr)
    if not isinstance(value, str) or not value:
        raise ProtocolError(f"{attr} missing or not a string")
    return value


def plain(ad: Mapping[str, object], attr: str) -> str | None:
    """A string attribute of an unverified ad, None if it is anything else (an expression is
    never unparsed, hashed or logged before its ad is verified)."""
    value = ad.get(attr)
    return value if isinstance(value, str) else None


def _number(ad: Mapping[str, object], attr: str) -> int | None:
    value = ad.get(attr)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _int(ad: Mapping[str, object], attr: str, default: int | None = None) -> int:
    value = ad.get(attr, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        shown = repr(value) if isinstance(value, str | int | float | None) else type(value).__name__
        raise ProtocolError(f"{attr}={shown} is not a non-negative integer")
    return value


def _figure(signed: Mapping[str, object], *attrs: str) -> int:
    """A signed monitoring figure of the request: the first of `attrs` it has (0 when none, or not
    a count: it only shows). The entry's own share of the jobs (IdleShare, RunningHere) comes
    before glideinWMS's Idle/Running, which count a job at every entry it matches."""
    value = next((signed[a] for a in attrs if a in signed), 0)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def check_expiry(signed: Mapping[str, object], now: float) -> float:
    """The signed ReqExpiry of an ad, or SecurityError/ProtocolError when it must not be honoured."""
    value = signed.get("ReqExpiry")
    if value is None:
        raise ProtocolError("no signed ReqExpiry (a frontend older than request expiry): refused")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProtocolError(f"ReqExpiry={value!r} is not a number")
    if value + CLOCK_SKEW < now:
        raise SecurityError(
            f"expired request: ReqExpiry {value:.0f} is {now - value:.0f} s ago"
            f" (skew allowance {CLOCK_SKEW:.0f} s)"
        )
    if value > now + MAX_LIFETIME + CLOCK_SKEW:
        raise SecurityError(f"ReqExpiry {value:.0f} is too far in the future ({value - now:.0f} s from now)")
    return float(value)


def check_fresh(previous: Accepted | None, sequence: int, signature: str, now: float) -> None:
    """Raise SecurityError for a replayed (older, or same sequence with other content) ad.

    Only an accepted request that has not expired judges: after it expires any fresh one may follow.
    """
    if previous is None:
        return
    last, last_sig, last_expiry = previous
    if last_expiry + CLOCK_SKEW < now:
        return
    if sequence < last or (sequence == last and signature != last_sig):
        raise SecurityError(f"replayed request: AdSequence {sequence} <= last accepted {last}")


class RequestValidator:
    def __init__(
        self,
        frontends: Mapping[str, FrontendTrust],
        factory_keys: Mapping[str, X25519PrivateKey],  # key id -> private key (current + in grace)
        entries: Iterable[str],  # entry ad Names
        sequences: SequenceStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.frontends, self.factory_keys = frontends, factory_keys
        self.entries, self.sequences, self.clock = frozenset(entries), sequences, clock
        self._seen: dict[tuple[object, object], ValidRequest] = {}
        self._opened: dict[tuple[str, str, str], dict[str, str]] = {}  # (key id, blob, aad) -> secrets

    def validate(self, ad: Mapping[str, object]) -> ValidRequest:
        """One request, or GlideinError (SecurityError/ProtocolError) saying why not.

        The very ad validated before (same Name, AdSequence and signature) is answered from a
        cache: its values come from that verified ad, never from the one at hand; its expiry is
        checked again.
        """
        cached = self.known(ad)
        if cached is not None:
            return cached
        valid = self._validate(ad)
        self._seen[(plain(ad, "FrontendName"), plain(ad, "Name"))] = valid
        return valid

    def known(self, ad: Mapping[str, object]) -> ValidRequest | None:
        """The request validated before from this very ad (same Name, AdSequence and signature:
        KEY_ATTRS are enough to tell), its expiry checked again; None when it is not that ad."""
        cached = self._seen.get((plain(ad, "FrontendName"), plain(ad, "Name")))
        if (
            cached is not None
            and cached.sequence == _number(ad, "AdSequence")
            and cached.signature == plain(ad, crypto.SIGNATURE_ATTR)
            and (not cached.secrets or plain(ad, "ReqPubKeyID") in self.factory_keys)
        ):
            check_expiry({"ReqExpiry": cached.expiry}, self.clock())
            return cached
        return None

    def _validate(self, ad: Mapping[str, object]) -> ValidRequest:
        frontend = _str(ad, "FrontendName")
        trust = self.frontends.get(frontend)
        if trust is None:
            raise SecurityError(f"frontend {frontend!r} is not allowed")
        key_ident = _str(ad, "FrontendSigningKeyID")
        public = trust.keys.get(key_ident)
        if public is None:
            raise SecurityError(f"FrontendSigningKeyID {key_ident} is not a key of frontend {frontend}")
        signed = crypto.verify_ad(ad, public)
        return self._checked(trust, signed, _str(ad, crypto.SIGNATURE_ATTR))

    def _checked(self, trust: FrontendTrust, signed: Mapping[str, object], signature: str) -> ValidRequest:
        frontend = _str(signed, "FrontendName")
        if frontend != trust.name:
            raise SecurityError("FrontendName is not signed")
        name, entry, group = _str(signed, "Name"), _str(signed, "ReqName"), _str(signed, "GroupName")
        client = _str(signed, "ClientName")
        if client != f"{frontend}.{group}" or name != f"{entry}@{client}":
            raise ProtocolError(f"inconsistent Name/ReqName/ClientName ({name})")
        if entry not in self.entries:
            raise ProtocolError(f"ReqName {entry} is not an entry of this factory")
        sec = _str(signed, "SecurityClass")
        if "*" not in trust.security_classes and sec not in trust.security_classes:
            raise SecurityError(f"security class {sec!r} is not allowed for frontend {frontend}")
        now = self.clock()
        expiry = check_expiry(signed, now)
        sequence = _int(signed, "AdSequence")
        check_fresh(self.sequences.last_sequence(frontend, name), sequence, signature, now)
        secrets = self._secrets(signed, frontend, name)
        mode = signed.get("ReqRemoveExcess", "NO")
        if mode not in REMOVE_MODES:
            raise ProtocolError(f"ReqRemoveExcess={mode!r} is not one of {', '.join(REMOVE_MODES)}")
        lifetime = signed.get("ReqIdleLifetime", 0)
        request = ClientRequest(
            client=client,
            frontend=frontend,
            security_class=sec,
            req_idle=_int(signed, "ReqIdleGlideins"),
            req_max=_int(signed, "ReqMaxGlideins"),
            remove_excess=str(mode),
            remove_margin=_int(signed, "ReqRemoveExcessMargin", 0),
            idle_lifetime=float(lifetime) if isinstance(lifetime, int | float) else 0.0,
            jobs_idle=_figure(signed, "GlideinMonitorIdleShare", "GlideinMonitorIdle"),
            jobs_running=_figure(signed, "GlideinMonitorRunningHere", "GlideinMonitorRunning"),
        )
        self.sequences.save_sequence(frontend, name, (sequence, signature, expiry))
        return ValidRequest(
            entry, name, request, group, sequence, signature, expiry, _params(signed), secrets
        )

    def _secrets(self, signed: Mapping[str, object], frontend: str, name: str) -> dict[str, str]:
        blob = signed.get("GlideinEncParams")
        if blob is None:
            return {}
        key_ident = _str(signed, "ReqPubKeyID")
        private = self.factory_keys.get(key_ident)
        if private is None:
            raise SecurityError(f"ReqPubKeyID {key_ident} is not a current factory key")
        if not isinstance(blob, str):
            raise ProtocolError("GlideinEncParams is not a string")
        aad = f"{frontend}|{name}"
        opened = self._opened.get((key_ident, blob, aad))
        if opened is not None:  # the frontend re-signs each cycle around the same sealed blob
            return dict(opened)
        secrets = self._open(private, blob, aad)
        if len(self._opened) >= MAX_OPENED:
            self._opened.clear()
        self._opened[(key_ident, blob, aad)] = secrets
        return dict(secrets)

    @staticmethod
    def _open(private: X25519PrivateKey, blob: str, aad: str) -> dict[str, str]:
        plain = crypto.open_sealed(private, blob, aad)
        try:
            data = json.loads(plain)
        except ValueError:
            raise ProtocolError("GlideinEncParams is not JSON") from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise ProtocolError("GlideinEncParams is not a JSON object of strings")
        return {str(k): v for k, v in data.items()}


def _params(signed: Mapping[str, object]) -> dict[str, str]:
    out: dict[str, str] = {}
    for attr, value in signed.items():
        if attr.startswith(PARAM_PREFIX) and len(attr) > len(PARAM_PREFIX):
            out[attr[len(PARAM_PREFIX) :]] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def _skipped(ad: Mapping[str, object], exc: GlideinError) -> None:
    """One log line for a request ad left out, naming it, never its secrets."""
    name, frontend = plain(ad, "Name"), plain(ad, "FrontendName")
    log.warning("skipping glideclient Name=%s FrontendName=%s: %s", name, frontend, exc)


def split_known(
    validator: RequestValidator, ads: Iterable[Mapping[str, object]]
) -> tuple[list[ValidRequest], set[tuple[str | None, str | None]]]:
    """(requests known from the very same ads, (FrontendName, Name) of the others): `ads` may
    carry KEY_ATTRS only (a projected query); the others must be read whole and validated."""
    known: list[ValidRequest] = []
    other: set[tuple[str | None, str | None]] = set()
    for ad in ads:
        try:
            hit = validator.known(ad)
        except GlideinError as exc:
            _skipped(ad, exc)
            continue
        if hit is None:
            other.add((plain(ad, "FrontendName"), plain(ad, "Name")))
        else:
            known.append(hit)
    return known, other


def validate_all(validator: RequestValidator, ads: Iterable[Mapping[str, object]]) -> list[ValidRequest]:
    """The valid requests among `ads`; one log line per skipped ad, never its secrets.

    StateWriteError (its sequence cannot be recorded) is not the ad's fault: it stops the lot."""
    valid: list[ValidRequest] = []
    for ad in ads:
        try:
            valid.append(validator.validate(ad))
        except StateWriteError:
            raise
        except GlideinError as exc:
            _skipped(ad, exc)
    return valid
