"""Snapshots round-trip through JSON; sources serve them; bad data is one clear error."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from glidein.common.errors import GlideinError
from glidein.common.monitoring.model import (
    ClientStatus,
    Counts,
    EntryStatus,
    LogKind,
    PilotFilter,
    PilotState,
)
from glidein.common.monitoring.snapshot import (
    Snapshot,
    SnapshotFileSource,
    StaticSource,
    read_snapshot,
    write_snapshot,
)
from tests.monitoring_sample import CLIENTS, entries_at, pilots


def test_round_trip(tmp_path: Path) -> None:
    snap = Snapshot(123.5, tuple(entries_at(3)), tuple(pilots(1000.0)))
    write_snapshot(tmp_path / "s.json", snap)
    assert read_snapshot(tmp_path / "s.json") == snap


def test_entry_totals_are_sums_of_clients() -> None:
    entry = entries_at(4)[1]
    assert entry.totals.jobs_idle == sum(c.counts.jobs_idle for c in entry.clients)
    assert entry.client(CLIENTS[1]) is entry.clients[1]
    assert EntryStatus("e", "s").totals == Counts()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["entries"][0].update(state="sleeping"), "ValueError"),
        (lambda d: d["entries"][0]["clients"][0]["counts"].update(pilots_idle=-1), "pilots_idle"),
        (lambda d: d["entries"][0]["clients"][0]["counts"].update(bogus=1), "bogus"),
        (lambda d: d["pilots"][0].update(pilot_id="../etc"), "pilot id"),
        (lambda d: d.pop("entries"), "entries"),
    ],
)
def test_bad_snapshot_is_one_clear_error(tmp_path: Path, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    write_snapshot(tmp_path / "s.json", Snapshot(1.0, tuple(entries_at(1)), tuple(pilots(1.0))))
    data = json.loads((tmp_path / "s.json").read_text())
    mutate(data)
    (tmp_path / "s.json").write_text(json.dumps(data))
    with pytest.raises(GlideinError, match=message) as info:
        read_snapshot(tmp_path / "s.json")
    assert str(tmp_path / "s.json") in str(info.value) and "\n" not in str(info.value)


def test_file_source_rereads_on_change_and_keeps_last_good(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    source = SnapshotFileSource(path, tmp_path / "pilots")
    assert source.entries() == () and "No such file" in source.last_error
    write_snapshot(path, Snapshot(1.0, tuple(entries_at(1))))
    assert source.entries() == tuple(entries_at(1))
    write_snapshot(path, Snapshot(2.0, tuple(entries_at(2))))
    os.utime(path, ns=(1, 2))  # a different stamp even on coarse clocks
    assert source.entries() == tuple(entries_at(2))
    path.write_text("{broken")
    assert source.entries() == tuple(entries_at(2))
    assert "not JSON" in source.last_error


def test_pilot_filters_and_logs(tmp_path: Path) -> None:
    source = StaticSource(Snapshot(0.0, (), tuple(pilots(5000.0, tmp_path))), tmp_path)
    everything = source.pilots(PilotFilter())
    assert len(everything) == 8
    assert [p.submit_time for p in everything] == sorted((p.submit_time for p in everything), reverse=True)
    failed = source.pilots(PilotFilter(state=PilotState.FAILED))
    assert failed and all(p.state == PilotState.FAILED and p.failure_class == "Network" for p in failed)
    mine = source.pilots(PilotFilter(entry="ce_slow", client="fe1.main"))
    assert mine and all(p.entry == "ce_slow" and p.client == "fe1.main" for p in mine)
    assert len(source.pilots(PilotFilter(limit=3))) == 3
    assert source.pilot_log("p0000", LogKind.STDOUT) == b"stdout of p0000\n"
    assert source.pilot_log("p0003", LogKind.LOG) is None  # an idle pilot has no log yet
    assert source.pilot_log("../p0000", LogKind.STDOUT) is None


def test_counts_reject_negative_and_non_integers() -> None:
    with pytest.raises(GlideinError, match="jobs_idle"):
        Counts(jobs_idle=-3)
    with pytest.raises(GlideinError, match="waste_seconds"):
        Counts(waste_seconds=1.5)  # type: ignore[arg-type]
    assert ClientStatus("c").counts == Counts()
