"""Factory entry schema: one entry = one site gatekeeper (CE, Slurm cluster, local simulated site).

Submitter parameters are a tagged union on `submitter.type`; each backend has its own model, so a
Slurm option on a local entry is an error. Add a backend by adding a model and listing it in
`SubmitterParams` (and in the factory's submitter registry).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, PrivateAttr, model_validator

from glidein.common.config.attrs import Attrs
from glidein.common.config.base import (
    ClassAdExpr,
    ConfigPath,
    Fraction,
    HostPort,
    Loc,
    Name,
    NonNegInt,
    PosInt,
    Problem,
    Seconds,
    SimpleName,
    StrictModel,
)
from glidein.common.config.files import StagedFile
from glidein.common.config.relay import Relay


class LocalSubmitter(StrictModel):
    """Pilots as local processes on this machine: a simulated site (demo and tests)."""

    type: Literal["local"] = "local"
    slots: PosInt = Field(default=4, description="Pilots the simulated site runs at once; more wait queued.")
    queue_wait: float = Field(default=0.0, ge=0, description="Seconds a pilot waits queued before it starts.")
    failure_rate: Fraction = Field(default=0.0, description="Share of pilots that fail validation (0..1).")
    black_hole: bool = Field(default=False, description="Every pilot dies at once (a black-hole site).")
    work_dir: ConfigPath | None = Field(
        default=None, description="Pilot work area; default `<state_dir>/local/<entry>`."
    )


class SlurmSubmitter(StrictModel):
    """Pilots as Slurm batch jobs through `sbatch`/`squeue`/`scancel` on this host."""

    type: Literal["slurm"] = "slurm"
    partition: str | None = Field(
        default=None, description="`sbatch --partition`; default: the cluster default."
    )
    account: str | None = Field(default=None, description="`sbatch --account`.")
    time_limit: PosInt = Field(default=60, description="Wall time limit in minutes (`sbatch --time`).")
    sbatch_args: list[str] = Field(default_factory=list, description="Extra `sbatch` arguments.")
    command_timeout: PosInt = Field(
        default=20,
        description="Seconds an `sbatch`/`squeue`/`scancel` may take; then the entry fails closed.",
    )
    work_dir: ConfigPath | None = Field(
        default=None, description="Job output directory; default `<state_dir>/slurm`."
    )


class HTCondorSubmitter(StrictModel):
    """Pilots as grid-universe jobs of an HTCondor schedd: `condor` (Condor-C to an HTCondor-CE),
    `batch` (the blahp to a local batch system) and `arc` (an ARC-CE; its submit description is
    checked, but no ARC-CE has been reached from this project's tests)."""

    type: Literal["htcondor"] = "htcondor"
    grid_resource: str = Field(
        description="Submit `grid_resource`, e.g. `condor ce.example.org ce.example.org:9619`."
    )
    schedd: str | None = Field(default=None, description="Schedd name; default the local schedd.")
    collector: HostPort | None = Field(default=None, description="Collector to locate `schedd`.")
    submit_attrs: dict[str, str] = Field(
        default_factory=dict, description='Extra submit commands, e.g. `+maxMemory: "2048"`.'
    )
    log_dir: ConfigPath | None = Field(
        default=None,
        description="Pilots' stdout/stderr/user log and parameter files; default"
        " `<state_dir>/condor/<entry>`. The schedd writes here as the account it runs the factory's jobs as.",
    )
    token_file: ConfigPath | None = Field(
        default=None,
        description="Token (SciToken or IDTOKEN, mode 0600) the CE accepts, passed as `scitokens_file`"
        " (condor and arc grid types).",
    )
    frontend_token_files: dict[SimpleName, ConfigPath] = Field(
        default_factory=dict, description="Per-frontend token files; they win over `token_file`."
    )

    cpus_from_attrs: bool = Field(
        default=True,
        description="Ask the site for GLIDEIN_CPUS cores (`+xcount` for condor, `request_cpus` for arc"
        " and batch) when `submit_attrs` ask for none. glideinWMS never does: imported entries say false.",
    )

    @property
    def grid_type(self) -> str:
        return self.grid_resource.split(None, 1)[0].lower() if self.grid_resource.strip() else ""


GRID_TYPES = ("condor", "arc", "batch")  # what the factory's HTCondor (25) submits to
_GRID_HINTS = {
    "nordugrid": "; the ARC gridftp interface is gone from HTCondor 23 and ARC 7: use `arc <host>`",
}


def grid_type_problem(submitter: object) -> str | None:
    """Why an entry's grid type cannot be submitted to, or None (non-htcondor submitters too)."""
    if not isinstance(submitter, HTCondorSubmitter) or submitter.grid_type in GRID_TYPES:
        return None
    kind = submitter.grid_type or "(none)"
    hint = _GRID_HINTS.get(kind, "")
    return f"grid type {kind!r} is not supported (supported: {', '.join(GRID_TYPES)}){hint}"


class FakeSubmitter(StrictModel):
    """In-memory submitter for unit tests and dry runs; nothing leaves the process."""

    type: Literal["fake"] = "fake"
    fail_submit: bool = Field(default=False, description="Every submission fails (to test error paths).")


SubmitterParams = Annotated[
    LocalSubmitter | SlurmSubmitter | HTCondorSubmitter | FakeSubmitter, Field(discriminator="type")
]
SUBMITTER_TYPES = ("local", "slurm", "htcondor", "fake")


class FrontendLimits(StrictModel):
    """Pilot limits for one frontend (or frontend:security_class) at one entry."""

    max_glideins: NonNegInt = Field(default=5000, description="Pilots in any state.")
    max_idle: NonNegInt = Field(default=100, description="Idle (queued) pilots.")
    max_held: NonNegInt = Field(default=50, description="Held pilots; above it nothing new is submitted.")


class EntryLimits(StrictModel):
    """Limits of one entry (glideinWMS `<max_jobs>` and `<submit>`)."""

    max_glideins: NonNegInt = Field(default=10000, description="Pilots of all clients, any state.")
    max_idle: NonNegInt = Field(default=2000, description="Idle (queued) pilots of all clients.")
    max_held: NonNegInt = Field(default=1000, description="Held pilots; above it nothing new is submitted.")
    max_per_cycle: NonNegInt = Field(default=100, description="Pilots submitted per cycle.")
    submit_rate: float = Field(default=50.0, ge=0, description="Pilots submitted per second (0 = no limit).")
    batch_size: PosInt = Field(
        default=10, description="Pilots per submission call (glideinWMS cluster_size)."
    )
    default_per_frontend: FrontendLimits = Field(
        default_factory=FrontendLimits, description="Limits of a frontend not listed in `per_frontend`."
    )
    per_frontend: dict[str, FrontendLimits] = Field(
        default_factory=dict,
        description="Limits keyed by `frontend` or `frontend:security_class`.",
    )


class Removal(StrictModel):
    """Guard against mass removal: at most this share of an entry's pilots per cycle."""

    max_share: Fraction = Field(default=0.1, description="Share of the entry's pilots removable per cycle.")
    min_per_cycle: NonNegInt = Field(default=5, description="Always allowed per cycle, whatever the share.")
    max_per_cycle: NonNegInt = Field(default=100, description="Never more per cycle.")
    client_gone: Seconds = Field(
        default=3600,
        description="Idle pilots of a client whose request vanished (its frontend stopped) are removed "
        "this long after its last request expired; 0 keeps them.",
    )


class HeldRelease(StrictModel):
    """Release of held pilots with back-off; after `max_releases` they are removed."""

    max_releases: NonNegInt = Field(default=3, description="Releases per pilot before it is removed.")
    backoff: Seconds = Field(default=300, description="Wait before the first release; doubles each time.")
    max_backoff: Seconds = Field(default=3600, description="Upper bound of the back-off.")
    max_per_cycle: NonNegInt = Field(default=20, description="Releases per cycle.")


class StaleAge(StrictModel):
    """Pilots in one state longer than this (seconds) are removed."""

    idle: Seconds = Field(default=604800, description="Idle (queued) longer than this.")
    running: Seconds = Field(default=2678400, description="Running longer than this.")


class PilotSettings(StrictModel):
    """How the entry's pilots run (passed on the pilot wrapper's command line)."""

    verbosity: Literal["std", "nodebug", "fast", "dbg"] = Field(
        default="std", description="The pilot's `-v` (glideinWMS entry `verbosity`)."
    )
    work_dir: str = Field(
        default=".",
        pattern=r"^[^$\s]+$",
        description="The pilot's `-dir`: `.` (the batch job's directory), a path, `TMPDIR`, `OSG`"
        " ($OSG_WN_TMP), `Condor` ($_CONDOR_SCRATCH_DIR) or `AUTO` (the first of those set, else the job's"
        " directory), as glideinWMS's entry `work_dir`. No `$`: the submit language would expand it.",
    )
    slots_layout: Literal["partitionable", "fixed"] | None = Field(
        default=None,
        description="Slots of the pilot's startd: one partitionable slot, or fixed slots of one core"
        " each; passed as GLIDEIN_SLOTS_LAYOUT (glideinWMS `<submit slots_layout>`). Default: the pilot's.",
    )
    proxy_url: str | None = Field(
        default=None,
        description="HTTP proxy for the pilot's downloads (`http://squid:3128`), or a keyword the pilot"
        " resolves on the node (`OSG`, `auto`); GLIDEIN_Proxy_URL and `+GlideinProxyURL`.",
    )

    hold_time: Seconds = Field(
        default=1200,
        description="A failing pilot holds its node this long before exiting (`-hold_time`).",
    )
    retire_time: Seconds | None = Field(
        default=None, description="GLIDEIN_Retire_Time when neither the request nor `attrs` sets it."
    )
    die_time: Seconds | None = Field(
        default=None, description="GLIDEIN_Die_Time when neither the request nor `attrs` sets it."
    )
    max_idle: Seconds | None = Field(
        default=None, description="GLIDEIN_Max_Idle when neither the request nor `attrs` sets it."
    )
    max_tail: Seconds | None = Field(
        default=None, description="GLIDEIN_Max_Tail when neither the request nor `attrs` sets it."
    )


class Health(StrictModel):
    """Black-hole guard: an entry whose pilots keep failing or dying at once is blocked a while."""

    min_ends: PosInt = Field(default=5, description="Judge only after this many pilot ends in the window.")
    fail_share: Fraction = Field(default=0.8, description="Block when this share of the ends failed.")
    quick_seconds: float = Field(default=60.0, ge=0, description="A pilot ending sooner died at once.")
    window: PosInt = Field(default=1800, description="Seconds of pilot ends judged together.")
    backoff: PosInt = Field(default=300, description="First block length (seconds); doubles while bad.")
    max_backoff: PosInt = Field(default=21600, description="Longest block (seconds).")


class Downtime(StrictModel):
    """A scheduled downtime: the entry advertises `GLIDEIN_In_Downtime` and submits nothing."""

    start: datetime | None = Field(default=None, description="ISO 8601 start; default: always started.")
    end: datetime | None = Field(default=None, description="ISO 8601 end; default: open-ended.")
    frontend: str = Field(default="All", description="Frontend it applies to, or `All`.")
    security_class: str = Field(default="All", description="Security class it applies to, or `All`.")
    comment: str = Field(default="", description="Shown in `glidein factory status`.")

    @model_validator(mode="after")
    def _ordered(self) -> Downtime:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class InfosysRef(StrictModel):
    """Where an information system describes this CE (glideinWMS `<infosys_ref>`)."""

    type: str = Field(description="Information system, e.g. `BDII`, `TG`, `OSG_CE_collector`.")
    server: str = Field(description="Its server (host or URL).")
    ref: str = Field(description="The CE's key there (a GLUE id, a CE name).")


class AllowFrontend(StrictModel):
    """A frontend (and security class) allowed to request pilots at an entry."""

    frontend: SimpleName = Field(description="Frontend name as in `frontends`.")
    security_class: str = Field(default="All", description="Security class, or `All`.")


class Entry(StrictModel):
    """One entry: a gatekeeper, its submitter, published attributes and limits."""

    name: Name = Field(description="Entry name, unique in the factory.")
    enabled: bool = Field(default=True, description="A disabled entry is neither advertised nor worked.")
    gatekeeper: str = Field(description="Gatekeeper contact string (CE host:port, cluster name, `local`).")
    auth_methods: list[str] = Field(
        default=["token"], description="Advertised as GLIDEIN_Supported_AuthMethods."
    )
    submitter: SubmitterParams = Field(description="Backend (`type`) and its parameters.")
    attrs: Attrs = Field(
        default_factory=dict, description="Published attributes (GLIDEIN_Site, GLIDEIN_CPUS, ...)."
    )
    limits: EntryLimits = Field(default_factory=EntryLimits, description="Pilot limits.")
    removal: Removal = Field(default_factory=Removal, description="Mass-removal guard.")
    held: HeldRelease = Field(default_factory=HeldRelease, description="Held pilot release.")
    stale_age: StaleAge = Field(default_factory=StaleAge, description="Stale pilot removal.")
    health: Health = Field(default_factory=Health, description="Black-hole detection and blocking.")
    pilot: PilotSettings = Field(default_factory=PilotSettings, description="Pilot hold time and lifetimes.")
    downtimes: list[Downtime] = Field(default_factory=list, description="Scheduled downtimes.")
    allow_frontends: list[AllowFrontend] = Field(
        default_factory=list, description="Frontends allowed here; empty = every configured frontend."
    )
    files: list[StagedFile] = Field(default_factory=list, description="Entry-level staged files.")
    self_contained: bool = Field(
        default=False,
        description="Pilots carry the whole stage (wrapper, signature files, files) packed into the"
        " executable, verified by hash and signature as a download is, for worker nodes that cannot"
        " reach `staging.url`; their log and final report come back in their stdout.",
    )
    relay: Relay | None = Field(
        default=None,
        description="A site relay the entry's pilots go through (docs/OPERATIONS.md, Site relays).",
    )
    requirements: ClassAdExpr | None = Field(
        default=None, description="Optional `Requirements` advertised in the entry ad (ClassAd expression)."
    )
    comment: str = Field(default="", description="Free text for operators (glideinWMS `comment`).")
    infosys_refs: list[InfosysRef] = Field(
        default_factory=list, description="Information-system records of this CE (kept for their lookup)."
    )
    monitor_groups: list[str] = Field(
        default_factory=list,
        description="Monitoring groups the entry is counted in (glideinWMS `monitorgroups`).",
    )
    _entry_set: str | None = PrivateAttr(default=None)

    @property
    def entry_set(self) -> str | None:
        """The entry set this entry belongs to (set by `FactoryConfig.all_entries()`), or None."""
        return self._entry_set


class EntrySet(StrictModel):
    """Entries that share attributes and allowed frontends (glideinWMS `<entry_set>`).

    The members are ordinary entries; set-level `attrs` are their defaults (a member's own attr
    wins) and `enabled: false` disables all of them. `FactoryConfig.all_entries()` flattens sets.
    """

    name: Name = Field(description="Set name, unique among sets and entries.")
    enabled: bool = Field(default=True, description="`false` disables every member.")
    attrs: Attrs = Field(default_factory=dict, description="Default attributes of the members.")
    allow_frontends: list[AllowFrontend] = Field(
        default_factory=list, description="Used by members that list none themselves."
    )
    entries: list[Entry] = Field(min_length=1, description="Member entries.")


def allow_problems(allowed: list[AllowFrontend], loc: Loc, frontends: dict[str, set[str]]) -> list[Problem]:
    """Problems for allow_frontends items that name an unknown frontend or security class."""
    problems: list[Problem] = []
    for index, allow in enumerate(allowed):
        classes = frontends.get(allow.frontend)
        if classes is None:
            problems.append(((*loc, index, "frontend"), f"unknown frontend {allow.frontend!r}"))
        elif allow.security_class != "All" and allow.security_class not in classes:
            msg = f"unknown security class {allow.security_class!r} of frontend {allow.frontend!r}"
            problems.append(((*loc, index, "security_class"), msg))
    return problems
