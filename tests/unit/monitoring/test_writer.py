"""RRD rows written in the background thread read back exactly as rows written in the caller."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from glidein.common.monitoring.model import Counts
from glidein.common.monitoring.recorder import Monitor, rrd_rows
from glidein.common.monitoring.rrd import RRDKey, RRDStore
from glidein.common.monitoring.writer import BackgroundWriter, write_rows
from tests.monitoring_sample import CLIENTS, ENTRIES, STEP, entries_at

T0 = 1_790_000_100 - (1_790_000_100 % STEP)
CYCLES = 6


def _fetched(store: RRDStore, key: RRDKey) -> tuple[int, list[tuple[int, dict[str, float | None]]]]:
    return store.fetch(key, T0, T0 + (CYCLES - 1) * STEP)


def test_background_monitor_writes_the_same_files_as_the_direct_one(tmp_path: Path) -> None:
    direct = Monitor(tmp_path / "direct", "factory")
    background = Monitor(tmp_path / "bg", "factory", background=True)
    for k in range(CYCLES):
        assert direct.record_cycle(entries_at(k), T0 + k * STEP) == len(rrd_rows("factory", entries_at(k)))
        background.record_cycle(entries_at(k), T0 + k * STEP)
    done = background.flush(30)
    assert done is not None and done.failed == 0 and done.written == done.rows
    keys = [key for key, _ in rrd_rows("factory", entries_at(0))]
    assert len(keys) == 1 + len(ENTRIES) * (1 + len(CLIENTS)) + len(CLIENTS)
    for key in keys:
        want = _fetched(direct.store, key)
        assert len(want[1]) == CYCLES - 1 and any(v is not None for _, row in want[1] for v in row.values())
        assert _fetched(background.store, key) == want, key


def test_a_batch_waits_for_the_previous_one_and_keeps_the_order(tmp_path: Path) -> None:
    """Two batches back to back: the second starts after the first is written (rows in order)."""
    store = RRDStore(tmp_path)
    writer = BackgroundWriter(store)
    key = RRDKey("factory", "e1", "fe.a")
    writer.submit([(key, Counts(pilots_idle=3))], T0)
    writer.submit([(key, Counts(pilots_idle=5))], T0 + STEP)
    writer.submit([(key, Counts(pilots_idle=7))], T0 + 2 * STEP)
    done = writer.flush(30)
    assert done is not None and done.written == 1 and not writer.busy
    _step, rows = store.fetch(key, T0, T0 + 2 * STEP)
    assert [row["pilots_idle"] for _, row in rows] == [5.0, 7.0]


def test_a_failing_file_is_counted_and_the_rest_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = RRDStore(tmp_path)
    bad = RRDKey("factory", "broken")
    store.path(bad).parent.mkdir(parents=True)
    store.path(bad).write_text("not an rrd file")
    good = RRDKey("factory", "fine")
    store.create(bad, T0 - STEP)  # exists: left as it is
    with caplog.at_level(logging.WARNING):
        done = write_rows(store, [(bad, Counts(pilots_idle=1)), (good, Counts(pilots_idle=2))], T0)
    assert (done.rows, done.written, done.failed) == (2, 1, 1)
    assert "cannot record" in caplog.text and "broken" in caplog.text
    assert store.fetch(good, T0 - STEP, T0)[1][-1][1]["pilots_idle"] == 2.0


def test_the_thread_survives_an_unexpected_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RRDStore(tmp_path)
    writer = BackgroundWriter(store)
    calls = []

    def boom(*_args: object) -> None:
        calls.append(threading.current_thread().name)
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store, "update", boom)
    with caplog.at_level(logging.WARNING):
        writer.submit([(RRDKey("factory", "e1"), Counts())], T0)
        assert writer.flush(30) is None  # no batch finished
    assert calls == ["rrd-writer"] and "RRD writer failed" in caplog.text
    monkeypatch.undo()
    writer.submit([(RRDKey("factory", "e1"), Counts(pilots_idle=4))], T0 + STEP)
    done = writer.flush(30)
    assert done is not None and done.written == 1
