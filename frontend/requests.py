"""Factory ads in (verified), glideclient requests and glideresource ads out (docs/INTERFACES.md section 8).

In: `glidefactory` ads are believed only when signed (`GlideinSignature`) by the Ed25519 key the
frontend config lists for their FactoryName (`security.trusted_factories`), and the key the ad
itself carries (FactorySigningKey) is that key. Only the signed attributes are used; an ad with a
bad signature or an untrusted key is skipped with one log line.

Out: one `glideclient` ad per (entry, group) with the credential the group uses at that entry:
Name "<entry ad Name>@<frontend>.<group>", the request numbers, the entry's job figures
(`GlideinMonitor<name>`, as glideinWMS), plain `GlideinParam<NAME>` values,
and the secrets (pilot token) sealed with `crypto.seal` for the entry's X25519 key (PubKeyValue,
ReqPubKeyID), associated data "<FrontendName>|<Name>". AdSequence is strictly increasing per
frontend (`Sequencer`, kept in the state directory). The ad is signed last with the frontend's
Ed25519 key. One `glideclientglobal` ad per factory whose entries we see (`global_ads`): who we
are (identity, signing key, groups) and how many requests we sent it, signed the same way.
`glideresource` ads (per entry and group, to the user pool) carry glideinWMS's
GlideClientMonitor* numbers, the entry's attributes and the GlideClientLimit*/GlideClientCurb*
that were reached.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from glidein.common import classads, crypto, glideclient
from glidein.common.classads import ClassAd
from glidein.common.errors import ConfigError, GlideinError
from glidein.frontend.ad_build import Expr, ad_of

log = logging.getLogger(__name__)
_NOT_ENTRY_ATTRS = frozenset(
    a.lower()
    for a in (
        "MyType",
        "Name",
        "CurrentTime",
        "PubKeyValue",
        "PubKeyType",
        "PubKeyID",
        "AuthenticatedIdentity",
        "GlideinName",
        "FactoryName",
        "EntryName",
        "LastHeardFrom",
        "GLIDEIN_In_Downtime",
        "FactorySigningKey",
        "GlideinSignature",
        "GlideinSignedAttrs",
        "ClassAdLifetime",
        "Requirements",
        "MyAddress",
        "UpdateSequenceNumber",
        "AuthenticatedIdentity",
    )
)


@dataclass(frozen=True)
class Entry:
    """A verified glidefactory ad: its Name and an ad of its signed attributes only."""

    name: str
    factory: str
    ad: ClassAd
    pub_key: str  # X25519 public key (base64) to seal secrets for
    pub_key_id: str
    # What the glideresource ads take of the entry ad, unparsed once (`resource_ad`): the same
    # Entry comes back every cycle while its ad is unchanged (EntryVerifier).
    resource_attrs: dict[str, Expr] = field(default_factory=dict, compare=False, repr=False)

    @property
    def in_downtime(self) -> bool:
        return classads.eval_attr(self.ad, "GLIDEIN_In_Downtime") is True

    @property
    def blocked(self) -> bool:
        """Blocked by its factory (black hole: its pilots kept failing): GLIDEIN_Blocked."""
        return classads.eval_attr(self.ad, "GLIDEIN_Blocked") is True

    @property
    def blocked_until(self) -> int | None:
        """GLIDEIN_BlockedUntil (unix time) when the factory says when the block ends."""
        value = classads.eval_attr(self.ad, "GLIDEIN_BlockedUntil")
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            return None
        return int(value)

    def closed_reason(self) -> str:
        """Why the entry takes no new pilot, in words ("" when it is open)."""
        if self.in_downtime:
            return "entry in downtime (GLIDEIN_In_Downtime)"
        if not self.blocked:
            return ""
        reason = self.attr("GLIDEIN_BlockedReason")
        text = "entry blocked by its factory (GLIDEIN_Blocked)"
        if isinstance(reason, str) and reason:
            text += f": {reason}"
        until = self.blocked_until
        if until is not None:
            text += f", until {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(until))}"
        return text

    def attr(self, name: str) -> object:
        return classads.eval_attr(self.ad, name)


def verify_entries(ads: Iterable[ClassAd], trusted: Mapping[str, str]) -> list[Entry]:
    """The entry ads signed by their factory's trusted key (FactoryName -> Ed25519 key, base64)."""
    out = []
    for ad in ads:
        try:
            out.append(verify_entry(ad, trusted))
        except GlideinError as exc:
            log.warning(
                "ignoring glidefactory Name=%s FactoryName=%s: %s",
                _plain(ad, "Name"),
                _plain(ad, "FactoryName"),
                exc,
            )
    return out


