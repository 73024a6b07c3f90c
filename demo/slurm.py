"""The demo's Slurm entry: an existing cluster ($SLURM_CONF), or a private one-node cluster in its
own temporary directory (named in `<demo dir>/slurm_prefix`) brought up with the project's
scripts/slurm_up.sh and stopped and deleted with scripts/slurm_down.sh at the end.

`--slurm auto` (default): $SLURM_CONF when it answers, else a private cluster when Slurm and munge
are installed and we are root (slurm_up.sh needs both), else no Slurm entry.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from glidein.common.errors import GlideinError
from glidein.demo.layout import free_ports, slurm_available

log = logging.getLogger(__name__)
PREFIX_FILE = "slurm_prefix"  # in the demo directory: where its private cluster lives
SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


@dataclass
class SlurmCluster:
    conf: str
    prefix: Path | None = None  # set when the demo started it (and must stop it)

    def stop(self) -> str:
        if self.prefix is None:
            return ""
        env = dict(os.environ, SLURM_PREFIX=str(self.prefix), SLURM_PURGE="1")
        down = subprocess.run(
            ["bash", str(SCRIPTS / "slurm_down.sh")],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return down.stdout + down.stderr


def can_start() -> bool:
    tools = ("slurmctld", "slurmd", "munged", "sbatch", "squeue")
    return os.geteuid() == 0 and all(shutil.which(t) for t in tools)


def start_private(prefix: Path) -> SlurmCluster:
    ports = free_ports(("ctld", "slurmd"))
    env = dict(
        os.environ,
        SLURM_PREFIX=str(prefix),
        SLURM_CTLD_PORT=str(ports["ctld"]),
        SLURM_SLURMD_PORT=str(ports["slurmd"]),
        SLURM_SMOKE="0",
    )
    up = subprocess.run(
        ["bash", str(SCRIPTS / "slurm_up.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    cluster = SlurmCluster(str(prefix / "etc" / "slurm.conf"), prefix)
    if up.returncode != 0:
        cluster.stop()
        tail = "\n".join((up.stdout + up.stderr).strip().splitlines()[-5:])
        raise GlideinError(f"demo: the private Slurm cluster did not start:\n{tail}")
    return cluster


def choose(mode: str, demo_dir: Path) -> SlurmCluster | None:
    """The cluster the Slurm entry uses (SLURM_CONF is exported for the factory), or None."""
    if mode == "no":
        return None
    if slurm_available():
        return SlurmCluster(os.environ["SLURM_CONF"])
    if can_start():
        # munged wants every directory above its socket searchable by all: not always true of the
        # demo directory (mkdtemp, pytest), so the cluster gets its own; its path is kept for --stop.
        prefix = Path(tempfile.mkdtemp(prefix="glidein-demo-slurm-"))
        prefix.chmod(0o755)
        (demo_dir / PREFIX_FILE).write_text(f"{prefix}\n")
        try:
            cluster = start_private(prefix)
        except GlideinError as exc:
            if mode == "yes":
                raise
            log.warning("no Slurm entry: %s", exc)
            return None
        os.environ["SLURM_CONF"] = cluster.conf  # inherited by the factory
        return cluster
    if mode == "yes":
        raise GlideinError("--slurm yes: no Slurm answers and none can be started (needs root and slurm-wlm)")
    return None


def kept_cluster(demo_dir: Path) -> SlurmCluster | None:
    """The private cluster of a demo left running (--keep), from its directory."""
    try:
        prefix = Path((demo_dir / PREFIX_FILE).read_text().strip())
    except OSError:
        return None
    return SlurmCluster(str(prefix / "etc" / "slurm.conf"), prefix)
