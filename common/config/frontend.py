"""Frontend config schema (`etc/frontend.yaml`): pools, schedds, keys, credentials and groups.

Limit names and defaults follow glideinWMS's frontend `<config>` elements (idle_glideins_per_entry,
idle_vms_per_entry, running_glideins_per_entry, idle_vms_total, running_glideins_total, ...) so
that the pressure formulas can be table-tested against glideinWMS's. Load it with
`glidein.common.config.load_frontend_config(path)`.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from glidein.common.config.base import (
    AttrName,
    ClassAdExpr,
    ConfigPath,
    HostPort,
    NonNegInt,
    PosInt,
    Problem,
    PublicKeyB64,
    Seconds,
    SimpleName,
    StrictModel,
    Url,
    duplicate_names,
)
from glidein.common.config.monitoring import Monitoring

RemoveExcess = Literal["NO", "WAIT", "IDLE", "ALL"]
# How a group weighs the entries that match the same jobs (frontend/shares.py): high pilot
# validation success (once 3 pilots ended in the factory's window), few failed jobs, jobs per
# pilot-hour relative to the group's other entries, and short queue waits.
DEFAULT_RANK = (
    "ifThenElse(GLIDEIN_Feedback_Pilots >= 3, GLIDEIN_Feedback_ValidationRate,"
    " ifThenElse(isReal(GLIDEIN_Feedback_QueueWaitMedian), 1.0, undefined))"
    " * (1.0 - ifThenElse(isReal(GLIDEIN_Feedback_JobFailureRate), GLIDEIN_Feedback_JobFailureRate, 0.0))"
    " * ifThenElse(isReal(GLIDEIN_Feedback_RelativeThroughput), GLIDEIN_Feedback_RelativeThroughput, 1.0)"
    " / (1.0 + ifThenElse(isReal(GLIDEIN_Feedback_QueueWaitMedian), GLIDEIN_Feedback_QueueWaitMedian, 0.0)"
    " / 300.0)"
)
_SCHEDD_RE = re.compile(r"^([A-Za-z0-9_][A-Za-z0-9_.-]*@)?[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def _check_schedd_name(value: str) -> str:
    if not _SCHEDD_RE.match(value):
        raise ValueError(f"invalid schedd name {value!r}: use `host` or HTCondor's `name@host`")
    return value


ScheddName = Annotated[str, AfterValidator(_check_schedd_name)]


class Curb(StrictModel):
    """A maximum and a curb: above `curb` requests are halved, at `max` they stop."""

    max: NonNegInt = Field(description="Hard maximum.")
    curb: NonNegInt = Field(description="Soft limit; above it the request is halved.")

    @model_validator(mode="after")
    def _curb_le_max(self) -> Curb:
        if self.curb > self.max:
            raise ValueError(f"curb ({self.curb}) must be <= max ({self.max})")
        return self


class IdleGlideinsPerEntry(StrictModel):
    """Idle pilots requested per entry."""

    max: NonNegInt = Field(default=100, description="Most idle pilots requested at one entry.")
    reserve: NonNegInt = Field(
        default=5, description="Extra idle pilots requested above the matching idle jobs."
    )


class RunningPerEntry(StrictModel):
    """Running pilots per entry (ReqMaxGlideins)."""

    max: NonNegInt = Field(default=10000, description="Most pilots (idle + running) at one entry.")
    min: NonNegInt = Field(default=0, description="Least ReqMaxGlideins sent.")
    relative_to_queue: float = Field(
        default=1.15, ge=0, description="ReqMaxGlideins = (effective idle + running) x this + 1."
    )


class GroupLimits(StrictModel):
    """Limits and curbs of a group (per entry and for the whole group)."""

    idle_glideins_per_entry: IdleGlideinsPerEntry = Field(
        default_factory=IdleGlideinsPerEntry, description="Idle pilots requested per entry."
    )
    idle_vms_per_entry: Curb = Field(
        default_factory=lambda: Curb(max=100, curb=5), description="Idle slots per entry."
    )
    running_glideins_per_entry: RunningPerEntry = Field(
        default_factory=RunningPerEntry, description="Pilots per entry (ReqMaxGlideins)."
    )
    idle_vms_total: Curb = Field(
        default_factory=lambda: Curb(max=1000, curb=200), description="Idle slots of the group."
    )
    running_glideins_total: Curb = Field(
        default_factory=lambda: Curb(max=100000, curb=90000), description="Running pilots of the group."
    )
    idle_glideins_lifetime: Seconds = Field(default=0, description="ReqIdleLifetime (0 = no limit).")
    ramp_up_attenuation: float = Field(
        default=3.0, ge=1.0, description="Divides the effective idle jobs (glideinWMS RampUpAttenuation)."
    )


class FrontendTotals(StrictModel):
    """Curbs over all groups of the frontend."""

    idle_vms_total: Curb = Field(
        default_factory=lambda: Curb(max=1000, curb=200), description="Idle slots of all groups."
    )
    running_glideins_total: Curb = Field(
        default_factory=lambda: Curb(max=100000, curb=90000), description="Running pilots of all groups."
    )


class RemovalEscalation(StrictModel):
    """Escalation of ReqRemoveExcess NO -> WAIT -> IDLE -> ALL while there is no demand."""

    max_level: RemoveExcess = Field(default="IDLE", description="Highest level ever requested (guard).")
    wait_cycles: PosInt = Field(default=5, description="Cycles without idle jobs before WAIT.")
    idle_cycles: PosInt = Field(default=10, description="Cycles with every slot idle before IDLE.")
    all_cycles: PosInt = Field(default=10, description="Cycles without any slot before ALL.")
    margin: NonNegInt = Field(default=0, description="ReqRemoveExcessMargin: pilots kept above the request.")


class UsableIdle(StrictModel):
    """Which idle slots count as idle (gwms#332): only those that could run a waiting job."""

    rule: Literal["usable", "all"] = Field(default="usable", description="`all` counts every idle slot.")
    min_lifetime: Seconds = Field(default=600, description="Slot lifetime left needed to count (seconds).")
    count_retiring: bool = Field(default=False, description="Count slots past GLIDEIN_ToRetire.")
    check_gpus: bool = Field(default=True, description="A job needing GPUs needs a slot with free GPUs.")


class Credential(StrictModel):
    """Pilot tokens the frontend mints and sends (sealed) with its requests."""

    name: SimpleName = Field(description="Credential name, referenced by groups.")
    type: Literal["token", "idtoken"] = Field(
        default="token", description="`token`: embedded pool token; `idtoken`: HTCondor IDTOKEN."
    )
    security_class: SimpleName = Field(default="frontend", description="SecurityClass sent with requests.")
    pool_key: ConfigPath = Field(description="Pool signing key file (0600) the tokens are minted with.")
    lifetime: PosInt = Field(default=3600, le=7 * 86400, description="Token lifetime in seconds.")
    scopes: list[str] = Field(default=["startd"], min_length=1, description="Token scopes.")
    issuer: str | None = Field(default=None, description="Token issuer; default the user-pool collector.")


class ScheddRef(StrictModel):
    """A schedd whose jobs the frontend counts."""

    name: ScheddName = Field(description="Schedd name.")
    type: Literal["embedded", "htcondor"] = Field(default="embedded", description="Job source kind.")
    url: Url | None = Field(default=None, description="HTTP API base URL of an embedded schedd.")
    query: Literal["jobs", "autocluster"] = Field(
        default="jobs", description="HTCondor schedd: projected job query or the schedd's autoclusters."
    )

    @model_validator(mode="after")
    def _url_for_embedded(self) -> ScheddRef:
        if self.type == "embedded" and self.url is None:
            raise ValueError("an embedded schedd needs `url`")
        return self


class Group(StrictModel):
    """A group of jobs with its own matching, limits and credentials."""

    name: SimpleName = Field(description="Group name (ClientName `<frontend>.<group>`).")
    enabled: bool = Field(default=True, description="A disabled group sends no requests.")
    job_constraint: ClassAdExpr = Field(default="true", description="Which jobs belong to the group.")
    match_expr: ClassAdExpr = Field(
        default="true", description="Job-entry match (MY = job, TARGET = entry ad)."
    )
    factory_constraint: ClassAdExpr = Field(default="true", description="Which entry ads are considered.")
    limits: GroupLimits = Field(default_factory=GroupLimits, description="Limits and curbs.")
    removal: RemovalEscalation = Field(default_factory=RemovalEscalation, description="Removal escalation.")
    usable_idle: UsableIdle = Field(default_factory=UsableIdle, description="Idle slot counting rule.")
    rank: ClassAdExpr = Field(
        default=DEFAULT_RANK,
        description="Weight of an entry in the split of jobs it shares with other entries (MY = entry ad,"
        " over GLIDEIN_Feedback_*); undefined: fair share. `undefined` everywhere: even split.",
    )
    credentials: list[SimpleName] | None = Field(default=None, description="Credential names; default all.")
    params: dict[AttrName, str] = Field(default_factory=dict, description="Extra GlideinParam<NAME> values.")


class Collectors(StrictModel):
    """The two pools the frontend talks to."""

    wms: list[HostPort] = Field(min_length=1, description="WMS collectors (factory ads, requests).")
    user_pool: list[HostPort] = Field(min_length=1, description="User-pool collectors (slots, schedds).")


class TrustedFactory(StrictModel):
    """A factory whose ads the frontend believes."""

    name: SimpleName = Field(description="FactoryName.")
    signing_key: PublicKeyB64 = Field(description="Its Ed25519 public key (base64), FactorySigningKey.")


class FrontendSecurity(StrictModel):
    """The frontend's key and the factories it trusts."""

    signing_key: ConfigPath = Field(description="Ed25519 private key (0600) signing requests.")
    identity: str = Field(description="Identity the factories know this frontend by.")
    trusted_factories: list[TrustedFactory] = Field(min_length=1, description="Trusted factories.")


class FrontendLoop(StrictModel):
    """Daemon timing."""

    interval: PosInt = Field(default=60, description="Seconds between cycles.")
    classad_lifetime: PosInt = Field(default=600, description="`ClassAdLifetime` of requests (seconds).")


class HighAvailability(StrictModel):
    """An active and a standby frontend for the same groups (glideinWMS's `<high_availability>`)."""

    role: Literal["active", "standby"] = Field(
        default="active",
        description="`standby`: publish nothing while the active frontend's ads are on the WMS collectors, "
        "take over when they vanish (expired or withdrawn), step back when they return.",
    )
    active: SimpleName | None = Field(
        default=None,
        description="FrontendName of the active frontend (default: `name`). The standby publishes under the "
        "same name and identity, so the factories see one client and pilots are not doubled.",
    )
    check_interval: PosInt | None = Field(
        default=None, description="Seconds between a standby's checks for the active (default loop.interval)."
    )


class FrontendConfig(StrictModel):
    """Top level of the frontend configuration."""

    name: SimpleName = Field(description="Frontend name (`FrontendName`).")
    collectors: Collectors = Field(description="WMS and user-pool collectors.")
    condor_tokens: ConfigPath | None = Field(
        default=None,
        description="Directory (0700) of IDTOKEN files (0600) for real HTCondor collectors and schedds "
        "(WMS and users' pool); each daemon gets the token issued by its TRUST_DOMAIN.",
    )
    state_dir: ConfigPath = Field(description="Removal history, AdSequence, logs.")
    loop: FrontendLoop = Field(default_factory=FrontendLoop, description="Cycle timing.")
    security: FrontendSecurity = Field(description="Keys.")
    schedds: list[ScheddRef] = Field(default_factory=list, description="Schedds listed explicitly.")
    discover_schedds: bool = Field(default=True, description="Also use schedd ads found on the user pool.")
    limits: FrontendTotals = Field(default_factory=FrontendTotals, description="Frontend-wide curbs.")
    credentials: list[Credential] = Field(min_length=1, description="Pilot credentials.")
    groups: list[Group] = Field(min_length=1, description="Groups.")
    monitoring: Monitoring = Field(default_factory=Monitoring, description="RRD history and snapshot.")
    high_availability: HighAvailability = Field(
        default_factory=HighAvailability, description="Active or standby (frontend/ha.py)."
    )

    @property
    def is_standby(self) -> bool:
        return self.high_availability.role == "standby"

    def group(self, name: str) -> Group | None:
        return next((group for group in self.groups if group.name == name), None)

    def group_credentials(self, group: Group) -> list[Credential]:
        """The credentials a group uses (all when it names none)."""
        if group.credentials is None:
            return list(self.credentials)
        return [cred for cred in self.credentials if cred.name in group.credentials]

    def problems(self) -> list[Problem]:
        """Cross-field problems, each with its path."""
        problems = duplicate_names(self.groups, ("groups",), "group")
        problems += duplicate_names(self.credentials, ("credentials",), "credential")
        problems += duplicate_names(self.schedds, ("schedds",), "schedd")
        problems += duplicate_names(
            self.security.trusted_factories, ("security", "trusted_factories"), "factory"
        )
        active = self.high_availability.active
        if active is not None and active != self.name:
            problems.append(
                (
                    ("high_availability", "active"),
                    f"the standby publishes as the active frontend: give it the same name ({active!r}, "
                    f"not {self.name!r}), else the factories see two clients and double the pilots",
                )
            )
        known = {cred.name for cred in self.credentials}
        for g_index, group in enumerate(self.groups):
            for c_index, name in enumerate(group.credentials or []):
                if name not in known:
                    problems.append(
                        (("groups", g_index, "credentials", c_index), f"unknown credential {name!r}")
                    )
        return problems
