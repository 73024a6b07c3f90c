"""The demo's clean-up waits for live processes only: a zombie (not reaped yet) is not "alive"."""

from __future__ import annotations

import subprocess
import time

from glidein.demo.cleanup import _group_alive


def test_a_zombie_does_not_keep_its_group_alive() -> None:
    proc = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        assert _group_alive(proc.pid)
        proc.kill()
        deadline = time.monotonic() + 5
        while _group_alive(proc.pid):  # a zombie until we wait(): must read as gone
            assert time.monotonic() < deadline, "the zombie's group still reads as alive"
            time.sleep(0.05)
        assert proc.poll() is not None
    finally:
        proc.kill()
        proc.wait()
