"""Two processes poll one local site (a site relay and the factory's relay monitor): a queued
pilot is started once, never by both."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from glidein.factory.submitters.base import PilotRef, PilotSpec
from glidein.factory.submitters.local import LocalSubmitter
from tests.procs import wait_for

PILOTS = 12


@pytest.fixture
def site_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "site"
    for pid_file in tmp_path.rglob("pid"):  # stop what the site started, by pid
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGTERM)


def _site(site_dir: Path) -> LocalSubmitter:
    params = SimpleNamespace(
        slots=PILOTS, queue_wait=0.0, failure_rate=0.0, black_hole=False, work_dir=site_dir
    )
    return LocalSubmitter("e1", params, site_dir)


def test_two_pollers_start_each_pilot_once(site_dir: Path) -> None:
    runs = site_dir.parent / "runs"
    runs.mkdir()
    code = "import os, sys, time; open(sys.argv[1] + '/' + str(os.getpid()), 'w').close(); time.sleep(30)"
    ids = [f"p{n}" for n in range(PILOTS)]
    _site(site_dir).submit(
        [PilotSpec(i, "e1", "fe", [sys.executable, "-c", code, str(runs / i)]) for i in ids]
    )
    for i in ids:
        (runs / i).mkdir()
    barrier = threading.Barrier(2)

    def poll() -> None:
        barrier.wait()
        _site(site_dir).status([PilotRef(i, i) for i in ids])

    threads = [threading.Thread(target=poll) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    wait_for(lambda: all(any((runs / i).iterdir()) for i in ids), timeout=30)
    assert {i: len(list((runs / i).iterdir())) for i in ids} == dict.fromkeys(ids, 1)
