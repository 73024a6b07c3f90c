"""The web process for real: `glidein monitor web` on a loopback port, and start_web_process."""

from __future__ import annotations

import functools
import os
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from glidein.common.errors import GlideinError
from glidein.common.monitoring.recorder import Monitor
from glidein.common.monitoring.rrd import RRDStore
from glidein.common.monitoring.snapshot import Snapshot, StaticSource
from glidein.common.web.app import WebApp, WebConfig
from glidein.common.web.server import make_server, start_web_process
from tests.monitoring_sample import STEP, entries_at, pilots
from tests.procs import Processes, free_port, run_glidein, wait_for_port


def get(port: int, target: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{target}", timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def raw(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def populate(root: Path, pilots_dir: Path, cycles: int = 5) -> float:
    now = time.time()
    start = int(now) - int(now) % STEP - cycles * STEP
    monitor = Monitor(root, "factory")
    for k in range(cycles):
        monitor.record_cycle(entries_at(k), start + k * STEP, pilots(now, pilots_dir))
    return now


def idle_pilots(body: bytes) -> dict[tuple[str, str], float]:
    return {
        (s.labels["entry"], s.labels["client"]): s.value
        for f in text_string_to_metric_families(body.decode())
        for s in f.samples
        if s.name == "glidein_pilots" and s.labels["state"] == "idle"
    }


def test_monitor_web_process(tmp_path: Path, processes: Processes) -> None:
    root, pdir = tmp_path / "mon", tmp_path / "pilots"
    now = populate(root, pdir)
    port = free_port()
    proc = processes.glidein(
        ["monitor", "web", "--root", str(root), "--port", str(port), "--pilots-dir", str(pdir)], "web"
    )
    wait_for_port(port)
    for target in ("/", "/pilots", "/entry?name=ce_slow", "/metrics", "/pilots/p0001/stderr"):
        status, _body = get(port, target)
        assert status == 200, target
    assert get(port, "/graph.png?chart=pilots&period=1d")[1].startswith(b"\x89PNG")
    assert idle_pilots(get(port, "/metrics")[1]) == {
        (e.name, c.client): c.counts.pilots_idle for e in entries_at(4) for c in e.clients
    }
    # Garbage and odd methods never take it down.
    assert b"400" in raw(port, b"GARBAGE\r\n\r\n")
    assert b" 414 " in raw(port, b"GET /" + b"x" * 70000 + b" HTTP/1.1\r\n\r\n")
    assert b" 414 " in raw(port, b"GET /" + b"x" * 5000 + b" HTTP/1.1\r\n\r\n")
    assert b" 501 " in raw(port, b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc")
    raw(port, bytes(range(256)) * 4)
    with socket.create_connection(("127.0.0.1", port)):
        pass  # a client that connects and leaves
    assert get(port, "/pilots/..%2f..%2fetc%2fpasswd/log")[0] == 400
    # The daemon writes a new snapshot: /metrics follows it.
    Monitor(root, "factory").record_cycle(entries_at(9), now + 10)
    os.utime(root / "factory" / "snapshot.json", (now + 20, now + 20))
    expected = {(e.name, c.client): c.counts.pilots_idle for e in entries_at(9) for c in e.clients}
    assert idle_pilots(get(port, "/metrics")[1]) == expected
    assert processes.stop(proc) == 0
    assert "web: stopped" in processes.log("web")


def test_start_web_process_serves_a_static_source(tmp_path: Path) -> None:
    now = populate(tmp_path / "mon", tmp_path / "pilots", cycles=3)
    snap = Snapshot(now, tuple(entries_at(2)), tuple(pilots(now)))
    port = free_port()
    factory = functools.partial(StaticSource, snap, tmp_path / "pilots")
    proc = start_web_process(WebConfig(port=port), tmp_path / "mon", factory)
    try:
        wait_for_port(port, timeout=20)
        status, body = get(port, "/pilots?state=failed")
        assert status == 200 and b"p0002" in body and b"p0001" not in body
        assert get(port, "/pilots/p0002/stdout") == (200, b"stdout of p0002\n")
    finally:
        proc.terminate()
        proc.join(10)
    assert proc.exitcode == 0


def test_monitor_graph_command(tmp_path: Path) -> None:
    populate(tmp_path / "mon", tmp_path / "pilots", cycles=3)
    out = tmp_path / "g.png"
    args = ["monitor", "graph", "--root", str(tmp_path / "mon"), "--entry", "ce_slow", "--chart", "jobs"]
    done = run_glidein([*args, "-o", str(out)])
    assert done.returncode == 0, done.stderr
    assert out.read_bytes().startswith(b"\x89PNG")
    bad = run_glidein(
        ["monitor", "graph", "--root", str(tmp_path / "mon"), "--entry", "nope", "-o", str(out)]
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1].startswith("glidein monitor: error: monitoring: no RRD for")


def test_binding_beyond_loopback_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = WebApp(WebConfig(host="0.0.0.0", port=0), StaticSource(Snapshot(0.0)), RRDStore(tmp_path))
    server = make_server(app)
    server.server_close()
    assert "not loopback" in caplog.text
    busy = WebApp(WebConfig(port=0), StaticSource(Snapshot(0.0)), RRDStore(tmp_path))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        taken = WebApp(WebConfig(port=sock.getsockname()[1]), busy.source, busy.store)
        with pytest.raises(GlideinError, match=r"cannot listen on 127\.0\.0\.1"):
            make_server(taken)
