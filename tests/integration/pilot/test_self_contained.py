"""Self-contained pilots (issue 16 part 2): the stage packed into the executable, the factory's web
server unreachable (a closed port). The packed pilot verifies and runs; one changed byte of a packed
file (content, description, signature) is refused with one line before anything runs; the pilot's
log and report come back in its stdout and the factory stores them where the pages find them."""

from __future__ import annotations

import base64
import hashlib
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from glidein.factory import selfcontained
from glidein.factory.web import load_or_create_report_key
from tests.integration.pilot.helpers import StageSite, mark_script
from tests.procs import Processes


def _site(tmp_path: Path, processes: Processes, real_startd: bool = False) -> StageSite:
    site = StageSite(tmp_path, processes, real_startd=real_startd)
    site.extra = {"main": [mark_script(tmp_path, "m1", 0)], "entry": [mark_script(tmp_path, "e1s", 2)]}
    site.stage()  # never served: its port stays closed
    load_or_create_report_key(site.state_dir / "report.key")
    return site


@pytest.fixture
def listening() -> Iterator[dict[str, str]]:
    """A listening loopback port for the pilot's network check (the web server's stays closed)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        address = f"127.0.0.1:{server.getsockname()[1]}"
        yield {"GLIDEIN_Collector": address, "GLIDEIN_Schedd": "http://" + address}


def packed_argv(
    site: StageSite, pilot: selfcontained.PackedPilot, pilot_id: str, params: dict[str, str]
) -> list[str]:
    argv = site.pilot_argv(pilot_id, **params)
    return [argv[0], str(pilot.path), *argv[2:], *pilot.args()]


def run(site: StageSite, argv: list[str], out: Path) -> subprocess.CompletedProcess[str]:
    proc = site.run_pilot(argv)
    out.write_text(proc.stdout)
    return proc


def test_packed_pilot_runs_without_the_web_server_and_brings_back_log_and_report(
    tmp_path: Path, processes: Processes, listening: dict[str, str]
) -> None:
    site = _site(tmp_path, processes)
    pilot = selfcontained.pack(site.stage_dir, tmp_path / "packed")
    proc = run(site, packed_argv(site, pilot, "p1", listening), tmp_path / "p1.out")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (site.markers / "startd").exists()
    assert (site.markers / "order").read_text().split()[::2] == ["m1", "e1s"]
    assert "report to factory failed" in proc.stderr  # the web server was indeed unreachable
    assert not list(Path(tmp_path / "work").glob("glide_packed_*"))  # unpacked files removed
    assert selfcontained.collect(site.state_dir, "p1", tmp_path / "p1.out") == "stored"
    report = site.report("p1")
    assert report["status"] == "success" and report["pilot_id"] == "p1"
    log_text = (site.state_dir / "pilots" / "p1" / "log.txt").read_text()
    assert "verified level main" in log_text and "verified level entry" in log_text
    assert "FINAL success" in log_text
    assert selfcontained.collect(site.state_dir, "p1", tmp_path / "p1.out") == "already"


def _packed_files(path: Path) -> tuple[bytes, list[list[bytes]]]:
    data = path.read_bytes()
    head, _, payload = data.partition(b"\n" + selfcontained.PAYLOAD_LINE.encode())
    return head, [line.split(b" ") for line in payload.splitlines()]


def _tampered(pilot: selfcontained.PackedPilot, victim: str, target: Path) -> selfcontained.PackedPilot:
    """A copy of the packed pilot with one byte of the packed file `victim` changed (payload hash
    recomputed: what the per-file hash and signature checks alone must catch)."""
    head, rows = _packed_files(pilot.path)
    for row in rows:
        if row[1].decode() == victim:
            data = bytearray(base64.b64decode(row[2]))
            data[len(data) // 2] ^= 0x01
            row[2] = base64.b64encode(bytes(data))
    payload = b"".join(b" ".join(row) + b"\n" for row in rows)
    target.write_bytes(head + b"\n" + selfcontained.PAYLOAD_LINE.encode() + payload)
    return selfcontained.PackedPilot(target, hashlib.sha256(payload).hexdigest())


def _victims(pilot: selfcontained.PackedPilot) -> dict[str, str]:
    names = [row[1].decode() for row in _packed_files(pilot.path)[1]]
    pick = {
        "content": next(n for n in names if n.startswith("stage/m1.")),
        "manifest": next(n for n in names if n.startswith("stage/description.")),
        "signature": next(n for n in names if n.startswith("stage/signature.")),
    }
    return pick


@pytest.mark.parametrize("what", ["content", "manifest", "signature"])
def test_one_changed_byte_in_the_packed_pilot_is_refused_before_anything_runs(
    tmp_path: Path, processes: Processes, listening: dict[str, str], what: str
) -> None:
    site = _site(tmp_path, processes)
    pilot = selfcontained.pack(site.stage_dir, tmp_path / "packed")
    victim = _victims(pilot)[what]
    # as shipped (the pilot's -packed_sha256 unchanged): refused by the payload hash, one line
    changed = _tampered(pilot, victim, tmp_path / "changed.py")
    stale = selfcontained.PackedPilot(changed.path, pilot.sha256)
    proc = run(site, packed_argv(site, stale, "t1", listening), tmp_path / "t1.out")
    assert proc.returncode == 5, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    why = f"payload of {changed.path}: SHA-256 differs from -packed_sha256 (changed in transit?)"
    assert lines == [f"glidein_startup: packed pilot refused: {why}"]
    assert list(site.markers.iterdir()) == []
    # with a matching payload hash: the wrapper's own hash chain refuses it, as a download
    proc = run(site, packed_argv(site, changed, "t2", listening), tmp_path / "t2.out")
    assert proc.returncode == 5, proc.stderr[-2000:]
    assert list(site.markers.iterdir()) == [], "a script or the startd ran"
    for pilot_id in ("t1", "t2"):
        assert selfcontained.collect(site.state_dir, pilot_id, tmp_path / f"{pilot_id}.out") == "stored"
        report = site.report(pilot_id)
        assert report["failure_class"] == "Corruption" and report["results"] == [], pilot_id
    assert site.report("t2")["step"] == "verify"


def test_a_raw_byte_flip_anywhere_in_the_payload_text_is_refused(
    tmp_path: Path, processes: Processes, listening: dict[str, str]
) -> None:
    site = _site(tmp_path, processes)
    pilot = selfcontained.pack(site.stage_dir, tmp_path / "packed")
    data = bytearray(pilot.path.read_bytes())
    start = data.index(selfcontained.PAYLOAD_LINE.encode()) + len(selfcontained.PAYLOAD_LINE)
    for index, offset in enumerate((start + 40, (start + len(data)) // 2, len(data) - 5)):
        copy = bytearray(data)
        copy[offset] = ord("A") if copy[offset] != ord("A") else ord("B")
        target = tmp_path / f"flip{index}.py"
        target.write_bytes(bytes(copy))
        flipped = selfcontained.PackedPilot(target, pilot.sha256)
        proc = run(site, packed_argv(site, flipped, f"f{index}", listening), tmp_path / "f.out")
        assert proc.returncode == 5 and "packed pilot refused" in proc.stderr, proc.stderr[-1000:]
        assert list(site.markers.iterdir()) == []
