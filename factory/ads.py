"""The factory's ads (docs/INTERFACES.md section 8), built as plain dicts (pure), then signed ClassAds.

* glidefactoryglobal: the factory's public keys (X25519 for sealing, Ed25519 for signatures).
* glidefactory: one per entry, with its published attributes, limits, downtime and block state
  (GLIDEIN_Blocked, GLIDEIN_BlockedReason, GLIDEIN_BlockedUntil: epoch seconds, 0 when not blocked),
  stage URL and hash, and monitoring totals.
* glidefactoryclient: one per entry x client: what the client asked for, what it has, which limit bound.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from glidein.common import classads, crypto
from glidein.factory.entry import ClientOutcome
from glidein.factory.keys import FactoryKeys


@dataclass(frozen=True)
class Identity:
    factory: str
    glidein: str
    lifetime: int

    @property
    def global_name(self) -> str:
        return f"{self.glidein}@{self.factory}"

    def entry_name(self, entry: str) -> str:
        return f"{entry}@{self.glidein}@{self.factory}"


@dataclass(frozen=True)
class EntryState:
    """What the entry ad reports beyond its configuration."""

    in_downtime: bool = False
    blocked_reason: str = ""
    idle: int = 0
    running: int = 0
    held: int = 0
    blocked_until: float = 0.0  # unix time the black-hole block ends (0: not blocked)


def _base(ident: Identity, keys: FactoryKeys) -> dict[str, object]:
    return {
        "FactoryName": ident.factory,
        "GlideinName": ident.glidein,
        "PubKeyType": "X25519",
        "PubKeyID": keys.current_id,
        "PubKeyValue": crypto.public_key_b64(keys.current),
        "FactorySigningKey": crypto.public_key_b64(keys.signing),
        "ClassAdLifetime": ident.lifetime,
    }


def global_ad(ident: Identity, keys: FactoryKeys) -> dict[str, object]:
    return {"MyType": "glidefactoryglobal", "Name": ident.global_name, **_base(ident, keys)}


def _attr_value(attr: object) -> object:
    value, kind = getattr(attr, "value", None), getattr(attr, "type", "string")
    if kind == "int":
        return int(str(value).strip())
    if kind == "expr":
        return classads.expr_value(str(value).lower() if isinstance(value, bool) else str(value))
    if kind == "config":  # an HTCondor config value for the pilot's startd: text here, as glideinWMS
        return str(value)
    return value if isinstance(value, bool | int | float) else str(value)


def published_attrs(attrs: Mapping[str, object]) -> dict[str, object]:
    """The entry's attributes with `publish: true`, typed as configured."""
    return {name: _attr_value(a) for name, a in attrs.items() if getattr(a, "publish", True)}


def entry_ad(
    ident: Identity, keys: FactoryKeys, entry: object, stage: Mapping[str, str], st: EntryState
) -> dict[str, object]:
    """The glidefactory ad of one entry (config object `entry`, e.g. `common.config.entry.Entry`)."""
    name = str(getattr(entry, "name", ""))
    submitter = getattr(entry, "submitter", None)
    limits = getattr(entry, "limits", None)
    ad: dict[str, object] = {"MyType": "glidefactory", "Name": ident.entry_name(name)}
    ad.update(published_attrs(getattr(entry, "attrs", {})))
    ad.update(_base(ident, keys))
    ad.update(
        {
            "EntryName": name,
            "GLIDEIN_Gatekeeper": str(getattr(entry, "gatekeeper", "")),
            "GLIDEIN_GridType": str(getattr(submitter, "type", "")),
            "GLIDEIN_Supported_AuthMethods": ",".join(getattr(entry, "auth_methods", [])),
            "GLIDEIN_In_Downtime": st.in_downtime,
            "GLIDEIN_Blocked": bool(st.blocked_reason),
            "GLIDEIN_BlockedReason": st.blocked_reason,
            "GLIDEIN_BlockedUntil": int(st.blocked_until) if st.blocked_reason else 0,
            "GlideinMonitorTotalStatusIdle": st.idle,
            "GlideinMonitorTotalStatusRunning": st.running,
            "GlideinMonitorTotalStatusHeld": st.held,
            **stage,
        }
    )
    ad.setdefault("GLIDEIN_Site", name)
    ad.setdefault("GLIDEIN_CPUS", 1)
    if limits is not None:
        ad["GlideinConfigMaxIdle"] = int(getattr(limits, "max_idle", 0))
        ad["GlideinConfigMaxGlideins"] = int(getattr(limits, "max_glideins", 0))
        ad["GlideinConfigMaxHeld"] = int(getattr(limits, "max_held", 0))
    requirements = getattr(entry, "requirements", None)
    if requirements:
        ad["Requirements"] = classads.expr_value(str(requirements))
    return ad


def client_ad(
    ident: Identity, entry: str, outcome: ClientOutcome, ended: Mapping[str, int] | None = None
) -> dict[str, object]:
    """`ended`: the client's pilot counters at this entry (pilots_completed, validation_failures,
    waste_seconds; totals since bookkeeping began), published for the frontend's pages."""
    ended = ended or {}
    return {
        "MyType": "glidefactoryclient",
        "Name": f"{ident.entry_name(entry)}@{outcome.client}",
        "ReqClientName": outcome.client,
        "FactoryName": ident.factory,
        "GlideinName": ident.glidein,
        "EntryName": entry,
        "GlideinMonitorStatusIdle": outcome.idle,
        "GlideinMonitorStatusRunning": outcome.running,
        "GlideinMonitorStatusHeld": outcome.held,
        "GlideinMonitorRequestedIdle": outcome.req_idle,
        "GlideinMonitorRequestedMaxGlideins": outcome.req_max,
        "GlideinMonitorSubmitted": outcome.submit,
        "GlideinMonitorRemoved": outcome.remove,
        "GlideinMonitorLimit": outcome.limit,
        "GlideinMonitorClientIdle": outcome.jobs_idle,  # the client's jobs, as its request said
        "GlideinMonitorClientRunning": outcome.jobs_running,
        "GlideinMonitorPilotsCompleted": int(ended.get("pilots_completed", 0)),
        "GlideinMonitorValidationFailures": int(ended.get("validation_failures", 0)),
        "GlideinMonitorWasteSeconds": int(ended.get("waste_seconds", 0)),
        "ClassAdLifetime": ident.lifetime,
    }


def signed(ad: Mapping[str, object], keys: FactoryKeys) -> classads.ClassAd:
    """The ClassAd of `ad`, signed with the factory's Ed25519 key (GlideinSignature)."""
    result = classads.from_dict(ad)
    crypto.sign_ad(result, keys.signing)
    return result
