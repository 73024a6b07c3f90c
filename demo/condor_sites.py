"""`glidein demo --htcondor`: the factory's own condor_schedd, an HTCondor-CE, and their entries.

The factory submits the `CE_Site` entry's pilots as grid jobs of its schedd, which forwards them by
Condor-C to the CE's schedd (its own pool and trust domain); the CE sends them on to Slurm through
its blahp when the demo has a Slurm, else runs them in its local universe. With Slurm there is
also `BATCH_Slurm`: the factory's schedd hands pilots to Slurm through the blahp itself, as a
factory on a site's head node does. The factory authenticates to its schedd with an IDTOKEN kept
in its `condor_tokens` directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from glidein.pool.condor.personal import NOBODY, CondorPool
from glidein.pool.condor.release import Release
from glidein.pool.condor.sites import (
    CE_SCHEDD,
    FACTORY_SCHEDD,
    schedd_name,
    schedd_pool_spec,
    start_schedd_pool,
)

FACTORY_TRUST = "factory.127.0.0.1"
CE_TRUST = "ce.127.0.0.1"
FACTORY_SUBMITTER = f"gfactory@{FACTORY_TRUST}"  # the factory's identity at its own schedd
PORT_NAMES = ("factory_schedd", "ce")
TO_SLURM = {"+remote_JobUniverse": "9", "+remote_GridResource": '"batch slurm"'}  # the CE's route
AT_CE = {"+remote_JobUniverse": "12"}  # no Slurm: the CE runs the pilot itself (local universe)


def site_pools(
    release: Release, root: Path, ports: dict[str, int], slurm_conf: str | None
) -> list[CondorPool]:
    """The factory's schedd pool and the CE pool (not started), on the demo's ports."""
    base = root / "condor"
    pools = [
        CondorPool(release, schedd_pool_spec(base / "factory", FACTORY_SCHEDD, FACTORY_TRUST, slurm_conf)),
        CondorPool(release, schedd_pool_spec(base / "ce", CE_SCHEDD, CE_TRUST, slurm_conf)),
    ]
    for pool, name in zip(pools, PORT_NAMES, strict=True):
        pool.port = ports[name]
    return pools


def start_site_pools(pools: list[CondorPool], factory_tokens: Path) -> None:
    """Start both; the factory's token for its schedd goes into its `condor_tokens` directory."""
    started: list[CondorPool] = []
    try:
        for pool in pools:
            start_schedd_pool(pool)
            started.append(pool)
    except Exception:
        for pool in started:
            pool.stop()
        raise
    pools[0].write_token(factory_tokens, FACTORY_SUBMITTER, ("READ", "WRITE"))


def _pilot_dir(root: Path, entry: str) -> Path:
    """Where the entry's pilots' output comes back: written by the schedd as the pool account."""
    path = root / "condor" / "pilots" / entry
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        os.chown(path.parent, NOBODY, NOBODY)
        os.chown(path, NOBODY, NOBODY)
    return path


def _entry(
    name: str, site: str, resource: str, route: dict[str, str], *, root: Path, ports: dict[str, int]
) -> dict[str, Any]:
    return {
        "name": name,
        "gatekeeper": resource.rsplit(maxsplit=1)[-1]
        if resource.startswith("condor ")
        else "slurm.localhost",
        "submitter": {
            "type": "htcondor",
            "grid_resource": resource,
            "schedd": schedd_name(FACTORY_SCHEDD),
            "collector": f"127.0.0.1:{ports['factory_schedd']}",
            "log_dir": str(_pilot_dir(root, name)),
            "submit_attrs": route,
        },
        "attrs": {"GLIDEIN_Site": {"value": site}},
        "limits": {"max_idle": 2, "max_glideins": 2, "max_per_cycle": 2},
        "pilot": {"hold_time": 10},
    }


def entries_yaml(root: Path, ports: dict[str, int], slurm: bool) -> str:
    """factory.yaml entries (a YAML list, indented as in the template) of the CE and, with Slurm,
    of the factory's own blahp."""
    ce = f"condor {schedd_name(CE_SCHEDD)} 127.0.0.1:{ports['ce']}"
    entries = [_entry("CE_Site", "CE", ce, TO_SLURM if slurm else AT_CE, root=root, ports=ports)]
    if slurm:
        entries.append(_entry("BATCH_Slurm", "BatchSlurm", "batch slurm", {}, root=root, ports=ports))
    text = yaml.safe_dump(entries, sort_keys=False, default_flow_style=False)
    return "".join(f"  {line}\n" for line in text.splitlines())
