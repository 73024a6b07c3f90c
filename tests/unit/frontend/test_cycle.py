"""A whole frontend cycle with fake buses and a fake schedd: numbers, signatures, tokens, fail closed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import pytest

from glidein.cli.frontend import explain_lines
from glidein.common import classads, crypto, tokens
from glidein.common.classads import ClassAd
from glidein.common.config import load_frontend_config
from glidein.common.errors import BusError, GlideinError
from glidein.factory.frontends import Expectations, verify
from glidein.factory.requests import FrontendTrust, MemorySequences, RequestValidator
from glidein.frontend import jobs
from glidein.frontend.daemon import Frontend
from glidein.frontend.matching import JobCluster
from tests.unit.frontend.fixtures import FactoryKeys, entry_ad, frontend_public_key, write_config

NOW = 1_800_000_000.0


class FakeBus:
    def __init__(self, ads: dict[str, list[ClassAd]] | None = None, down: bool = False) -> None:
        self.ads = ads or {}
        self.down = down
        self.advertised: list[ClassAd] = []
        self.invalidated: list[tuple[str, str]] = []

    def query(
        self, my_type: str | None, constraint: str = "true", projection: Sequence[str] = ()
    ) -> list[ClassAd]:
        if self.down:
            raise BusError("query at collector 127.0.0.1:1 failed: connection refused")
        return list(self.ads.get(my_type or "", []))

    def advertise(self, ads: Sequence[ClassAd]) -> None:
        self.advertised.extend(ads)

    def invalidate(self, my_type: str, constraint: str = "true") -> None:
        self.invalidated.append((my_type, constraint))


class FakeSource:
    name = "fake"

    def __init__(self, clusters: list[JobCluster], fail: bool = False) -> None:
        self.list, self.fail = clusters, fail

    def clusters(self, constraint: str, projection: Sequence[str] = ()) -> list[JobCluster]:
        if self.fail:
            raise GlideinError("schedd fake does not answer")
        return self.list


class FakeSourcesFrontend(Frontend):
    sources: ClassVar[list[jobs.JobSource]] = []

    def _sources(self, schedd_ads: list[ClassAd]) -> list[jobs.JobSource]:
        return self.sources


def job(sites: str, cpus: int = 1) -> ClassAd:
    return classads.from_dict({"DESIRED_Sites": sites, "RequestCpus": cpus, "RequestMemory": 1000})


def slot(entry: str, **attrs: object) -> ClassAd:
    values: dict[str, object] = {
        "MyType": "Machine",
        "Name": f"slot@{entry}",
        "State": "Unclaimed",
        "Activity": "Idle",
        "Cpus": 4,
        "Memory": 8000,
        "GLIDEIN_Entry_Name": entry,
        "GLIDEIN_Name": "gl",
        "GLIDEIN_Factory": "fac",
        "GLIDEIN_Client": "fe.main",
        "GLIDEIN_ToDie": NOW + 86400,
    }
    values.update(attrs)
    return classads.from_dict(values)


@pytest.fixture
def setup(tmp_path: Path) -> tuple[FakeSourcesFrontend, FakeBus, FakeBus, FactoryKeys, Path]:
    keys = FactoryKeys()
    config = load_frontend_config(write_config(tmp_path, keys))
    entries = [entry_ad(keys, "ce1", "SiteA"), entry_ad(keys, "ce2", "SiteB", GLIDEIN_In_Downtime=True)]
    wms = FakeBus({"glidefactory": entries})
    pool = FakeBus({"Machine": [slot("ce1")]})
    frontend = FakeSourcesFrontend(config, wms, pool, clock=lambda: NOW)  # type: ignore[arg-type]
    frontend.sources = [FakeSource([JobCluster(job("SiteA"), 30), JobCluster(job("SiteB"), 10)])]
    return frontend, wms, pool, keys, tmp_path


def requests_by_entry(bus: FakeBus) -> dict[str, dict[str, object]]:
    return {str(a["ReqName"]): classads.to_dict(a) for a in bus.advertised if a["MyType"] == "glideclient"}


def test_cycle_requests_numbers_signed_and_sealed(setup: tuple) -> None:  # type: ignore[type-arg]
    frontend, wms, pool, keys, tmp = setup
    frontend.cycle()
    got = requests_by_entry(wms)
    # ce1: 30 idle, 1 usable idle slot -> effective 29: int(29/3)=9 + reserve min(29//3, 5)=5 = 14;
    # max: int(29 * 1.15 + 1) = 34.  ce2 is in downtime: 0 and 0.
    assert (got["ce1@gl@fac"]["ReqIdleGlideins"], got["ce1@gl@fac"]["ReqMaxGlideins"]) == (14, 34)
    assert (got["ce2@gl@fac"]["ReqIdleGlideins"], got["ce2@gl@fac"]["ReqMaxGlideins"]) == (0, 0)
    assert got["ce1@gl@fac"]["GlideinParamGLIDEIN_Collector"] == "127.0.0.1:2"
    validator = RequestValidator(
        {"fe": FrontendTrust.from_keys("fe", [frontend_public_key(tmp)])},
        {crypto.key_id(keys.box.public_key()): keys.box},
        ["ce1@gl@fac", "ce2@gl@fac"],
        MemorySequences(),
        clock=lambda: NOW,
    )
    ad = next(a for a in wms.advertised if a["ReqName"] == "ce1@gl@fac")
    valid = validator.validate(ad)
    claims = tokens.verify(
        tokens.load_key(tmp / "pool.key"), valid.secrets["GLIDEIN_Token"], "startd", now=NOW
    )
    assert claims["sub"] == "fe.main" and claims["exp"] == NOW + 3600
    resources = {a["Name"]: classads.to_dict(a) for a in pool.advertised}
    res = resources["ce1@gl@fac@fe.main"]
    assert (res["GlideClientMonitorJobsIdleMatching"], res["GlideClientMonitorGlideinsIdle"]) == (30, 1)
    assert res["GlideClientMonitorGlideinsRequestIdle"] == 14


def test_second_cycle_reuses_token_and_increases_sequence(setup: tuple) -> None:  # type: ignore[type-arg]
    frontend, wms, _pool, keys, _tmp = setup
    frontend.cycle()
    frontend.cycle()
    ads = [a for a in wms.advertised if a["ReqName"] == "ce1@gl@fac"]
    assert ads[0]["AdSequence"] < ads[1]["AdSequence"]
    opened = [
        json.loads(crypto.open_sealed(keys.box, str(a["GlideinEncParams"]), f"fe|{a['Name']}")) for a in ads
    ]
    assert opened[0] == opened[1]


def test_removal_escalates_when_jobs_are_gone(setup: tuple) -> None:  # type: ignore[type-arg]
    frontend, wms, pool, _keys, _tmp = setup
    frontend.sources = [FakeSource([])]
    pool.ads["Machine"] = []
    levels = []
    for _ in range(4):
        wms.advertised.clear()
        frontend.cycle()
        levels.append(requests_by_entry(wms)["ce1@gl@fac"]["ReqRemoveExcess"])
    assert levels == ["NO", "WAIT", "ALL", "ALL"]  # wait_cycles 1, all_cycles 2


def test_unusable_idle_slot_not_counted(setup: tuple) -> None:  # type: ignore[type-arg]
    frontend, _wms, pool, _keys, _tmp = setup
    pool.ads["Machine"] = [slot("ce1", Memory=500)]
    outcomes = frontend.cycle()
    text = "\n".join(explain_lines(outcomes[0], "ce1"))
    assert "0 usable idle (not usable: memory 1)" in text
    assert "ReqIdleGlideins=15" in text  # effective 30: 10 + 5
    assert "ce2" not in text


def test_fail_closed_and_schedds_down(setup: tuple) -> None:  # type: ignore[type-arg]
    frontend, wms, _pool, _keys, _tmp = setup
    wms.down = True
    assert frontend.cycle() == [] and wms.advertised == []
    wms.down = False
    frontend.sources = [FakeSource([], fail=True)]
    assert frontend.cycle() == [] and requests_by_entry(wms) == {}
    (glob,) = wms.advertised  # the frontend is there, and says it sent no request
    assert (glob["MyType"], glob["NumberOfRequests"]) == ("glideclientglobal", 0)


def test_one_signed_glideclientglobal_per_factory_the_factory_believes(setup: tuple) -> None:  # type: ignore[type-arg]
    frontend, wms, _pool, keys, tmp = setup
    frontend.cycle()
    (glob,) = [a for a in wms.advertised if a["MyType"] == "glideclientglobal"]
    trust = {"fe": FrontendTrust.from_keys("fe", [frontend_public_key(tmp)])}
    known = Expectations(trust, {"fe": "fe@test"}, "gl@fac")
    seen = verify(glob, known, [crypto.key_id(keys.box.public_key())], NOW)
    assert (seen.name, seen.identity, seen.groups, seen.requests, seen.notes) == (
        "fe",
        "fe@test",
        ("main",),
        2,
        (),
    )
    assert glob["Name"] == "gl@fac@fe" and glob["ClassAdLifetime"] == frontend.config.loop.classad_lifetime
    sequences = [a["AdSequence"] for a in wms.advertised]
    assert len(set(sequences)) == len(sequences)  # one AdSequence space for requests and globals
    assert verify(glob, Expectations(trust, {"fe": "fe@elsewhere"}, "gl@fac"), [], NOW).notes == (
        "says identity 'fe@test', configured 'fe@elsewhere'",
        f"seals secrets for key id(s) {crypto.key_id(keys.box.public_key())} this factory no longer has",
    )


def test_invalidate_withdraws_our_ads(setup: tuple) -> None:  # type: ignore[type-arg]
    frontend, wms, pool, _keys, _tmp = setup
    frontend.invalidate()
    assert wms.invalidated == [  # our own (an active's): a serving standby's ads stay
        ("glideclient", '(FrontendName == "fe") && (FrontendHAMode =!= "standby")'),
        ("glideclientglobal", 'FrontendName == "fe"'),
    ]
    assert pool.invalidated == [
        ("glideresource", '(GlideFrontendName == "fe") && (GlideFrontendHAMode =!= "standby")')
    ]


def test_monitoring_row_from_the_factory_client_ads(setup: tuple) -> None:  # type: ignore[type-arg]
    frontend, wms, _pool, _keys, tmp = setup
    counts = {
        "GlideinMonitorStatusIdle": 3,
        "GlideinMonitorStatusRunning": 2,
        "GlideinMonitorStatusHeld": 0,
        "GlideinMonitorRequestedIdle": 14,
        "GlideinMonitorRequestedMaxGlideins": 34,
    }
    client_ad = {"MyType": "glidefactoryclient", "Name": "ce1@gl@fac@fe.main", "ReqClientName": "fe.main"}
    other = dict(client_ad, Name="ce1@gl@fac@other.main", ReqClientName="other.main")
    wms.ads["glidefactoryclient"] = [
        classads.from_dict({**client_ad, **counts}),
        classads.from_dict({**other, **counts}),
    ]
    frontend.cycle()
    snapshot = json.loads((tmp / "state" / "monitor" / "frontend" / "snapshot.json").read_text())
    text = json.dumps(snapshot)
    assert "fe.main" in text and "other.main" not in text
    client = snapshot["entries"][0]["clients"][0]["counts"]
    assert (client["jobs_idle"], client["pilots_idle"], client["requested_idle"]) == (30, 3, 14)
    assert list((tmp / "state" / "monitor" / "frontend").rglob("*.rrd"))


def test_advertising_failure_is_one_log_line(setup: tuple, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[type-arg]
    frontend, wms, _pool, _keys, _tmp = setup

    def refuse(ads: Sequence[ClassAd]) -> None:
        raise BusError("advertise at collector 127.0.0.1:1 failed: connection refused")

    wms.advertise = refuse  # type: ignore[method-assign]
    outcomes = frontend.cycle()
    assert len(outcomes) == 1
    assert "advertising failed this cycle" in caplog.text and "connection refused" in caplog.text
