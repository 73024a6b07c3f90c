"""Bus.query against a real glidein collector: the same ads htcondor2 would parse, at a similar speed."""

from __future__ import annotations

import time

import htcondor2

from glidein.common.bus import Bus
from glidein.pool import cedar
from tests.integration.collector.conftest import Running

SLOTS = 3000


def _slot(number: int) -> cedar.Ad:
    ad = [("MyType", '"Machine"'), ("Name", f'"slot{number}@host"'), ("Machine", '"host"')]
    ad += [("S", '"a\\\\b\\"c"'), ("L", '{1, "x", {2}}'), ("U", "undefined =?= TRUE"), ("N", "-1.5e3")]
    ad += [(f"A{i}", f'"v{i}" + {i}' if i % 3 else str(i)) for i in range(40)]
    return [*ad, ("Requirements", "TARGET.RequestCpus <= MY.A1 && (MY.A2 > 0 || isUndefined(MY.Q))")]


def _best(call: object, rounds: int = 3) -> float:
    assert callable(call)
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def test_bus_query_matches_htcondor2_and_is_not_much_slower(collector: Running) -> None:
    for first in range(0, SLOTS, 500):
        cedar.advertise(collector.address, [_slot(n) for n in range(first, first + 500)], "UPDATE_STARTD_AD")
    edge = [("MyType", '"glideedge"'), ("Name", '"edge"'), ("X", "(" * 60 + "1" + ")" * 60)]
    cedar.advertise(collector.address, [[*edge, ("Y", " + ".join(["1"] * 3000))]], "UPDATE_AD_GENERIC")
    bus = Bus([collector.address])
    direct = htcondor2.Collector(collector.address)
    ours = {str(ad["Name"]): ad for ad in bus.query("Machine")}
    theirs = {str(ad["Name"]): ad for ad in direct.query(htcondor2.AdType.Startd, "true", [])}
    assert len(ours) == SLOTS and ours.keys() == theirs.keys()
    assert all(ours[name] == theirs[name] for name in theirs)
    assert len(bus.query("glideedge", 'Name == "edge"')) == 1  # within the limits: kept
    before = _best(lambda: direct.query(htcondor2.AdType.Startd, "true", []))
    after = _best(lambda: bus.query("Machine"))
    print(f"query of {SLOTS} slot ads: htcondor2 {before:.3f} s, Bus.query (bounded) {after:.3f} s")
    assert after < 3 * before + 0.3, (before, after)
