"""common/bus.py against real collector processes (the collectors run in their own processes)."""

from __future__ import annotations

import pytest

from glidein.common import classads
from glidein.common.bus import Bus
from glidein.common.errors import BusError, ClassAdError
from tests.integration.collector.conftest import StartCollector
from tests.procs import free_port, wait_for


def _ad(my_type: str, name: str, **attrs: object) -> classads.ClassAd:
    return classads.from_dict({"MyType": my_type, "Name": name, **attrs})


def test_advertise_to_all_query_first_that_answers(start_collector: StartCollector) -> None:
    one, two = start_collector(), start_collector()
    bus = Bus([one.address, two.address], timeout=5, retries=1, sleep=lambda _: None)
    bus.advertise([_ad("glidefactory", f"e{i}", Site=f"S{i % 2}") for i in range(4)])
    bus.advertise([_ad("Machine", "slot1@wn", Cpus=4), _ad("Scheduler", "schedd@h", TotalIdleJobs=3)])
    for address in (one.address, two.address):
        single = Bus([address], timeout=5)
        wait_for(lambda single=single: len(single.query(None)) == 7, timeout=10)  # 6 + the collector's ad
    got = bus.query("glidefactory", 'Site == "S1"', ["Name"])
    assert sorted(classads.eval_attr(ad, "Name") for ad in got) == ["e1", "e3"]
    assert [classads.eval_attr(ad, "Cpus") for ad in bus.query("Machine")] == [4]
    assert [classads.eval_attr(ad, "TotalIdleJobs") for ad in bus.query("Scheduler")] == [3]
    down = f"127.0.0.1:{free_port()}"
    assert len(Bus([down, two.address], timeout=2, retries=0).query("glidefactory")) == 4


def test_invalidate_on_every_pool(start_collector: StartCollector) -> None:
    one, two = start_collector(), start_collector()
    bus = Bus([one.address, two.address], timeout=5)
    bus.advertise([_ad("glideclient", f"c{i}", Req=i) for i in range(5)])
    wait_for(lambda: len(bus.query("glideclient")) == 5, timeout=10)
    bus.invalidate("glideclient", "Req >= 3")
    for address in (one.address, two.address):
        single = Bus([address], timeout=5)
        wait_for(lambda single=single: len(single.query("glideclient")) == 3, timeout=10)
        left = sorted(str(ad["Name"]) for ad in single.query("glideclient"))
        assert left == ["c0", "c1", "c2"], f"{address} kept {left}"
    bus.invalidate("glideclient")
    wait_for(lambda: bus.query("glideclient") == [], timeout=10)
    for address in (one.address, two.address):
        assert Bus([address], timeout=5).query("glideclient") == []


def test_errors() -> None:
    down = f"127.0.0.1:{free_port()}"
    sleeps: list[float] = []
    bus = Bus([down], timeout=1, retries=2, sleep=sleeps.append)
    with pytest.raises(BusError, match=f"no collector answered: query at collector {down}"):
        bus.query("glidefactory")
    assert sleeps == [0.2, 0.4]  # two retries with back-off
    with pytest.raises(BusError, match=f"advertise 1 ads at collector {down}"):
        bus.advertise([_ad("glidefactory", "e")])
    with pytest.raises(BusError, match="string Name"):
        bus.advertise([classads.from_dict({"MyType": "glidefactory"})])
    with pytest.raises(ClassAdError):
        bus.query("glidefactory", "bad ((")
    with pytest.raises(BusError, match="no collector"):
        Bus([])
