"""demo/processes.py and demo/cleanup.py with real (tiny) processes: stop by pid, kill what ignores
SIGTERM, pid files of a kept demo, process groups left behind."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from glidein.demo import cleanup
from glidein.demo.processes import Supervisor, alive, stop_pid_file

IGNORE_TERM = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('up', flush=True); time.sleep(60)"
)
CHILD_LEFT = (
    "import subprocess, sys, time; "
    "subprocess.Popen([sys.executable, '-c', 'import signal, time; "
    "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)']); time.sleep(60)"
)


def _wait_for_line(path: Path, text: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in {path}")


def test_stop_all_terminates_then_kills_and_records_pids(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path, tmp_path / "pids.json")
    polite = sup.start("polite", [sys.executable, "-c", "import time; time.sleep(60)"])
    stubborn = sup.start("stubborn", [sys.executable, "-c", IGNORE_TERM])
    _wait_for_line(stubborn.log_path, "up")
    assert json.loads((tmp_path / "pids.json").read_text()) == {
        "polite": polite.proc.pid,
        "stubborn": stubborn.proc.pid,
    }
    assert sup.dead() == []
    assert sup.stop_all(timeout=1.0) == ["stubborn"]
    assert not alive(polite.proc.pid) and not alive(stubborn.proc.pid)
    assert sorted(sup.dead()) == ["polite", "stubborn"]


def test_stop_named_and_kill_groups_take_children_too(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path, tmp_path / "pids.json")
    parent = sup.start("parent", [sys.executable, "-c", CHILD_LEFT])
    time.sleep(1.0)  # the child is started
    assert sup.stop_named("parent", timeout=5.0) is True  # the parent itself obeys SIGTERM
    assert cleanup.kill_groups(sup, grace=0.5) == ["parent"]  # its child ignored SIGTERM: killed
    assert cleanup.kill_groups(sup, grace=5.0) == []  # (once the killed child is reaped)
    assert not alive(parent.proc.pid)


def test_stop_pid_file_only_signals_glidein_processes(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path, tmp_path / "pids.json")
    other = sup.start("not-glidein", [sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert stop_pid_file(tmp_path / "pids.json", timeout=1.0) == []
        assert alive(other.proc.pid)  # a pid that is not `python -m glidein.cli` is left alone
    finally:
        sup.stop_all(timeout=2.0)
