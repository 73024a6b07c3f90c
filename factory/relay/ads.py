"""Relay ads (both kinds): MyType "Scheduler", `is_glidein = true`, GlideinRelayEntry,
GlideinRelayFactory. `condor_status -schedd -const 'is_glidein =?= true'` lists relays."""

from __future__ import annotations

from collections.abc import Mapping

from glidein.factory.relay.decide import RelayAd
from glidein.factory.submitters.htcondor_desc import classad_string

ALL_RELAYS = "is_glidein =?= true"


def relay_constraint(entry: str, factory: str) -> str:
    """The ads of the relays of `entry` of `factory`."""
    return (
        f"{ALL_RELAYS} && GlideinRelayEntry =?= {classad_string(entry)}"
        f" && GlideinRelayFactory =?= {classad_string(factory)}"
    )


def ad_of(ad: Mapping[str, object]) -> RelayAd | None:
    """RelayAd from a schedd ad (None when it lacks a name or a LastHeardFrom)."""
    name, heard, start = ad.get("Name"), ad.get("LastHeardFrom"), ad.get("DaemonStartTime", 0)
    if not isinstance(name, str) or not isinstance(heard, int | float):
        return None
    return RelayAd(name, float(heard), float(start) if isinstance(start, int | float) else 0.0)
