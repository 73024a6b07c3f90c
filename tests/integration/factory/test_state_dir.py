"""The real factory with a state dir it cannot write: a full filesystem (a small tmpfs, mounted as
root: chmod does not stop root) and a status file that cannot be replaced. It fails closed, says
so in one line, keeps advertising, resumes by itself, and a restart submits nothing twice."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from glidein.common.bus import Bus
from glidein.common.classads import from_dict
from glidein.common.glideclient import ClientRequest, request_ad
from glidein.factory.state import PilotStore
from tests.factory_support import FactorySetup, local_entry, write_factory
from tests.procs import Processes, free_port, run_glidein, wait_for, wait_for_port

STOPPED = "submitting nothing until it can"


def cannot_mount(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and no small filesystem to fill: {reason}")
    pytest.skip(reason)


@pytest.fixture
def small_disk(tmp_path: Path, processes: Processes) -> Iterator[Path]:
    """A 64 MiB tmpfs where the factory's state dir goes (unmounted after its processes stop)."""
    if os.geteuid() != 0:
        cannot_mount("mounting a small tmpfs needs root")
    mount = tmp_path / "factory"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if done.returncode != 0:
        cannot_mount(f"mount -t tmpfs failed: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        processes.stop_all()
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, timeout=30, check=False)


def fill(disk: Path) -> Path:
    """Write a file until the filesystem is full; the file."""
    filler = disk / "filler"
    with open(filler, "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * (1 << 20))
                handle.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def start(tmp_path: Path, processes: Processes, name: str = "factory") -> tuple[FactorySetup, Bus]:
    port = free_port()
    processes.glidein(["collector", "--port", str(port)], "collector")
    wait_for_port(port)
    setup = write_factory(tmp_path, [local_entry("e1")], collector=f"127.0.0.1:{port}")
    processes.glidein(["factory", "run", "--config", str(setup.config)], name)
    bus = Bus([f"127.0.0.1:{port}"], timeout=5)
    wait_for(lambda: len(bus.query("glidefactory")) == 1, timeout=20)
    return setup, bus


def ask(setup: FactorySetup, bus: Bus, idle: int, seq: int) -> None:
    (glob,) = bus.query("glidefactoryglobal", 'FactoryName == "f1"')
    req = ClientRequest("e1@g@f1", "fe1", "main", idle, 50, seq, "frontend", secrets={"GLIDEIN_Token": "tok"})
    bus.advertise([from_dict(request_ad(req, setup.frontend_key, str(glob["PubKeyValue"])))])


def pilots(setup: FactorySetup) -> tuple[int, int]:
    """(pilots ever recorded, pilots idle) in the bookkeeping."""
    store = PilotStore(setup.state_dir / "factory.db")
    try:
        (recorded,) = store.conn.execute("SELECT COUNT(*) FROM pilots").fetchone()
        return int(recorded), sum(1 for r in store.active("e1") if r.view.is_idle)
    finally:
        store.close()


def queued(setup: FactorySetup) -> int:
    jobs = setup.state_dir / "local" / "e1" / "jobs"
    return sum(1 for _ in jobs.iterdir()) if jobs.exists() else 0


def cycles_pass(processes: Processes, name: str, count: int) -> None:
    start_count = processes.log(name).count("cycle done")
    wait_for(lambda: processes.log(name).count("cycle done") >= start_count + count, timeout=20)


def test_full_state_dir_submits_nothing_keeps_advertising_and_resumes(
    tmp_path: Path, processes: Processes, small_disk: Path
) -> None:
    setup, bus = start(tmp_path, processes)
    ask(setup, bus, 2, seq=1)
    wait_for(lambda: pilots(setup) == (2, 2), timeout=20)
    filler = fill(small_disk)
    ask(setup, bus, 6, seq=2)
    wait_for(lambda: STOPPED in processes.log("factory"), timeout=20)
    cycles_pass(processes, "factory", 3)
    assert pilots(setup) == (2, 2) and queued(setup) == 2  # nothing submitted, nothing recorded
    bus.invalidate("glidefactory", "true")
    wait_for(lambda: len(bus.query("glidefactory")) == 1, timeout=20)  # still advertising
    status = run_glidein(["factory", "status", "--config", str(setup.config)])
    assert status.returncode == 0 and "e1" in status.stdout
    lines = processes.log("factory").splitlines()
    (at,) = [n for n, x in enumerate(lines) if STOPPED in x]  # one line, once
    assert f"WARNING glidein-factory glidein.factory.state_dir: state dir {setup.state_dir}" in lines[at]
    assert "cannot write factory.db: " in lines[at]
    assert not any("Traceback" in x or "submit=4" in x for x in lines)
    assert all(x.endswith("state_dir=unwritable") for x in lines[at:] if "cycle done" in x)
    filler.unlink()
    wait_for(lambda: pilots(setup) == (6, 6), timeout=20)
    assert queued(setup) == 6 and "factory.db writable again" in processes.log("factory")


def test_failing_status_file_neither_stops_the_factory_nor_duplicates_pilots_after_restart(
    tmp_path: Path, processes: Processes
) -> None:
    (tmp_path / "factory").mkdir()
    (tmp_path / "factory" / "status.json").mkdir()  # replacing it fails, as root too
    setup, bus = start(tmp_path, processes)
    ask(setup, bus, 3, seq=1)
    wait_for(lambda: pilots(setup) == (3, 3), timeout=20)
    cycles_pass(processes, "factory", 3)
    factory = processes.procs[-1]
    assert factory.poll() is None and processes.stop(factory) == 0
    log = processes.log("factory")
    assert log.count("cannot write status.json: [Errno 21] Is a directory") == 1 and "Traceback" not in log
    processes.glidein(["factory", "run", "--config", str(setup.config)], "again")
    cycles_pass(processes, "again", 4)  # the same request, read again by the new process
    assert pilots(setup) == (3, 3) and queued(setup) == 3  # the recorded pilots found, none again
    again = processes.log("again")
    assert "idle=3" in again and "submit=0" in again and "Traceback" not in again
