"""The factory tests' world: a real collector and `glidein factory run` with two local entries."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from glidein.common.bus import Bus
from tests.factory_support import FactorySetup, local_entry, write_factory
from tests.procs import Processes, free_port, wait_for, wait_for_port


@pytest.fixture
def world(tmp_path: Path, processes: Processes) -> Iterator[tuple[FactorySetup, Bus, Any]]:
    port = free_port()
    processes.glidein(["collector", "--port", str(port)], "collector")
    wait_for_port(port)
    setup = write_factory(
        tmp_path, [local_entry("e1"), local_entry("e2")], collector=f"127.0.0.1:{port}", workers=2
    )
    factory = processes.glidein(["factory", "run", "--config", str(setup.config)], "factory")
    bus = Bus([f"127.0.0.1:{port}"], timeout=5)
    wait_for(lambda: len(bus.query("glidefactory")) == 2, timeout=20)
    yield setup, bus, factory
    for pid_file in tmp_path.rglob("jobs/*/pid"):
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
