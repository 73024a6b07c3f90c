"""A one-node Slurm on loopback for the tests marked `slurm` (started once per session,
stopped at the end)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[3] / "scripts"
PREFIX = "/tmp/glidein-slurm-pytest"
ENV = {"SLURM_PREFIX": PREFIX, "SLURM_CTLD_PORT": "17917", "SLURM_SLURMD_PORT": "17918", "SLURM_CPUS": "8"}


@pytest.fixture(scope="session")
def slurm_conf() -> Iterator[str]:
    """SLURM_CONF of a running cluster; skips when Slurm is not installed or we are not root."""
    if shutil.which("slurmctld") is None or shutil.which("munged") is None:
        pytest.skip("Slurm is not installed (scripts/system_deps.sh installs slurmctld, slurmd, munge)")
    if os.geteuid() != 0:
        pytest.skip("the test Slurm cluster needs root")
    env = {**os.environ, **ENV}
    up = subprocess.run(
        ["bash", str(SCRIPTS / "slurm_up.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    if up.returncode != 0:
        subprocess.run(
            ["bash", str(SCRIPTS / "slurm_down.sh")], env=env, capture_output=True, timeout=100, check=False
        )
        pytest.fail(f"slurm_up.sh failed: {up.stdout[-2000:]} {up.stderr[-2000:]}")
    try:
        yield f"{PREFIX}/etc/slurm.conf"
    finally:
        subprocess.run(
            ["bash", str(SCRIPTS / "slurm_down.sh")], env=env, capture_output=True, timeout=100, check=False
        )
