"""The collector's ingest helper process (pool/collector/ingest.py) against a real collector.

Updates are checked in a helper process while the server reads on; what a client sees must not
change: a query that follows updates on the same connection finds them all, in their last
version, and a helper that dies costs one log line, not an update."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

from glidein.pool import cedar
from tests.integration.collector.conftest import Running, StartCollector
from tests.procs import wait_for

GENERIC = cedar.COMMANDS["UPDATE_AD_GENERIC"]
QUERY_ANY = cedar.COMMANDS["QUERY_ANY_ADS"]


def _cmdline(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def _helper_pid(collector: Running) -> int:
    """The pid of the collector's ingest helper, once it runs its module (a loaded machine may
    show the log line before the helper's command line)."""
    wait_for(lambda: bool(collector.lines("ingest helper pid")), timeout=10)
    (line,) = collector.lines("ingest helper pid")
    pid = int(line.split("ingest helper pid ")[1].split()[0])
    wait_for(lambda: b"glidein.pool.collector.ingest" in _cmdline(pid), timeout=10)
    return pid


def _updates_then_query(address: str, ads: int, version: int) -> list[dict[str, str]]:
    """On one connection: `ads` raw updates (each ad twice, the second one newer), then a query."""
    data = bytearray()
    for number in range(ads):
        for seen in (version - 1, version):
            ad = cedar.make_ad({"MyType": "glideorder", "Name": f"n{number}", "Version": seen})
            data += cedar.frame(cedar.Encoder().put_int(GENERIC).put_ad(ad).payload())
    request = [
        *cedar.make_ad({"MyType": "Query", "TargetType": "glideorder"}),
        ("Requirements", 'MyType == "glideorder"'),
    ]
    data += cedar.frame(cedar.Encoder().put_int(QUERY_ANY).put_ad(request).payload())
    host, port = address.split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        conn = cedar.Connection.__new__(cedar.Connection)
        conn.sock, conn.address = sock, address
        sock.sendall(data)
        reply = conn.receive()
    found = []
    while reply.get_int():
        found.append(cedar.ad_dict(reply.get_ad()))
    return found


def test_a_query_after_updates_finds_them_all_in_order(collector: Running) -> None:
    _helper_pid(collector)  # the updates go through the helper
    for version in (2, 4):
        found = _updates_then_query(collector.address, 2000, version)
        assert len(found) == 2000
        assert {cedar.literal(ad["version"]) for ad in found} == {version}  # the newer of each pair


def test_a_helper_that_dies_costs_one_line_and_no_update(start_collector: StartCollector) -> None:
    collector = start_collector()
    pid = _helper_pid(collector)
    os.kill(pid, signal.SIGKILL)  # the helper is the collector's child; this test started it
    wait_for(lambda: bool(collector.lines("ingest helper ended")), timeout=10)
    found = _updates_then_query(collector.address, 500, 6)
    assert len(found) == 500 and {cedar.literal(ad["version"]) for ad in found} == {6}
    assert len(collector.lines("ingest helper ended")) == 1 and collector.answers()


def test_checks_still_run_in_the_helper(collector: Running) -> None:
    """An ad the bounds refuse is refused (one line naming the attribute), a malformed update
    closes its connection (one line), and the collector goes on."""
    deep = [*cedar.make_ad({"MyType": "glidebad", "Name": "deep"}), ("Deep", "(" * 100 + "1" + ")" * 100)]
    cedar.advertise(collector.address, [deep], "UPDATE_AD_GENERIC")
    wait_for(
        lambda: bool(collector.lines("rejected UPDATE_AD_GENERIC: attribute Deep: ad: nested 100 deep")),
        timeout=10,
    )
    host, port = collector.address.split(":")
    bad = cedar.frame(cedar.INT.pack(GENERIC) + cedar.INT.pack(3) + b"A = 1\0")  # ends inside the ad
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(bad)
        sock.settimeout(10)
        assert sock.recv(1) == b""  # closed by the collector
    assert collector.answers()
    assert len(collector.lines("closed: message ends inside a string")) == 1
    assert not collector.lines("internal error")
