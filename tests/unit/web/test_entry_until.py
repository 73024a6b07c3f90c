"""The entries page says until when an entry is blocked or down, as a UTC time (issue 18)."""

from __future__ import annotations

from pathlib import Path

from glidein.common.monitoring.ads import entries_from_ads
from glidein.common.monitoring.model import EntryState, EntryStatus
from glidein.common.monitoring.rrd import RRDStore
from glidein.common.monitoring.snapshot import Snapshot, SnapshotFileSource, write_snapshot
from glidein.common.timefmt import when
from glidein.common.web.app import WebApp, WebConfig

NOW = 1_790_000_000.0
UNTIL = NOW + 1800


def test_blocked_until_from_the_ad_through_the_snapshot_to_the_page(tmp_path: Path) -> None:
    ads = [
        {"Name": "e1@g@f", "EntryName": "e1", "GLIDEIN_Blocked": True,
         "GLIDEIN_BlockedReason": "5 of 5 failed", "GLIDEIN_BlockedUntil": int(UNTIL)},
        {"Name": "e2@g@f", "EntryName": "e2", "GLIDEIN_In_Downtime": True},
        {"Name": "e3@g@f", "EntryName": "e3", "GLIDEIN_Blocked": False, "GLIDEIN_BlockedUntil": 0},
    ]  # fmt: skip
    entries = entries_from_ads(ads, [])
    assert [(e.state, e.until) for e in entries] == [
        (EntryState.BLOCKED, UNTIL),
        (EntryState.DOWNTIME, None),
        (EntryState.OK, None),
    ]
    path = tmp_path / "snapshot.json"
    write_snapshot(path, Snapshot(NOW, tuple(entries)))
    source = SnapshotFileSource(path)
    assert source.entries()[0].until == UNTIL
    app = WebApp(WebConfig(), source, RRDStore(tmp_path / "mon"), clock=lambda: NOW)
    html = app.handle("/").body.decode()
    assert f"until {when(UNTIL)}" in html
    assert "open-ended" in html  # the downtime without an end
    page = app.handle("/entry?name=e1").body.decode()
    assert f"until {when(UNTIL)}" in page and "5 of 5 failed" in page


def test_ok_entry_shows_no_until(tmp_path: Path) -> None:
    write_snapshot(tmp_path / "s.json", Snapshot(NOW, (EntryStatus("e", "s"),)))
    app = WebApp(WebConfig(), SnapshotFileSource(tmp_path / "s.json"), RRDStore(tmp_path), clock=lambda: NOW)
    assert 'class="until"' not in app.handle("/").body.decode()
    assert EntryStatus("e", "s").until is None
