"""Peers that hold the collector's connections: empty packets, dribbled messages, many idle sockets."""

from __future__ import annotations

import socket
import time

from glidein.pool import cedar
from tests.integration.collector.conftest import StartCollector
from tests.procs import wait_for


def _dribble(port: int, packet: bytes, every: float, for_seconds: float) -> float:
    """Send `packet` every `every` seconds; the seconds until the server closed (or `for_seconds`)."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
        while time.monotonic() - start < for_seconds:
            try:
                sock.sendall(packet)
            except OSError:
                break
            time.sleep(every)
    return time.monotonic() - start


def test_empty_packets_count_against_the_message_limit(start_collector: StartCollector) -> None:
    running = start_collector("--max-message", "65536")
    empty = cedar.HEADER.pack(0, 0)
    with socket.create_connection(("127.0.0.1", running.port), timeout=5) as sock:
        try:
            for _ in range(20):
                sock.sendall(empty * 1000)  # 20,000 empty packets, 100 KB of headers
        except OSError:
            pass  # the server hung up
    wait_for(lambda: len(running.lines("larger than 65536")) == 1, timeout=10)
    assert running.answers()


def test_read_timeout_bounds_a_whole_message(start_collector: StartCollector) -> None:
    running = start_collector("--read-timeout", "1", "--idle-timeout", "30")
    held = _dribble(running.port, cedar.HEADER.pack(0, 0), every=0.2, for_seconds=6)
    assert held < 4  # 1 s of read timeout and the watchdog's tick, not as long as the peer likes
    partial = _dribble(running.port, cedar.HEADER.pack(0, 1) + b"x", every=0.2, for_seconds=6)
    assert partial < 4
    wait_for(lambda: len(running.lines("timed out")) == 2, timeout=10)
    assert running.answers()


def test_one_peer_cannot_take_every_connection(start_collector: StartCollector) -> None:
    running = start_collector("--max-connections", "100", "--idle-timeout", "30")  # 64 per peer
    greedy = []
    try:
        for _ in range(120):  # idle connections from 127.0.0.2, more than the server takes in all
            sock = socket.create_connection(
                ("127.0.0.1", running.port), timeout=5, source_address=("127.0.0.2", 0)
            )
            greedy.append(sock)
        wait_for(lambda: bool(running.lines("refused")), timeout=10)
        assert running.answers()  # 127.0.0.1 is still served
        refused = running.lines("refused")
        assert (
            len(refused) == 1 and "peer=127.0.0.2:" in refused[0] and "from 127.0.0.2, limit 64" in refused[0]
        )
        greedy[-1].settimeout(3)
        assert greedy[-1].recv(10) == b""  # hung up on, not left waiting
    finally:
        for sock in greedy:
            sock.close()
