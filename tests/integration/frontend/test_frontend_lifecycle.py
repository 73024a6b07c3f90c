"""The daemon's lifecycle on its own: fail closed without collectors, SIGHUP reload, SIGTERM stop."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.procs import Processes, free_port, wait_for
from tests.unit.frontend.fixtures import FactoryKeys, write_config


def test_fail_closed_reload_and_stop(processes: Processes, tmp_path: Path) -> None:
    nowhere = f"127.0.0.1:{free_port()}"
    config = write_config(tmp_path, FactoryKeys(), nowhere, nowhere, interval=1)
    daemon = processes.glidein(["frontend", "run", "--config", str(config)], "frontend")
    wait_for(lambda: "cycle skipped (fail closed)" in processes.log("frontend"), timeout=20, interval=0.2)

    good = config.read_text()
    config.write_text(good.replace("name: main", "name: renamed"))
    daemon.send_signal(signal.SIGHUP)
    wait_for(lambda: "configuration reloaded" in processes.log("frontend"), timeout=10, interval=0.2)

    config.write_text(good.replace("interval: 1", "interval: -5"))
    daemon.send_signal(signal.SIGHUP)
    wait_for(lambda: "reload refused" in processes.log("frontend"), timeout=10, interval=0.2)
    assert "loop.interval" in processes.log("frontend")  # the bad path is named

    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(15) == 0
    assert "stopping: withdrawing our ads" in processes.log("frontend")
