"""Bad input over raw sockets: each bad connection is closed with one log line; the server goes on."""

from __future__ import annotations

import contextlib
import socket
import struct
import time

from glidein.pool import cedar
from tests.integration.collector.conftest import Running, StartCollector
from tests.procs import read_until_closed, run_glidein, wait_for


def _alive(address: str) -> bool:
    cedar.advertise(
        address, [[("MyType", '"glideping"'), ("Name", f'"p{time.monotonic_ns()}"')]], "UPDATE_AD_GENERIC"
    )
    return bool(cedar.query(address, "Collector"))


def _send_raw(port: int, data: bytes, linger: float = 0.3) -> bytes:
    """Send bytes, give the server a moment, return whatever it answered before closing."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        time.sleep(linger)
        return read_until_closed(sock)


def _closed_lines(running: Running) -> list[str]:
    return [line for line in running.log().splitlines() if " closed: " in line]


def test_malformed_packets_close_only_that_connection(collector: Running) -> None:
    bad_inputs = [
        b"\x07\x00\x00\x00\x05hello",  # end flag out of range
        cedar.HEADER.pack(1, 2 << 20),  # packet larger than 1 MiB
        cedar.HEADER.pack(1, 100) + b"short",  # truncated packet
        cedar.frame(b"\x00\x00\x00"),  # message shorter than an integer
        cedar.frame(cedar.Encoder().put_int(999).payload()),  # unknown command
        cedar.frame(cedar.Encoder().put_int(58).put_int(-5).payload()),  # negative attribute count
        cedar.frame(cedar.Encoder().put_int(58).put_int(2).put_str("no equals sign").payload()),
        cedar.frame(cedar.Encoder().put_int(58).put_int(3).put_str("A = 1").payload()),  # ad cut short
        cedar.frame(cedar.Encoder().put_int(cedar.DC_AUTHENTICATE).put_int(1).payload()),
        b"GET / HTTP/1.0\r\n\r\n",
    ]
    for data in bad_inputs:
        _send_raw(collector.port, data, linger=0.05)
    wait_for(lambda: len(_closed_lines(collector)) == len(bad_inputs), timeout=10)
    assert _alive(collector.address)
    assert "Traceback" not in collector.log()


def test_bad_ads_are_rejected_and_the_connection_goes_on(collector: Running) -> None:
    bad = [("MyType", '"glidebad"'), ("Name", '"x"'), ("Inject", '1; MyType = "other"')]
    no_name = [("MyType", '"glidebad"'), ("Other", "1")]
    good = [("MyType", '"glidegood"'), ("Name", '"ok"'), ("Value", "(1 + 2) * 3")]
    cedar.advertise(collector.address, [bad, no_name, good], "UPDATE_AD_GENERIC")
    wait_for(lambda: len(cedar.query(collector.address, "glidegood")) == 1, timeout=10)
    assert cedar.query(collector.address, "glidebad") == []
    rejected = [line for line in collector.log().splitlines() if "rejected" in line]
    assert len(rejected) == 2
    assert "Inject" in rejected[0]
    assert "no Name" in rejected[1]


def test_oversized_ads_and_too_many_attributes(start_collector: StartCollector) -> None:
    running = start_collector("--max-message", "65536", "--max-attrs", "50")
    huge = [("MyType", '"glidebig"'), ("Name", '"big"'), ("Blob", '"' + "x" * 100_000 + '"')]
    many = [("MyType", '"glidebig"'), ("Name", '"many"')] + [(f"A{i}", str(i)) for i in range(60)]
    for ad in (huge, many):
        with contextlib.suppress(cedar.CedarError):  # the server may close before the client is done
            cedar.advertise(running.address, [ad], "UPDATE_AD_GENERIC")
    wait_for(lambda: len(_closed_lines(running)) == 2, timeout=10)
    assert "larger than 65536" in running.log()
    assert "count 62 out of range" in running.log()
    assert _alive(running.address)
    assert cedar.query(running.address, "glidebig") == []


def test_idle_and_stalled_connections_time_out(
    start_collector: StartCollector,
) -> None:
    running = start_collector("--idle-timeout", "1", "--read-timeout", "1")
    idle = socket.create_connection(("127.0.0.1", running.port))
    stalled = socket.create_connection(("127.0.0.1", running.port))
    stalled.sendall(cedar.HEADER.pack(1, 50) + b"partial")
    try:
        assert _alive(running.address)  # served while the two others hang
        wait_for(lambda: len(_closed_lines(running)) == 2, timeout=10)
        idle.settimeout(2)
        assert idle.recv(10) == b""  # the server hung up
    finally:
        idle.close()
        stalled.close()
    assert _alive(running.address)


def test_connection_limit_refuses_extra_connections(start_collector: StartCollector) -> None:
    running = start_collector("--max-connections", "3", "--idle-timeout", "30")
    time.sleep(0.3)  # let the server see the readiness probe's connection end
    held = [socket.create_connection(("127.0.0.1", running.port)) for _ in range(3)]
    try:
        time.sleep(0.3)
        extra = socket.create_connection(("127.0.0.1", running.port))
        extra.settimeout(3)
        assert extra.recv(10) == b""
        extra.close()
        assert "refused" in running.log()
    finally:
        for sock in held:
            sock.close()
    wait_for(lambda: _alive(running.address), timeout=10)


def test_many_packets_and_raw_update_then_nop(collector: Running) -> None:
    payload = cedar.Encoder().put_int(58).put_ad([("MyType", '"glideraw"'), ("Name", '"r1"')]).payload()
    packets = b"".join(cedar.HEADER.pack(0, 1) + payload[i : i + 1] for i in range(len(payload) - 1))
    packets += cedar.HEADER.pack(1, 1) + payload[-1:]
    nop = cedar.frame(struct.pack(">q", cedar.DC_NOP))
    _send_raw(collector.port, packets + nop)
    wait_for(lambda: len(cedar.query(collector.address, "glideraw")) == 1, timeout=10)
    assert _closed_lines(collector) == []


def test_bad_query_constraint_answers_nothing_and_goes_on(collector: Running) -> None:
    assert cedar.query(collector.address, "ANY", "bad ((") == []
    assert "bad query" in collector.log()
    assert _alive(collector.address)


def test_port_in_use_is_a_one_line_error(collector: Running) -> None:
    result = run_glidein(["collector", "--port", str(collector.port)], timeout=30)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "cannot listen on 127.0.0.1" in line
