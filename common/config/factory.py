"""Factory config schema (`etc/factory.yaml`): identity, bus, staging, keys, frontends, entries.

Load it with `glidein.common.config.load_factory_config(path)`. Cross-field checks that need the
whole config (duplicate names, references to frontends) are in `FactoryConfig.problems()`, which
the loader calls after the field validation so that every problem gets its own path.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from glidein.common.config.attrs import AttrFlags, Attrs, with_flags
from glidein.common.config.autoconf import Autoconf
from glidein.common.config.base import (
    AttrName,
    ConfigPath,
    HostPort,
    Loc,
    Name,
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
from glidein.common.config.closeness import Closeness
from glidein.common.config.entry import (
    Entry,
    EntrySet,
    FrontendLimits,
    allow_problems,
    grid_type_problem,
)
from glidein.common.config.files import StagedFile
from glidein.common.config.monitoring import Monitoring
from glidein.common.config.relay import relay_problems


class Signing(StrictModel):
    """Detached Ed25519 signatures of the staged signature files."""

    key: ConfigPath = Field(description="Ed25519 private key (PEM, 0600) that signs the stage.")


class Staging(StrictModel):
    """The web staging area pilots download their files from."""

    dir: ConfigPath = Field(description="Directory the stage is written to and served from.")
    url: Url = Field(description="Base URL pilots use to reach `dir` (`-web`).")
    hash_algorithm: Literal["sha1", "sha256"] = Field(
        default="sha256", description="Hash of staged files (`sha1` for old glideinWMS pilots)."
    )
    signing: Signing | None = Field(default=None, description="Sign the stage (pilots get `-signkey`).")
    listen: HostPort = Field(default="127.0.0.1:8319", description="Where `glidein factory web` listens.")
    tls_cert: ConfigPath | None = Field(
        default=None, description="PEM certificate: serve the stage over HTTPS."
    )
    tls_key: ConfigPath | None = Field(default=None, description="PEM private key of `tls_cert`.")
    grace_period: Seconds = Field(default=86400, description="Seconds an old stage stays served.")
    startd_mode: Literal["embedded", "condor"] = Field(
        default="embedded", description="Startd the pilots start: embedded, or HTCondor's condor_startd."
    )
    condor_tarball: ConfigPath | None = Field(
        default=None,
        description=(
            "HTCondor release tarball (relocatable, files at its root) staged at main level and "
            "untarred by pilots into `condor/`: the condor_master of `startd_mode: condor`. A site "
            "release (`GLIDEIN_CONDOR_RELEASE` in glidein_config) wins; without either the pilot "
            "uses condor_master on PATH."
        ),
    )
    files: list[StagedFile] = Field(default_factory=list, description="Extra main-level files.")
    frontend_files: dict[str, list[StagedFile]] = Field(
        default_factory=dict,
        description="Files keyed by `<frontend>` (client level) or `<frontend>.<group>`.",
    )

    @model_validator(mode="after")
    def _tls_pair(self) -> Staging:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        return self


class KeyRotation(StrictModel):
    """Rotation of the factory's encryption key pair."""

    interval: Seconds = Field(default=0, description="Rotate the key every this many seconds (0 = never).")
    grace: Seconds = Field(
        default=900, description="The old key still opens requests this long after rotation."
    )


class FactorySecurity(StrictModel):
    """The factory's own key files (created 0600 on first start if missing)."""

    signing_key: ConfigPath = Field(description="Ed25519 private key signing the factory's ads.")
    encryption_key: ConfigPath = Field(description="X25519 private key frontends seal secrets for.")
    report_key: ConfigPath | None = Field(
        default=None, description="Pilot report HMAC key; default `<state_dir>/report.key`."
    )
    key_rotation: KeyRotation = Field(default_factory=KeyRotation, description="Encryption key rotation.")


class SecurityClass(StrictModel):
    """A security class of a frontend: pilots of it run as `username` and have their own limits."""

    name: SimpleName = Field(description="Security class name, as sent in requests (`SecurityClass`).")
    username: str | None = Field(
        default=None, description="Local user pilots of this class are submitted as."
    )
    limits: FrontendLimits | None = Field(default=None, description="Factory-wide limits for this class.")


