"""Bus.query bounds what a collector answers before classad2 parses it.

A hostile collector is a tiny fake speaking enough CEDAR (a no-security session, then one query
answer) in a thread of this process: the real `glidein collector` refuses such ads at ingest, and
the bus's query path is pure Python sockets, so a thread can serve it.
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from glidein.common import bus, classads
from glidein.common.bus import Bus
from glidein.common.errors import BusError
from glidein.pool import cedar

GOOD = [("MyType", '"glidefactory"'), ("Name", '"ok@fac"'), ("S", '"a\\"b"'), ("Requirements", "X > 1")]


def _ad(name: str, **attrs: str) -> cedar.Ad:
    return [("MyType", '"glidefactory"'), ("Name", f'"{name}"'), *attrs.items()]


@dataclass
class FakeCollector:
    """Answers every query with `ads` (or `raw`, a ready payload), sent `delay` s per 64 bytes."""

    ads: list[cedar.Ad] = field(default_factory=list)
    raw: bytes | None = None
    delay: float = 0.0
    secure: bool = False
    sock: socket.socket = field(default_factory=socket.socket)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.sock.getsockname()[1]}"

    def start(self) -> None:
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _peer = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        peer = cedar.Connection.__new__(cedar.Connection)
        peer.sock, peer.address = conn, "client"
        try:
            hello = peer.receive()
            hello.get_int()  # DC_AUTHENTICATE
            auth = cedar.ad_dict(hello.get_ad())
            policy = cedar.server_policy_ad()
            if self.secure:
                policy = [(k, '"YES"' if k == "Authentication" else v) for k, v in policy]
            peer.send(cedar.Encoder().put_ad(policy))
            command = cedar.literal(auth.get("command", "0"))
            peer.send(cedar.Encoder().put_ad(cedar.server_session_ad("fake:1:1:1", [int(str(command))])))
            peer.receive()  # the query ad
            self._answer(conn)
        except (cedar.CedarError, OSError):
            pass
        finally:
            conn.close()

    def _answer(self, conn: socket.socket) -> None:
        if self.raw is None:
            encoder = cedar.Encoder()
            for ad in self.ads:
                encoder.put_int(1).put_ad(ad)
            payload = encoder.put_int(0).payload()
        else:
            payload = self.raw
        data = cedar.frame(payload)
        if not self.delay:
            conn.sendall(data)
            return
        for start in range(0, len(data), 64):
            conn.sendall(data[start : start + 64])
            time.sleep(self.delay)


@pytest.fixture
def fake() -> Iterator[FakeCollector]:
    server = FakeCollector()
    server.start()
    yield server
    server.sock.close()


def _names(ads: list[classads.ClassAd]) -> list[object]:
    return [classads.eval_attr(ad, "Name") for ad in ads]


def test_hostile_ads_are_skipped_with_one_line_each(
    fake: FakeCollector, caplog: pytest.LogCaptureFixture
) -> None:
    fake.ads = [
        GOOD,
        _ad("chain", X=" + ".join(["1"] * 300_000)),  # SIGSEGV in htcondor2's parser
        _ad("deep", X="(" * 5000 + "1" + ")" * 5000),  # fails the whole query in htcondor2
        _ad("deep100", X="[" * 100 + "a = 1" + "]" * 100),
        _ad("wide", **{f"A{i}": "1 + 1" for i in range(12_000)}),
        _ad("broken", X="(("),
        _ad("strings", X='"' + "(" * 500 + '"'),  # parentheses inside a string literal are no nesting
        _ad("multi", X='"line1\nline2"'),
    ]
    with caplog.at_level(logging.WARNING, logger="glidein.common.bus"):
        ads = Bus([fake.address], retries=0).query("glidefactory")
    assert _names(ads) == ["ok@fac", "strings", "multi"]
    assert classads.eval_attr(ads[0], "S") == 'a"b' and classads.eval_attr(ads[2], "X") == "line1\nline2"
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 5 and all(f"collector={fake.address} skipped ad Name=" in line for line in lines)
    assert "nested 5000 deep" in lines[1] and "operators" in lines[3] and "\n" not in "".join(lines)


def test_too_many_ads_fail_the_query_with_a_clear_error(fake: FakeCollector) -> None:
    fake.ads = [_ad(f"e{i}") for i in range(60)]
    assert len(Bus([fake.address], retries=0, max_ads=60).query("glidefactory")) == 60
    with pytest.raises(BusError, match="more than 50 ads"):
        Bus([fake.address], retries=0, max_ads=50).query("glidefactory")


def test_a_trickling_answer_is_cut_at_the_timeout(fake: FakeCollector) -> None:
    fake.ads, fake.delay = [_ad(f"e{i}", Pad='"' + "x" * 200 + '"') for i in range(50)], 0.05
    start = time.monotonic()
    with pytest.raises(BusError, match=r"did not answer within|timed out"):
        Bus([fake.address], timeout=1.0, retries=0).query("glidefactory")
    assert time.monotonic() - start < 3


@pytest.mark.parametrize(
    "raw",
    [
        cedar.Encoder().put_int(1).put_int(3).payload(),  # ends inside the ad
        cedar.Encoder().put_int(1).put_int(-5).payload(),
        cedar.Encoder().put_int(1).put_int(10**9).payload() + b"\0" * 64,
        cedar.Encoder().put_int(1).put_int(2).put_str("A = 1").payload()[:-3],  # ends inside a string
        b"\0\0\0\0\0",  # ends inside the first integer
    ],
)
def test_a_malformed_answer_is_a_bus_error(fake: FakeCollector, raw: bytes) -> None:
    fake.raw = raw
    with pytest.raises(BusError, match=f"query at collector {fake.address} failed"):
        Bus([fake.address], retries=0).query("glidefactory")


def test_layouts_off_the_fast_path_parse_the_same(fake: FakeCollector) -> None:
    secret = cedar.Encoder().put_int(1).put_int(2).put_str("ZKM").put_str('Name = "hidden"')
    secret.put_str('MyType = "glidefactory"').put_str("").put_str("")
    null_types = (
        cedar.Encoder().put_int(1).put_int(2).put_str('Name = "nulls"').put_str('MyType = "glidefactory"')
    )
    fake.raw = secret.payload() + null_types.payload() + b"\xff\xff" + cedar.INT.pack(0)
    assert _names(Bus([fake.address], retries=0).query("glidefactory")) == ["hidden", "nulls"]


def test_a_collector_that_wants_authentication_is_not_asked_without(fake: FakeCollector) -> None:
    fake.secure = True
    with pytest.raises(bus._NeedsSecurity, match="Authentication"), bus._Connection(fake.address, 5) as conn:
        conn.start_command(cedar.COMMANDS["QUERY_ANY_ADS"])


def test_mutated_answers_give_ads_or_a_bus_error(fake: FakeCollector) -> None:
    rng = random.Random(13)
    base = cedar.Encoder()
    for number in range(5):
        base.put_int(1).put_ad([*GOOD[:1], ("Name", f'"e{number}"'), ("L", '{1, "a\\"b", [x = 1]}')])
    payload = base.put_int(0).payload()
    outcomes = {"ads": 0, "error": 0}
    start = time.monotonic()
    for _ in range(300):
        data = bytearray(payload)
        for _ in range(rng.randrange(1, 4)):
            pos = rng.randrange(len(data))
            if rng.random() < 0.5:
                data[pos] ^= 1 << rng.randrange(8)
            else:
                data[pos:pos] = rng.choice([b"\0", b"(" * 80, b"\xff", b"ZKM\0", b"\n", b'"'])
        fake.raw = bytes(data)
        try:
            ads = Bus([fake.address], timeout=2, retries=0).query("glidefactory")
        except BusError:
            outcomes["error"] += 1
        else:
            assert all(isinstance(ad, classads.ClassAd) for ad in ads)
            outcomes["ads"] += 1
    assert time.monotonic() - start < 30 and outcomes["ads"] > 50 and outcomes["error"] > 10, outcomes
