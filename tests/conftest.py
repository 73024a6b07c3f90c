"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.procs import Processes
from tests.slurm_support import slurm_conf  # noqa: F401 (the one Slurm cluster, for every package)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    """Real processes for one test, stopped by pid when it ends; their logs under tmp_path/logs."""
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    procs = Processes(log_dir)
    try:
        yield procs
    finally:
        procs.stop_all()
