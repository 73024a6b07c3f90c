"""From factory ads to the monitoring model, and on to RRD files that show the ads' numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from glidein.common.errors import GlideinError
from glidein.common.monitoring.ads import counts_from_client_ad, entries_from_ads
from glidein.common.monitoring.model import EntryState
from glidein.common.monitoring.recorder import Monitor
from glidein.common.monitoring.rrd import RRDKey

T = 1_790_000_100 - 1_790_000_100 % 300


def entry_ad(entry: str, **attrs: object) -> dict[str, object]:
    return {"MyType": "glidefactory", "Name": f"{entry}@gl@fac", "EntryName": entry, **attrs}


def client_ad(
    entry: str, client: str, idle: int, running: int, held: int, req: int, mx: int
) -> dict[str, object]:
    return {
        "MyType": "glidefactoryclient",
        "Name": f"{entry}@gl@fac@{client}",
        "ReqClientName": client,
        "GlideinMonitorStatusIdle": idle,
        "GlideinMonitorStatusRunning": running,
        "GlideinMonitorStatusHeld": held,
        "GlideinMonitorRequestedIdle": req,
        "GlideinMonitorRequestedMaxGlideins": mx,
        "GlideinMonitorLimit": "max_idle" if held else "",
    }


ENTRY_ADS = [
    entry_ad("e1", GLIDEIN_Site="S1"),
    entry_ad("e2", GLIDEIN_Site="S2", GLIDEIN_In_Downtime=True),
    entry_ad("e3", GLIDEIN_Site="S3", GLIDEIN_Blocked=True, GLIDEIN_BlockedReason="black hole: 10/10 failed"),
]
CLIENT_ADS = [
    client_ad("e1", "fe.a", 3, 7, 0, 5, 20),
    client_ad("e1", "fe.b", 1, 2, 1, 2, 10),
    client_ad("e3", "fe.a", 0, 0, 4, 5, 20),
]


def test_entries_from_ads() -> None:
    entries = entries_from_ads(ENTRY_ADS, CLIENT_ADS, jobs={("e1", "fe.a"): (40, 7)})
    assert [(e.name, e.site, e.state) for e in entries] == [
        ("e1", "S1", EntryState.OK),
        ("e2", "S2", EntryState.DOWNTIME),
        ("e3", "S3", EntryState.BLOCKED),
    ]
    assert entries[2].reason == "black hole: 10/10 failed"
    e1a = entries[0].client("fe.a")
    assert e1a is not None and (e1a.counts.pilots_idle, e1a.counts.jobs_idle, e1a.counts.jobs_running) == (
        3,
        40,
        7,
    )
    assert entries[0].totals.pilots_running == 9 and entries[1].clients == ()
    assert entries[2].clients[0].limit == "max_idle"


def test_rrd_values_equal_what_the_ads_showed(tmp_path: Path) -> None:
    monitor = Monitor(tmp_path, "frontend")
    monitor.record_cycle(entries_from_ads(ENTRY_ADS, CLIENT_ADS), T)
    later = [client_ad("e1", "fe.a", 9, 1, 0, 6, 30), *CLIENT_ADS[1:]]
    monitor.record_cycle(entries_from_ads(ENTRY_ADS, later), T + 300)
    for when, ads in ((T, CLIENT_ADS), (T + 300, later)):
        for ad in ads:
            entry, client = str(ad["Name"]).split("@")[0], str(ad["ReqClientName"])
            _step, rows = monitor.store.fetch(RRDKey("frontend", entry, client), when - 300, when)
            assert rows[-1][0] == when
            got = rows[-1][1]
            assert got["pilots_idle"] == ad["GlideinMonitorStatusIdle"]
            assert got["pilots_running"] == ad["GlideinMonitorStatusRunning"]
            assert got["pilots_held"] == ad["GlideinMonitorStatusHeld"]
            assert got["requested_idle"] == ad["GlideinMonitorRequestedIdle"]
            assert got["requested_max"] == ad["GlideinMonitorRequestedMaxGlideins"]
        _step, rows = monitor.store.fetch(RRDKey("frontend", client="fe.a"), when - 300, when)
        fe_a = [ad for ad in ads if ad["ReqClientName"] == "fe.a"]
        assert rows[-1][1]["pilots_idle"] == sum(int(ad["GlideinMonitorStatusIdle"]) for ad in fe_a)  # type: ignore[call-overload]


@pytest.mark.parametrize("bad", [-1, "3", 2.5, True, None, "missing"])
def test_bad_ad_values_are_named(bad: object) -> None:
    ad = client_ad("e1", "fe.a", 0, 0, 0, 0, 0)
    ad["GlideinMonitorStatusRunning"] = bad
    if bad == "missing":
        del ad["GlideinMonitorStatusRunning"]
    with pytest.raises(GlideinError, match=r"'e1@gl@fac@fe.a': GlideinMonitorStatusRunning"):
        counts_from_client_ad(ad)
