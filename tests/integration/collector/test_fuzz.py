"""Seeded fuzzing of a real collector: mutated CEDAR traffic, hostile ads and constraints.

Every case goes on its own connection (twenty at a time, each half-closed after sending, so the
server sees all of it and then the end). The collector must stay up, answer, and log no
traceback: a bad connection costs one log line, never the server.
"""

from __future__ import annotations

import random
import socket
import time

from glidein.pool import cedar
from tests.fuzz_support import HOSTILE_EXPRESSIONS
from tests.integration.collector.conftest import StartCollector

SEED = 13
CASES = 400
HOSTILE = [
    *HOSTILE_EXPRESSIONS,
    "random(0) == 0",
    '"a\\" + b"',
    "[ a = 1; b = ]",
    "A0 + A1 + A2",
    "\\\\\\",
    '; MyType = "other"',
]
COMMANDS = [
    cedar.COMMANDS["UPDATE_AD_GENERIC"],
    cedar.COMMANDS["UPDATE_STARTD_AD"],
    cedar.COMMANDS["QUERY_ANY_ADS"],
    cedar.COMMANDS["QUERY_GENERIC_ADS"],
    cedar.COMMANDS["QUERY_MULTIPLE_ADS"],
    cedar.COMMANDS["INVALIDATE_ADS_GENERIC"],
]


def _ad(rng: random.Random) -> list[tuple[str, str]]:
    ad = [("MyType", '"glidefuzz"'), ("Name", f'"f{rng.randrange(50)}"'), ("TargetType", '"glidefuzz"')]
    names = ["Requirements", "ClassAdLifetime", "A0", "A1", "S", "LimitResults", "Projection", "Name"]
    for _ in range(rng.randrange(4)):
        ad.append((rng.choice(names), rng.choice(HOSTILE)))
    if rng.random() < 0.3:
        ad.append(("glidefuzzRequirements", rng.choice(HOSTILE)))
    return ad


def _mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randrange(4)):
        kind = rng.randrange(5)
        pos = rng.randrange(len(buf) + 1)
        if kind == 0 and buf:
            buf[min(pos, len(buf) - 1)] ^= 1 << rng.randrange(8)
        elif kind == 1:
            del buf[pos:]
        elif kind == 2:
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9)))
        elif kind == 3:
            buf[pos:pos] = buf[max(0, pos - 64) : pos]
        else:
            buf[pos:pos] = cedar.HEADER.pack(rng.randrange(2), 0) * rng.randrange(1, 50)
    return bytes(buf)


def _case(rng: random.Random) -> bytes:
    command = rng.choice(COMMANDS)
    payload = cedar.Encoder().put_int(command).put_ad(_ad(rng)).payload()
    data = cedar.frame(payload) + cedar.frame(cedar.Encoder().put_int(cedar.DC_NOP).payload())
    return _mutate(rng, data) if rng.random() < 0.7 else data


def _send_batch(port: int, cases: list[bytes]) -> None:
    socks = []
    for data in cases:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # closed on us half-way: fine
        socks.append(sock)
    for sock in socks:
        try:
            while sock.recv(65536):
                pass
        except OSError:
            pass
        sock.close()


def test_mutated_traffic_never_takes_the_collector_down(start_collector: StartCollector) -> None:
    running = start_collector("--read-timeout", "2", "--idle-timeout", "2")
    rng = random.Random(SEED)
    cases = [_case(rng) for _ in range(CASES)]
    start = time.monotonic()
    for first in range(0, CASES, 20):
        _send_batch(running.port, cases[first : first + 20])
    assert time.monotonic() - start < 60
    name = f'"p{time.monotonic_ns()}"'
    cedar.advertise(running.address, [[("MyType", '"glideping"'), ("Name", name)]], "UPDATE_AD_GENERIC")
    assert len(cedar.query(running.address, "glideping", f"Name == {name}")) == 1
    log = running.log()
    assert "Traceback" not in log and "internal error" not in log and "Unhandled" not in log