class FrontendAccess(StrictModel):
    """A frontend allowed to request pilots (glideinWMS `<security><frontends><frontend>`)."""

    name: SimpleName = Field(description="Frontend name (`FrontendName` of its requests).")
    identity: str = Field(description="Frontend identity, e.g. `frontend@fe.example.org`.")
    signing_keys: list[PublicKeyB64] = Field(
        default_factory=list,
        description="Ed25519 public keys (base64) its requests must be signed with; empty = none accepted.",
    )
    security_classes: list[SecurityClass] = Field(min_length=1, description="Its security classes.")
    limits: FrontendLimits | None = Field(default=None, description="Factory-wide limits for this frontend.")


class Loop(StrictModel):
    """Daemon timing."""

    interval: PosInt = Field(default=60, description="Seconds between cycles.")
    classad_lifetime: PosInt = Field(
        default=900, description="`ClassAdLifetime` of advertised ads (seconds)."
    )
    workers: NonNegInt = Field(default=0, description="Entry worker processes (0 = one per CPU).")


class FactoryConfig(StrictModel):
    """Top level of the factory configuration."""

    name: Name = Field(description="Factory name (`FactoryName`).")
    glidein_name: Name = Field(default="glidein", description="Glidein (instance) name (`GlideinName`).")
    collectors: list[HostPort] = Field(min_length=1, description="WMS collectors (the ClassAd bus).")
    condor_tokens: ConfigPath | None = Field(
        default=None,
        description="Directory (0700) of IDTOKEN files (0600) for real HTCondor collectors and schedds; "
        "each daemon gets the token issued by its TRUST_DOMAIN.",
    )
    state_dir: ConfigPath = Field(description="Bookkeeping (SQLite), keys default location, pilot logs.")
    loop: Loop = Field(default_factory=Loop, description="Cycle timing.")
    staging: Staging = Field(description="Web staging area.")
    security: FactorySecurity = Field(description="Key files.")
    frontends: list[FrontendAccess] = Field(default_factory=list, description="Frontends allowed to request.")
    closeness: Closeness | None = Field(
        default=None, description="Bandwidth matrix whose rows the entries publish (docs/CLOSENESS.md)."
    )
    attrs: Attrs = Field(default_factory=dict, description="Attributes published by every entry.")
    attr_flags: dict[AttrName, AttrFlags] = Field(
        default_factory=dict,
        description="Flags of attributes by name, wherever an attr (factory, set or entry) does not set"
        " them itself (`GLIDEIN_Site: {glidein_publish: true, job_publish: true}`).",
    )
    entries: list[Entry] = Field(default_factory=list, description="Entries.")
    entry_sets: list[EntrySet] = Field(default_factory=list, description="Entry sets.")
    monitoring: Monitoring = Field(default_factory=Monitoring, description="RRD history and snapshot.")
    autoconf: Autoconf | None = Field(
        default=None, description="Entries generated from an information system, included from a file."
    )

    def all_entries(self) -> list[Entry]:
        """Every entry, entry-set members included, with factory and set attrs merged in (own wins)."""
        result = [self._merged(entry, None) for entry in self.entries]
        for entry_set in self.entry_sets:
            result.extend(self._merged(entry, entry_set) for entry in entry_set.entries)
        return result

    def _merged(self, entry: Entry, entry_set: EntrySet | None) -> Entry:
        attrs = dict(self.attrs)
        update: dict[str, object] = {}
        if entry_set is not None:
            attrs.update(entry_set.attrs)
            update["enabled"] = entry.enabled and entry_set.enabled
            if not entry.allow_frontends:
                update["allow_frontends"] = entry_set.allow_frontends
        attrs.update(entry.attrs)
        update["attrs"] = with_flags(attrs, self.attr_flags)
        merged = entry.model_copy(update=update)
        merged._entry_set = entry_set.name if entry_set is not None else None
        return merged

    def entry_count(self) -> int:
        """How many entries, entry-set members included (without merging them: cheap)."""
        return len(self.entries) + sum(len(entry_set.entries) for entry_set in self.entry_sets)

    def entry(self, name: str) -> Entry | None:
        return next((entry for entry in self.all_entries() if entry.name == name), None)

    def frontend(self, name: str) -> FrontendAccess | None:
        return next((fe for fe in self.frontends if fe.name == name), None)

    def warnings(self) -> list[Problem]:
        """Valid but probably not meant: reported by `glidein config check`, never fatal."""
        found: list[Problem] = []
        for index, fe in enumerate(self.frontends):
            if not fe.signing_keys:
                msg = f"empty: no request of frontend {fe.name!r} will be honoured"
                found.append((("frontends", index, "signing_keys"), msg))
        if not self.entry_count():
            found.append((("entries",), "no entries: the factory will advertise nothing"))
        disabled: dict[str, list[tuple[Loc, Entry]]] = {}  # one warning per grid type, not per entry
        for loc, entry, enabled in self._members():
            problem = grid_type_problem(entry.submitter)
            if problem and not enabled:
                disabled.setdefault(problem, []).append((loc, entry))
        for problem, members in disabled.items():
            (loc, first), count = members[0], len(members)
            who = f"entry {first.name!r}" if count == 1 else f"{count} entries (first {first.name!r})"
            msg = f"{who}: {problem}; disabled (enabling one is an error)"
            found.append(((*loc, "submitter", "grid_resource"), msg))
        return found

    def _members(self) -> list[tuple[Loc, Entry, bool]]:
        """Every entry with its path and whether it is enabled (its set's `enabled` included)."""
        members: list[tuple[Loc, Entry, bool]] = [
            (("entries", i), e, e.enabled) for i, e in enumerate(self.entries)
        ]
        for s_index, entry_set in enumerate(self.entry_sets):
            members += [
                (("entry_sets", s_index, "entries", i), e, e.enabled and entry_set.enabled)
                for i, e in enumerate(entry_set.entries)
            ]
        return members

    def problems(self) -> list[Problem]:
        """Cross-field problems, each with its path."""
        problems = duplicate_names(self.frontends, ("frontends",), "frontend")
        classes = {fe.name: {sc.name for sc in fe.security_classes} for fe in self.frontends}
        for index, fe in enumerate(self.frontends):
            problems += duplicate_names(
                fe.security_classes, ("frontends", index, "security_classes"), "class"
            )
        problems += duplicate_names(self.entry_sets, ("entry_sets",), "entry set")
        for key in self.staging.frontend_files:
            if key.partition(".")[0] not in classes:
                problems.append((("staging", "frontend_files", key), f"unknown frontend in {key!r}"))
        for s_index, entry_set in enumerate(self.entry_sets):
            set_loc: Loc = ("entry_sets", s_index, "allow_frontends")
            problems += allow_problems(entry_set.allow_frontends, set_loc, classes)
        seen: dict[str, str] = {s.name: f"entry_sets[{i}]" for i, s in enumerate(self.entry_sets)}
        for loc, entry, enabled in self._members():
            grid = grid_type_problem(entry.submitter)
            if grid and enabled:
                problems.append(((*loc, "submitter", "grid_resource"), f"entry {entry.name!r}: {grid}"))
            if entry.name in seen:
                problems.append(
                    ((*loc, "name"), f"duplicate entry name {entry.name!r} (also {seen[entry.name]})")
                )
            seen.setdefault(entry.name, _dotted(loc))
            problems += allow_problems(entry.allow_frontends, (*loc, "allow_frontends"), classes)
            problems += _reference_problems(entry, loc, classes)
            problems += relay_problems(entry, loc) if enabled else []
        return problems


def _reference_problems(entry: Entry, loc: Loc, classes: dict[str, set[str]]) -> list[Problem]:
    """Per-frontend limits and downtimes that name an unknown frontend or security class."""
    problems: list[Problem] = []
    for key in entry.limits.per_frontend:
        frontend, _, security_class = key.partition(":")
        known = classes.get(frontend)
        if known is None or (security_class and security_class not in known):
            msg = f"unknown frontend or security class {key!r}"
            problems.append(((*loc, "limits", "per_frontend", key), msg))
    for index, downtime in enumerate(entry.downtimes):
        known = classes.get(downtime.frontend, set()) if downtime.frontend != "All" else None
        if downtime.frontend != "All" and downtime.frontend not in classes:
            problems.append(
                ((*loc, "downtimes", index, "frontend"), f"unknown frontend {downtime.frontend!r}")
            )
        elif known is not None and downtime.security_class not in known | {"All"}:
            msg = f"unknown security class {downtime.security_class!r} of frontend {downtime.frontend!r}"
            problems.append(((*loc, "downtimes", index, "security_class"), msg))
    return problems


def _dotted(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text
