"""frontend/ha.py and the daemon in a standby role, with a fake bus that applies the constraints
(ClassAd evaluation of the real constraint strings against stored ads)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml

from glidein.common import classads
from glidein.common.classads import ClassAd
from glidein.common.config import load_frontend_config
from glidein.common.errors import BusError
from glidein.frontend.ha import Standby, active_constraint, own_constraint
from glidein.frontend.matching import JobCluster
from tests.unit.frontend.fixtures import FactoryKeys, entry_ad, write_config
from tests.unit.frontend.test_cycle import NOW, FakeSource, FakeSourcesFrontend, job, slot


class StoreBus:
    """Ads keyed by (MyType, Name) like a collector; queries and invalidations evaluate constraints."""

    def __init__(self, ads: Sequence[ClassAd] = ()) -> None:
        self.ads: dict[tuple[str, str], ClassAd] = {}
        self.down = False
        self.advertise(ads)

    def query(
        self, my_type: str | None, constraint: str = "true", projection: Sequence[str] = ()
    ) -> list[ClassAd]:
        if self.down:
            raise BusError("no collector answered: refused")
        return [
            ad
            for (kind, _), ad in self.ads.items()
            if (my_type is None or kind == my_type.lower()) and classads.evaluate(constraint, ad) is True
        ]

    def advertise(self, ads: Sequence[ClassAd]) -> None:
        for ad in ads:
            self.ads[(str(ad["MyType"]).lower(), str(ad["Name"]))] = ad

    def invalidate(self, my_type: str, constraint: str = "true") -> None:
        for key in [k for k, ad in self.ads.items() if ad in self.query(my_type, constraint)]:
            del self.ads[key]

    def names(self, my_type: str) -> dict[str, object]:
        return {name: ad.get("FrontendHAMode") for (kind, name), ad in self.ads.items() if kind == my_type}


def ad(my_type: str, name: str, frontend: str = "fe", mode: str | None = None) -> ClassAd:
    values: dict[str, object] = {"MyType": my_type, "Name": name, "FrontendName": frontend}
    if mode is not None:
        values["FrontendHAMode"] = mode
    return classads.from_dict(values)


def test_constraints_tell_the_active_from_the_standby() -> None:
    bus = StoreBus(
        [
            ad("glideclientglobal", "g@fe"),
            ad("glideclient", "old@fe.main"),  # a frontend without the mark counts as active
            ad("glideclient", "a@fe.main", mode="active"),
            ad("glideclient", "s@fe.main", mode="standby"),
            ad("glideclient", "x@other.main", frontend="other", mode="active"),
        ]
    )
    names = sorted(str(a["Name"]) for a in bus.query(None, active_constraint("fe")))
    assert names == ["a@fe.main", "g@fe", "old@fe.main"]
    assert [a["Name"] for a in bus.query(None, own_constraint("FrontendName", "fe", "standby"))] == [
        "s@fe.main"
    ]
    res = classads.from_dict({"MyType": "glideresource", "Name": "r", "GlideFrontendName": "fe"})
    res["GlideFrontendHAMode"] = "standby"
    assert classads.evaluate(own_constraint("GlideFrontendName", "fe", "standby"), res) is True
    assert classads.evaluate(own_constraint("GlideFrontendName", "fe", "active"), res) is False


def test_standby_takes_over_steps_back_and_keeps_its_state_when_blind(
    caplog: pytest.LogCaptureFixture,
) -> None:
    wms, pool = StoreBus([ad("glideclientglobal", "g@fe", mode="active")]), StoreBus()
    standby = Standby(wms, pool, "fe", clock=lambda: NOW)
    assert not standby.may_serve() and not standby.may_serve()
    wms.invalidate("glideclientglobal")  # the active stopped (or its ads expired)
    assert standby.may_serve() and standby.took_over_at == NOW
    wms.advertise(
        [ad("glideclient", "e@fe.main", mode="standby"), ad("glideclient", "f@fe.main", mode="standby")]
    )
    wms.down = True
    assert standby.may_serve()  # cannot tell: keeps serving (it cannot publish either)
    wms.down = False
    # the active is back and already overwrote one request (same Name): only the other is withdrawn
    wms.advertise(
        [ad("glideclientglobal", "g@fe", mode="active"), ad("glideclient", "e@fe.main", mode="active")]
    )
    assert not standby.may_serve()
    assert wms.names("glideclient") == {"e@fe.main": "active"}
    lines = [r.getMessage() for r in caplog.records if r.name == "glidein.frontend.ha"]
    assert sum("taking over" in line for line in lines) == 1 and sum("is back" in line for line in lines) == 1


def standby_frontend(tmp_path: Path, wms: StoreBus, pool: StoreBus) -> FakeSourcesFrontend:
    keys = FactoryKeys()
    path = write_config(tmp_path, keys)
    data = yaml.safe_load(path.read_text())
    data["high_availability"] = {"role": "standby", "check_interval": 5}
    path.write_text(yaml.safe_dump(data))
    wms.advertise([entry_ad(keys, "ce1", "SiteA")])
    pool.advertise([slot("ce1")])
    frontend = FakeSourcesFrontend(load_frontend_config(path), wms, pool, clock=lambda: NOW)  # type: ignore[arg-type]
    frontend.sources = [FakeSource([JobCluster(job("SiteA"), 30)])]
    return frontend


def test_a_standby_frontend_publishes_only_without_the_active(tmp_path: Path) -> None:
    wms, pool = StoreBus([ad("glideclientglobal", "g@fe", mode="active")]), StoreBus()
    frontend = standby_frontend(tmp_path, wms, pool)
    assert frontend.cycle() == [] and wms.names("glideclient") == {}  # the active is there
    assert frontend.interval() == 5.0  # standing by: checks every check_interval
    wms.invalidate("glideclientglobal")
    assert frontend.cycle() and wms.names("glideclient") == {"ce1@gl@fac@fe.main": "standby"}
    assert wms.names("glideclientglobal") == {}  # never its own globals: the active's heartbeat
    assert [a.get("GlideFrontendHAMode") for a in pool.query("glideresource")] == ["standby"]
    assert frontend.interval() == 60.0  # serving: the loop's interval
    frontend.invalidate()  # a graceful stop withdraws its own ads only
    assert wms.names("glideclient") == {} and pool.query("glideresource") == []
