"""Bus over two real collectors when one goes down and comes back (issue 16: no single point of failure)."""

from __future__ import annotations

import logging
import signal

import pytest

from glidein.common import classads
from glidein.common.bus import Bus, merge_answers
from glidein.common.errors import BusError
from tests.integration.collector.conftest import StartCollector
from tests.procs import Processes, wait_for, wait_for_port


def _ad(my_type: str, name: str, **attrs: object) -> classads.ClassAd:
    return classads.from_dict({"MyType": my_type, "Name": name, **attrs})


def _names(ads: list[classads.ClassAd]) -> list[str]:
    return sorted(str(ad["Name"]) for ad in ads)


def test_one_collector_down_goes_on_warns_once_and_catches_up(
    start_collector: StartCollector, processes: Processes, caplog: pytest.LogCaptureFixture
) -> None:
    one, two = start_collector(), start_collector()
    bus = Bus([one.address, two.address], timeout=3, retries=1, sleep=lambda _: None)
    bus.advertise([_ad("glideclient", f"c{i}", AdSequence=i) for i in range(3)])
    wait_for(lambda: len(Bus([two.address]).query("glideclient")) == 3)
    victim = processes.procs[0]  # collector one
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    caplog.set_level(logging.INFO, "glidein.common.bus")
    for cycle in range(3):  # three cycles while it is down: the ads still reach the other one
        bus.advertise([_ad("glideclient", f"c{i}", AdSequence=10 * cycle + i) for i in range(4)])
        assert _names(bus.query("glideclient")) == ["c0", "c1", "c2", "c3"]
    bus.invalidate("glideclient", 'Name == "c0"')
    wait_for(lambda: _names(bus.query("glideclient")) == ["c1", "c2", "c3"])
    down = [r for r in caplog.records if r.levelno == logging.WARNING and one.address in r.getMessage()]
    assert len(down) == 1, [r.getMessage() for r in down]  # one line per outage, not per call
    # it comes back empty on the same port: the next advertise gives it the ads, one line says so
    processes.glidein(["--debug", "collector", "--port", str(one.port)], f"{one.name}-again")
    wait_for_port(one.port)
    assert _names(bus.query("glideclient")) == ["c1", "c2", "c3"]  # the other still holds them
    bus.advertise([_ad("glideclient", f"c{i}", AdSequence=100 + i) for i in range(1, 4)])
    wait_for(lambda: _names(Bus([one.address]).query("glideclient")) == ["c1", "c2", "c3"])
    assert any("answers again" in r.getMessage() and one.address in r.getMessage() for r in caplog.records)
    processes.stop(processes.procs[-1])
    processes.stop(processes.procs[1])
    with pytest.raises(BusError, match="no collector took the ads"):
        bus.advertise([_ad("glideclient", "c9")])
    with pytest.raises(BusError, match="no collector answered"):
        bus.query("glideclient")


def test_the_same_ad_in_two_collectors_is_one_ad_the_freshest(start_collector: StartCollector) -> None:
    one, two = start_collector(), start_collector()
    Bus([one.address]).advertise([_ad("glideclient", "r@fe.g", AdSequence=5, ReqIdleGlideins=1)])
    Bus([two.address]).advertise(
        [_ad("glideclient", "r@fe.g", AdSequence=7, ReqIdleGlideins=2), _ad("glideclient", "only@two")]
    )
    both = Bus([one.address, two.address])
    wait_for(lambda: len(both.query("glideclient")) == 2)
    got = {str(ad["Name"]): ad for ad in both.query("glideclient", projection=["ReqIdleGlideins"])}
    assert sorted(got) == ["only@two", "r@fe.g"]
    assert got["r@fe.g"]["ReqIdleGlideins"] == 2  # AdSequence 7 beats 5, whichever answered first


def test_merge_answers_keys_by_type_and_name() -> None:
    first = [_ad("glideclient", "a", AdSequence=3), _ad("glidefactory", "a"), classads.ClassAd({"X": 1})]
    second = [_ad("glideclient", "a", AdSequence=2), _ad("glideclient", "b"), classads.ClassAd({"X": 2})]
    merged = merge_answers([first, second])
    assert [(ad.get("MyType"), ad.get("Name"), ad.get("AdSequence")) for ad in merged] == [
        (None, None, None),
        ("glideclient", "a", 3),
        ("glidefactory", "a", None),
        ("glideclient", "b", None),
    ]
