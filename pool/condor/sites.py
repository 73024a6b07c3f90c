"""Pools that pilots go through on their way to a site: the factory's schedd and an HTCondor-CE.

A factory submits pilots as grid-universe jobs of its own `condor_schedd`: `batch slurm` sends them
through the blahp to the local Slurm (a factory on a site's head node), `condor <ce> <collector>`
forwards them by Condor-C to a CE's schedd, which routes them on (`remote_*` attributes of the
job, as an HTCondor-CE job route would) to Slurm through its own blahp, or runs them in its
local universe. Both pools here are personal pools (pool/condor/personal.py) with a collector and
one named schedd, and the blahp settings of shared/htcondor/README.md when a Slurm is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from glidein.pool.condor.config import PoolSpec
from glidein.pool.condor.personal import CondorPool
from glidein.pool.condor.release import Release

FACTORY_SCHEDD = "factory"
CE_SCHEDD = "ce"
FACTORY_DOMAIN = "factory.127.0.0.1"  # trust domains of the two pools that `start_sites` starts
CE_DOMAIN = "ce.127.0.0.1"
FACTORY_SUBMITTER = f"gfactory@{FACTORY_DOMAIN}"  # the factory's identity at its own schedd
HOST_ALIAS = "127-0-0-1.localdomain"  # the daemons' host name on loopback with NO_DNS
BLAH_CONFIG = "blah.config"
# The blahp's own config: where Slurm's commands are, and that every path is shared with the
# worker nodes (one machine), so the job's files are not staged by the blahp.
BLAH_SETTINGS = {
    "supported_lrms": "slurm,condor,pbs,lsf,sge",
    "slurm_binpath": "/usr/bin",
    "blah_shared_directories": "/",
    "blah_disable_wn_proxy_renewal": "yes",
    "blah_disable_limited_proxy": "yes",
    "blah_max_threaded_cmds": "50",
    "blah_run_in_workdir": "yes",
    "job_registry": "",
    "job_registry_use_mmap": "no",
    "blah_job_env_confs": "",
}


def grid_settings(root: Path, slurm_conf: str | None) -> dict[str, str]:
    """condor_config lines for a schedd that sends grid jobs to Slurm through the blahp."""
    settings = {
        "BATCH_GAHP": "$(BIN)/blahpd",
        "BLAHPD_LOCATION": "$(RELEASE_DIR)",
        "GRIDMANAGER_JOB_PROBE_INTERVAL": "5",
        "CONDOR_JOB_POLL_INTERVAL": "5",
        "GRIDMANAGER_MAX_SUBMITTED_JOBS_PER_RESOURCE": "1000",
        # a Condor-C resource found down (a site relay redeployed) is pinged again after this many
        # seconds (default 300): jobs at a relay that came back are followed again that soon
        "GRIDMANAGER_RESOURCE_PROBE_INTERVAL": "5",
    }
    if slurm_conf:
        env = f"BLAHPD_CONFIG_LOCATION={root / BLAH_CONFIG} SLURM_CONF={slurm_conf}"
        settings["SCHEDD_ENVIRONMENT"] = f'"{env}"'
    return settings


def write_blah_config(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / BLAH_CONFIG
    path.write_text("".join(f"{key}={value}\n" for key, value in BLAH_SETTINGS.items()))
    return path


def schedd_pool_spec(
    root: Path, schedd: str, trust_domain: str, slurm_conf: str | None, identities: tuple[str, ...] = ()
) -> PoolSpec:
    """A collector and one schedd named `schedd` (no negotiator: nothing runs here but grid and
    local-universe jobs); `identities` may submit (token holders authorized as DAEMON)."""
    extra = {"SCHEDD_NAME": schedd, **grid_settings(root, slurm_conf)}
    return PoolSpec(
        root,
        roles=("collector", "schedd"),
        name=f"{schedd}-pool",
        trust_domain=trust_domain,
        daemon_identities=identities,
        extra=extra,
    )


def start_schedd_pool(pool: CondorPool) -> CondorPool:
    """Write the blahp config beside the pool's condor_config, then start the pool."""
    write_blah_config(pool.spec.root)
    pool.start()
    return pool


def schedd_name(schedd: str) -> str:
    """The full name a schedd advertises (`ce` -> `ce@127-0-0-1.localdomain`)."""
    return f"{schedd}@{HOST_ALIAS}"


def condor_grid_resource(ce_pool: CondorPool, schedd: str = CE_SCHEDD) -> str:
    """`grid_resource` of a pilot sent by Condor-C to the CE schedd of `ce_pool`."""
    return f"condor {schedd_name(schedd)} {ce_pool.collector}"


@dataclass
class Sites:
    """The factory's schedd, a CE (its own collector and schedd), and the factory's token dir."""

    factory: CondorPool
    ce: CondorPool
    tokens: Path
    slurm_conf: str | None

    def stop(self) -> None:
        """Both pools stopped by pid, the CE first."""
        self.ce.stop()
        self.factory.stop()


def start_sites(release: Release, root: Path, slurm_conf: str | None) -> Sites:
    """The factory's schedd pool and a CE pool under `root`, and `root/factory-tokens` holding the
    factory's IDTOKEN (FACTORY_SUBMITTER, READ and WRITE) for its schedd; `root` must be enterable
    by the pool account."""
    factory = CondorPool(
        release, schedd_pool_spec(root / "factory", FACTORY_SCHEDD, FACTORY_DOMAIN, slurm_conf)
    )
    ce = CondorPool(release, schedd_pool_spec(root / "ce", CE_SCHEDD, CE_DOMAIN, slurm_conf))
    start_schedd_pool(factory)
    try:
        start_schedd_pool(ce)
    except Exception:
        factory.stop()
        raise
    tokens = root / "factory-tokens"
    factory.write_token(tokens, FACTORY_SUBMITTER, authz=("READ", "WRITE"))
    return Sites(factory, ce, tokens, slurm_conf)
