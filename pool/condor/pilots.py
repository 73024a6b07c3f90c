"""Pilots in `condor` startd mode joining a personal pool: their parameters and their slots.

Shared by the integration tests and `bench/pilot_condor.py`: the `-param_` values that point a
pilot's real condor_startd at a `CondorPool` (its collector, an IDTOKEN minted from the pool's
POOL key, which daemons may administer the slot, a short update interval, a small slot), and the
slots `condor_status` shows for one pilot.
"""

from __future__ import annotations

from glidein.pool.condor.personal import CondorPool

# Who may claim or administer a pilot's slot: `condor` where a site runs the pool's daemons,
# `nobody` when root runs a personal pool (its daemons drop to nobody).
POOL_DAEMONS = "condor@* nobody@*"


def pilot_params(pool: CondorPool, identity: str, **extra: str) -> dict[str, str]:
    """`-param_` values of a condor-mode pilot joining `pool` as `identity`, overridden by `extra`.

    `identity` must be one of the pool spec's `startd_identities` (it may advertise startd ads).
    """
    values = {
        "GLIDEIN_Collector": pool.collector,
        "GLIDEIN_Token": pool.mint_token(identity),
        "GLIDEIN_Condor_Daemon_Identities": POOL_DAEMONS,
        "GLIDEIN_Condor_Update_Interval": "5",
        "GLIDEIN_CPUS": "1",
        "GLIDEIN_MaxMemMBs": "512",
    }
    return values | extra


def slot_names(pool: CondorPool, pilot_id: str, timeout: float = 20.0) -> list[str]:
    """Names of the slots of pilot `pilot_id` in the pool's collector, as `condor_status` lists them."""
    constraint = f'GLIDEIN_Pilot_ID == "{pilot_id}"'
    return pool.tool("condor_status", "-const", constraint, "-af", "Name", timeout=timeout).split()