_SignedKey = tuple[str, str, str, tuple[object, ...]]


class EntryVerifier:
    """`verify_entries` that remembers: an ad whose signature, signed attribute list and signed
    values are those of an ad verified in the last cycle gives that ad's Entry again without a new
    Ed25519 check (what was checked is exactly what is reused; unsigned attributes such as
    LastHeardFrom are never used). Holds the entries of this cycle and the previous one."""

    def __init__(self, trusted: Mapping[str, str]) -> None:
        self.trusted = trusted
        self._now: dict[_SignedKey, Entry] = {}
        self._before: dict[_SignedKey, Entry] = {}
        self.checked = 0  # signatures checked (cache misses), for the bench and tests

    def verify(self, ads: Iterable[ClassAd]) -> list[Entry]:
        self._before, self._now = self._now, {}
        out = []
        for ad in ads:
            key = _signed_key(ad)
            entry = None if key is None else self._now.get(key) or self._before.get(key)
            if entry is None:
                found = verify_entries([ad], self.trusted)
                self.checked += 1
                if not found:
                    continue
                entry = found[0]
            if key is not None:
                self._now[key] = entry
            out.append(entry)
        return out


def _signed_key(ad: ClassAd) -> _SignedKey | None:
    """What a signature check of `ad` depends on (its factory, signature, signed names and their
    values, each value typed); None when the ad is not signed plainly (checked every time)."""
    factory, signature, names = (
        _plain(ad, "FactoryName"),
        _plain(ad, "GlideinSignature"),
        _plain(ad, crypto.SIGNED_ATTRS_ATTR),
    )
    if factory is None or signature is None or names is None:
        return None
    values: list[tuple[str, object]] = []
    for name in names.split(","):
        value = ad.get(name)
        kind = type(value).__name__  # before the value is written as text: 1, 1.0 and "1" differ
        if isinstance(value, float) or not isinstance(value, str | int | bool):
            value = repr(value) if isinstance(value, float) else str(ad.lookup(name)) if name in ad else None
        values.append((kind, value))
    return factory, signature, names, tuple(values)


def _plain(ad: ClassAd, name: str) -> str | None:
    """A string literal attribute of an unverified ad; None for anything else (an expression from
    outside is never evaluated or unparsed before its signature is checked)."""
    value = ad.get(name)
    return value if isinstance(value, str) else None


def verify_entry(ad: ClassAd, trusted: Mapping[str, str]) -> Entry:
    factory = _plain(ad, "FactoryName")
    if factory is None or factory not in trusted:
        raise GlideinError(f"factory {factory!r} is not trusted (security.trusted_factories)")
    key = trusted[factory]
    if _plain(ad, "FactorySigningKey") != key:
        raise GlideinError("FactorySigningKey is not the trusted key of this factory")
    signed = crypto.verify_ad(ad, key)
    clean = ClassAd()
    for attr in signed:
        clean[attr] = ad.lookup(attr)
    values = {n.lower(): v for n, v in signed.items()}
    name, pub, pub_id = values.get("name"), values.get("pubkeyvalue"), values.get("pubkeyid")
    if not isinstance(name, str) or values.get("factoryname") != factory:
        raise GlideinError("Name or FactoryName is not signed")
    if not isinstance(pub, str) or not isinstance(pub_id, str):
        raise GlideinError("no signed PubKeyValue/PubKeyID to seal secrets for")
    return Entry(name, factory, clean, pub, pub_id)


