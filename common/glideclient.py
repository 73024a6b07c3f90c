"""The frontend's ads to a factory (docs/INTERFACES.md section 8), built and signed in one place.

`glideclient`: one request per entry and group, with the frontend's job figures for that entry
(`GlideinMonitorIdle`, `...Running`, `...RunningHere`, ...: `frontend.cycle.EntryDecision.monitor`).
`glideclientglobal`: one per frontend and factory, with what is true of the whole frontend (its
identity, signing key, groups, how many requests it sent that factory). The frontend publishes
both with these functions; operators, benchmarks and the test suite use them to check a factory
without a frontend.

Both carry `ReqExpiry` (unix time: signing time + ClassAdLifetime) inside the signed content, so a
copy re-advertised by anyone after the frontend stopped dies with it (the factory checks it against
its own clock with a skew allowance, `glidein.factory.requests.CLOCK_SKEW`).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from glidein.common import crypto


@functools.lru_cache(maxsize=16)
def _key_id(key: Ed25519PrivateKey) -> str:
    return crypto.key_id(key)  # the same key signs every ad of a cycle: computed once


def expiry(lifetime: int, now: float | None = None) -> int:
    """`ReqExpiry`: the unix time (integer seconds) after which a signed ad must not be honoured."""
    return int(time.time() if now is None else now) + int(lifetime)


@dataclass
class ClientRequest:
    entry_ad_name: str  # entry@glidein@factory
    frontend: str
    group: str
    req_idle: int
    req_max: int
    sequence: int
    security_class: str = "frontend"
    remove_excess: str = "NO"
    remove_margin: int = 0
    idle_lifetime: int = 0
    params: Mapping[str, str] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)
    lifetime: int = 300
    monitor: Mapping[str, int] = field(default_factory=dict)  # GlideinMonitor<name>: the entry's job figures


def request_ad(
    req: ClientRequest,
    signing_key: Ed25519PrivateKey,
    factory_pub_b64: str | None,
    pub_key_id: str | None = None,
    now: float | None = None,
    *,
    seal: Callable[[str, bytes, str], str] = crypto.seal,
) -> dict[str, object]:
    """The signed glideclient ad as a dict (secrets sealed for `factory_pub_b64`, the X25519 key
    the entry ad publishes; `ReqPubKeyID` is the entry ad's `PubKeyID`, by default computed).
    `ReqExpiry` = `now` (default: the clock) + `req.lifetime`."""
    client = f"{req.frontend}.{req.group}"
    name = f"{req.entry_ad_name}@{client}"
    ad: dict[str, object] = {
        "MyType": "glideclient",
        "Name": name,
        "ReqName": req.entry_ad_name,
        "ClientName": client,
        "FrontendName": req.frontend,
        "GroupName": req.group,
        "SecurityClass": req.security_class,
        "ReqIdleGlideins": req.req_idle,
        "ReqMaxGlideins": req.req_max,
        "ReqRemoveExcess": req.remove_excess,
        "ReqRemoveExcessMargin": req.remove_margin,
        "ReqIdleLifetime": req.idle_lifetime,
        "FrontendSigningKeyID": _key_id(signing_key),
        "AdSequence": req.sequence,
        "ClassAdLifetime": req.lifetime,
        "ReqExpiry": expiry(req.lifetime, now),
    }
    for key, value in sorted(req.params.items()):
        ad[f"GlideinParam{key}"] = value
    for key, number in sorted(req.monitor.items()):
        ad[f"GlideinMonitor{key}"] = int(number)
    if req.secrets and factory_pub_b64:
        ad["ReqPubKeyID"] = pub_key_id or crypto.key_id(factory_pub_b64)
        plain = json.dumps(dict(req.secrets), sort_keys=True).encode()
        ad["GlideinEncParams"] = seal(factory_pub_b64, plain, f"{req.frontend}|{name}")
    crypto.sign_ad(ad, signing_key)
    return ad


@dataclass
class ClientGlobal:
    """What a glideclientglobal ad says: one frontend, one factory (`glidein@factory`)."""

    factory_global_name: str  # the glidefactoryglobal Name: glidein@factory
    frontend: str
    identity: str  # how the factories know this frontend (their `frontends[].identity`)
    groups: Sequence[str]
    requests: int  # glideclient ads sent to this factory in the same cycle
    sequence: int
    seal_key_ids: Sequence[str] = ()  # the factory's X25519 key ids its secrets are sealed for
    version: str = ""
    lifetime: int = 300


def global_ad(
    glob: ClientGlobal, signing_key: Ed25519PrivateKey, now: float | None = None
) -> dict[str, object]:
    """The signed glideclientglobal ad as a dict. It carries the frontend's public signing key for
    operators to compare; a factory never trusts a key because an ad carries it."""
    ad: dict[str, object] = {
        "MyType": "glideclientglobal",
        "Name": f"{glob.factory_global_name}@{glob.frontend}",
        "ReqName": glob.factory_global_name,
        "ClientName": glob.frontend,
        "FrontendName": glob.frontend,
        "FrontendIdentity": glob.identity,
        "FrontendVersion": glob.version,
        "FrontendSigningKeyID": _key_id(signing_key),
        "FrontendSigningKey": crypto.public_key_b64(signing_key),
        "GroupNames": ",".join(glob.groups),
        "NumberOfGroups": len(glob.groups),
        "NumberOfRequests": glob.requests,
        "ReqPubKeyID": ",".join(sorted(set(glob.seal_key_ids))),
        "AdSequence": glob.sequence,
        "ClassAdLifetime": glob.lifetime,
        "ReqExpiry": expiry(glob.lifetime, now),
    }
    crypto.sign_ad(ad, signing_key)
    return ad
