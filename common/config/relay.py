"""An entry's site relay (`entries[].relay`): a thin schedd on the site's head node that the
factory deploys through the entry's normal route and then submits the entry's pilots to.

`kind: condor` is a real `condor_master` + `condor_schedd` (pool/condor/relay.py) sent to an
HTCondor-CE by Condor-C and run in its local universe; it hands pilots to the site's batch
system through the blahp (`forward`). `kind: glidein` is glidein's own schedd in relay mode.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from glidein.common.config.base import HostPort, Loc, PosInt, Problem, Seconds, StrictModel

RELAY_KINDS = ("condor", "glidein")
LRMS = ("slurm", "pbs", "lsf", "sge", "condor")
DEFAULT_DIR_PREFIX = "/var/tmp/glidein-relay-"  # noqa: S108 - on the head node, kept across relays


class Relay(StrictModel):
    """A site relay for this entry (PanDA Pilot Factory's schedd glidein)."""

    enabled: bool = Field(default=True, description="`false` keeps the settings but deploys no relay.")
    kind: Literal["condor", "glidein"] = Field(
        default="condor",
        description="`condor`: condor_master + condor_schedd through the entry's HTCondor route;"
        " `glidein`: glidein's own schedd in relay mode.",
    )
    lifetime: PosInt = Field(
        default=86400,
        description="Seconds a relay runs; then it shuts down and the monitor deploys the next.",
    )
    forward: str = Field(
        default="batch slurm",
        description="Where the relay hands pilots: the pilots' `remote_GridResource` (`batch <lrms>`,"
        " through the blahp on the head node).",
    )
    collector: HostPort | None = Field(
        default=None,
        description="Collector the relay advertises to and is located through; default the entry's"
        " `submitter.collector` (the factory's schedd's pool).",
    )
    release_dir: str = Field(
        default="/usr", description="HTCondor release on the head node (`$(release_dir)/sbin/condor_master`)."
    )
    dir: str | None = Field(
        default=None,
        description="The relay's directory on the head node, kept across redeployments (a new relay"
        " resumes the queue of the last); default `/var/tmp/glidein-relay-<entry>`.",
    )
    slurm_conf: str | None = Field(
        default=None, description="SLURM_CONF on the head node, when Slurm's default does not apply."
    )
    update_interval: PosInt = Field(
        default=60, description="Seconds between two ads of the relay; an ad 3 intervals old is stale."
    )
    start_timeout: PosInt = Field(
        default=600, description="Seconds a deployed relay may take to advertise and answer."
    )
    ping_failures: PosInt = Field(
        default=2, description="Cycles in a row the relay may fail to answer before it is redeployed."
    )
    backoff: Seconds = Field(
        default=60, description="Wait before the second redeployment in a row; doubles each time."
    )
    max_backoff: Seconds = Field(default=3600, description="Longest wait between redeployments.")
    fallback: bool = Field(
        default=False,
        description="While no relay is live, submit pilots through the entry's normal route"
        " (default: submit none, and say so in the log and status).",
    )
    submit_attrs: dict[str, str] = Field(
        default_factory=dict,
        description="Extra submit commands of the relay's job (the CE's route may want some, e.g."
        " `+maxWallTime`); the entry's own `submitter.submit_attrs` are for its pilots, not the relay.",
    )
    condor_config: dict[str, str] = Field(
        default_factory=dict,
        description="Extra condor_config lines of the relay (e.g. NETWORK_INTERFACE on a real head node).",
    )

    @field_validator("forward")
    @classmethod
    def _forward(cls, value: str) -> str:
        words = value.split()
        if len(words) != 2 or words[0] != "batch" or words[1] not in LRMS:
            raise ValueError(f"must be `batch <lrms>` with lrms one of {', '.join(LRMS)}, not {value!r}")
        return value

    @field_validator("dir", "release_dir", "slurm_conf")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None and (not value.startswith("/") or any(c in value for c in " \t\n$'\"")):
            raise ValueError(f"must be an absolute path without spaces, quotes or '$', not {value!r}")
        return value

    def relay_dir(self, entry: str) -> str:
        return self.dir or f"{DEFAULT_DIR_PREFIX}{entry}"


def relay_problems(entry: object, loc: Loc) -> list[Problem]:
    """Why an entry's relay cannot work with its submitter (a `condor` relay goes by Condor-C)."""
    relay = getattr(entry, "relay", None)
    if relay is None or not relay.enabled:
        return []
    submitter = getattr(entry, "submitter", None)
    if relay.kind == "glidein":  # glidein's own schedd, deployed through a local or Slurm submitter
        if getattr(submitter, "type", "") not in ("local", "slurm"):
            return [((*loc, "relay", "kind"), "a glidein relay needs a local or slurm submitter")]
        return (
            [((*loc, "relay", "collector"), "required for a glidein relay")]
            if relay.collector is None
            else []
        )
    where = (*loc, "relay", "kind")
    if getattr(submitter, "type", "") != "htcondor" or getattr(submitter, "grid_type", "") != "condor":
        return [(where, "a condor relay needs an htcondor submitter with a `condor` grid_resource (a CE)")]
    if relay.collector is None and getattr(submitter, "collector", None) is None:
        return [((*loc, "relay", "collector"), "required when submitter.collector is not set")]
    return []