class Sequencer:
    """AdSequence values, strictly increasing per frontend, also across restarts (state file)."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        try:
            self.last = int(path.read_text().strip())
        except (OSError, ValueError):
            self.last = 0

    def block(self, count: int) -> range:
        """`count` fresh values, saved before any of them is used (a crash never reuses one)."""
        # Milliseconds of the clock: still increasing when the state file is lost.
        first = max(self.last + 1, int(self.clock() * 1000))
        self.last = first + max(count, 1) - 1
        tmp = self.path.with_suffix(".tmp")
        try:
            tmp.write_text(f"{self.last}\n")
            os.replace(tmp, self.path)
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot save AdSequence: {exc.strerror}") from None
        return range(first, self.last + 1)

    def next(self) -> int:
        return self.block(1)[0]


@dataclass
class Request:
    """What one glideclient ad says."""

    entry: Entry
    frontend: str
    group: str
    security_class: str
    req_idle: int
    req_max: int
    remove_excess: str = "NO"
    remove_margin: int = 0
    idle_lifetime: int = 0
    params: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    monitor: dict[str, int] = field(default_factory=dict)  # the entry's job figures (GlideinMonitor*)

    @property
    def client(self) -> str:
        return f"{self.frontend}.{self.group}"

    @property
    def name(self) -> str:
        return f"{self.entry.name}@{self.client}"


def factory_of(entry: Entry) -> str:
    """The glidefactoryglobal Name (`glidein@factory`) of an entry ad Name `entry@glidein@factory`."""
    return entry.name.split("@", 1)[1]


@dataclass(frozen=True)
class FrontendInfo:
    """What the glideclientglobal ads say of the whole frontend."""

    name: str
    identity: str
    groups: tuple[str, ...]
    version: str
    lifetime: int


def global_ads(
    info: FrontendInfo,
    entries: Iterable[Entry],
    requests: Mapping[str, int],  # factory (glidein@factory) -> glideclient ads sent to it
    key: Ed25519PrivateKey,
    sequences: Iterator[int],
    *,
    now: float | None = None,
) -> list[ClassAd]:
    """One signed glideclientglobal ad per factory of `entries`."""
    seal_keys: dict[str, set[str]] = {}
    for entry in entries:
        seal_keys.setdefault(factory_of(entry), set()).add(entry.pub_key_id)
    ads = []
    for factory in sorted(seal_keys):
        glob = glideclient.ClientGlobal(
            factory_global_name=factory,
            frontend=info.name,
            identity=info.identity,
            groups=info.groups,
            requests=requests.get(factory, 0),
            sequence=next(sequences),
            seal_key_ids=sorted(seal_keys[factory]),
            version=info.version,
            lifetime=info.lifetime,
        )
        ads.append(classads.from_dict(glideclient.global_ad(glob, key, now)))
    return ads


class SealCache:
    """`crypto.seal` that reuses last cycle's sealed blob when the factory key, the secrets and the
    associated data (frontend|ad Name) are the same: the secrets are still sealed for the entry's
    key and bound to the ad, and the signed ad around them is new every cycle (AdSequence,
    ReqExpiry); only a fresh token (`credentials.TokenMinter`) or a new factory key seals again.
    Holds this cycle's blobs and the previous cycle's (`next_cycle`)."""

    def __init__(self) -> None:
        self._now: dict[tuple[str, bytes, str], str] = {}
        self._before: dict[tuple[str, bytes, str], str] = {}
        self.sealed = 0

    def next_cycle(self) -> None:
        self._before, self._now = self._now, {}

    def __call__(self, public: str, plaintext: bytes, aad: str) -> str:
        key = (public, plaintext, aad)
        blob = self._now.get(key) or self._before.get(key)
        if blob is None:
            blob = crypto.seal(public, plaintext, aad)
            self.sealed += 1
        self._now[key] = blob
        return blob


def request_ad(
    req: Request,
    key: Ed25519PrivateKey,
    sequence: int,
    lifetime: int,
    now: float | None = None,
    *,
    seal: Callable[[str, bytes, str], str] = crypto.seal,
) -> ClassAd:
    """The signed glideclient ad of `req` (secrets sealed for the entry's factory key with `seal`,
    e.g. a `SealCache`), expiring at `now` + `lifetime` (ReqExpiry)."""
    wire = glideclient.ClientRequest(
        entry_ad_name=req.entry.name,
        frontend=req.frontend,
        group=req.group,
        req_idle=req.req_idle,
        req_max=req.req_max,
        sequence=sequence,
        security_class=req.security_class,
        remove_excess=req.remove_excess,
        remove_margin=req.remove_margin,
        idle_lifetime=req.idle_lifetime,
        params=req.params,
        secrets=req.secrets,
        lifetime=lifetime,
        monitor=req.monitor,
    )
    return ad_of(glideclient.request_ad(wire, key, req.entry.pub_key, req.entry.pub_key_id, now, seal=seal))


@dataclass
class ResourceInfo:
    """The numbers a glideresource ad reports (glideinWMS's GlideClientMonitor* array)."""

    jobs_idle: int = 0  # prop
    jobs_idle_matching: int = 0  # count
    jobs_idle_effective: int = 0
    jobs_idle_old: int = 0
    jobs_idle_unique: int = 0
    jobs_running: int = 0
    jobs_running_here: int = 0
    jobs_running_max: int = 0
    glideins_total: int = 0
    glideins_idle: int = 0
    glideins_running: int = 0
    glideins_failed: int = 0
    request_idle: int = 0
    request_max_run: int = 0


_MONITOR_NAMES = {
    "jobs_idle": "JobsIdle",
    "jobs_idle_matching": "JobsIdleMatching",
    "jobs_idle_effective": "JobsIdleEffective",
    "jobs_idle_old": "JobsIdleOld",
    "jobs_idle_unique": "JobsIdleUnique",
    "jobs_running": "JobsRunning",
    "jobs_running_here": "JobsRunningHere",
    "jobs_running_max": "JobsRunningMax",
    "glideins_total": "GlideinsTotal",
    "glideins_idle": "GlideinsIdle",
    "glideins_running": "GlideinsRunning",
    "glideins_failed": "GlideinsFailed",
    "request_idle": "GlideinsRequestIdle",
    "request_max_run": "GlideinsRequestMaxRun",
}


@dataclass
class ResourceAd:
    entry: Entry
    frontend: str
    group: str
    info: ResourceInfo
    exprs: Mapping[str, str]  # GlideClient*Expr attributes: match, job and factory constraints
    triggered: Mapping[str, str] = field(default_factory=dict)  # glideinWMS key -> "count=.., limit=.."
    decided_by: str = ""
    lifetime: int = 600


def resource_ad(res: ResourceAd) -> ClassAd:
    """The glideresource ad for the user pool, as glideinWMS's ResourceClassad."""
    client = f"{res.frontend}.{res.group}"
    if not res.entry.resource_attrs:
        for name in res.entry.ad:
            if name.lower() not in _NOT_ENTRY_ATTRS:
                renamed = name.replace("GlideinConfig", "GlideFactoryConfig", 1)
                res.entry.resource_attrs[renamed] = Expr.of(res.entry.ad.lookup(name))
    values: dict[str, object] = dict(res.entry.resource_attrs)
    values.update(
        {
            "MyType": "glideresource",
            "Name": f"{res.entry.name}@{client}",
            "GlideFactoryName": res.entry.name,
            "GlideClientName": client,
            "GlideFrontendName": res.frontend,
            "GlideGroupName": res.group,
            "GLIDEIN_In_Downtime": str(res.entry.in_downtime),
            "GlideClientDecidedBy": res.decided_by,
            "ClassAdLifetime": res.lifetime,
        }
    )
    values.update(res.exprs)
    for field_name, attr in _MONITOR_NAMES.items():
        values[f"GlideClientMonitor{attr}"] = int(getattr(res.info, field_name))
    for key, text in res.triggered.items():
        prefix = "GlideClientCurb" if key.startswith("Curb") else "GlideClientLimit"
        values[prefix + key.removeprefix("Curb")] = text
    return ad_of(values)
