"""`glidein demo --stop DIR` (demo/stop.py) with real tiny processes: it returns only when the
recorded processes and what they left in their process groups are gone, and says what it stopped."""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import pytest

from glidein.demo import stop
from glidein.demo.layout import prepare
from glidein.demo.processes import Supervisor, alive

# A parent that obeys SIGTERM, with a child in its group that ignores it (a pilot's startd, say).
PARENT = (
    "import subprocess, sys, time; "
    "c = subprocess.Popen([sys.executable, '-c', 'import signal, time; "
    "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)']); "
    "print('child', c.pid, flush=True); time.sleep(60)"
)


def _child_pid(log: Path, timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        words = log.read_text().split() if log.exists() else []
        if len(words) >= 2 and words[0] == "child":
            return int(words[1])
        time.sleep(0.05)
    raise AssertionError(f"no child pid in {log}")


def test_stop_waits_for_the_groups_and_says_what_it_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = prepare(tmp_path / "demo", 1, False)
    sup = Supervisor(layout.logs, layout.root / "pids.json")
    # "glidein.cli" on its command line: --stop signals only the demo's own processes
    schedd = sup.start("schedd", [sys.executable, "-c", PARENT, "glidein.cli"])
    monkeypatch.setattr(stop, "GROUP_GRACE", 0.5)
    try:
        child = _child_pid(schedd.log_path)
        out = io.StringIO()
        assert stop.stop_kept(layout.root, out) == 0
        assert not alive(child)  # gone when --stop returns, not some time later
        assert not alive(schedd.proc.pid)
        assert out.getvalue().strip() == (
            f"stopped the demo in {layout.root}: 1 processes (schedd ({schedd.proc.pid})); "
            "removed 0 pilots still at the sites; had to kill: the rest of schedd's group"
        )
        again = io.StringIO()
        assert stop.stop_kept(layout.root, again) == 0
        assert again.getvalue().startswith(f"nothing of the demo in {layout.root} was running")
    finally:
        sup.stop_all(timeout=2.0)
