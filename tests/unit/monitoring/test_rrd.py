"""RRD files: the numbers written are the numbers read back, per file and in total."""

from __future__ import annotations

from pathlib import Path

import pytest
import rrdtool
from hypothesis import given
from hypothesis import strategies as st

from glidein.common.errors import GlideinError, NotFoundError
from glidein.common.monitoring.graphs import CHARTS, PERIODS, chart_figures, graph_png, window
from glidein.common.monitoring.model import COUNTERS, GAUGES, Counts
from glidein.common.monitoring.recorder import Monitor, rrd_rows
from glidein.common.monitoring.rrd import Archive, RRDConfig, RRDKey, RRDStore, safe_component
from glidein.common.monitoring.snapshot import read_snapshot
from tests.monitoring_sample import CLIENTS, ENTRIES, ODD_ENTRY, STEP, entries_at

T0 = 1_790_000_100 - (1_790_000_100 % STEP)  # a step boundary
CYCLES = 12


def record(tmp_path: Path, cycles: int = CYCLES) -> Monitor:
    monitor = Monitor(tmp_path / "mon", "factory")
    for k in range(cycles):
        monitor.record_cycle(entries_at(k), T0 + k * STEP)
    return monitor


def test_default_archives_cover_glideinwms_periods() -> None:
    cfg = RRDConfig()
    spans = [a.steps * a.rows * cfg.step for a in cfg.archives]
    assert cfg.step == 300 and cfg.effective_heartbeat == 600
    assert 2.5 * 86400 <= spans[0] < 3 * 86400
    assert 30 * 86400 <= spans[1] < 31 * 86400
    assert 365 * 86400 <= spans[2] < 380 * 86400
    assert set(cfg.consolidations) == {"AVERAGE", "MAX"}


def test_created_file_has_configured_step_and_archives(tmp_path: Path) -> None:
    cfg = RRDConfig(step=60, archives=(Archive(1, 50), Archive(5, 20)), consolidations=("AVERAGE",))
    store = RRDStore(tmp_path, cfg)
    path = store.create(RRDKey("factory", "e1"), T0)
    info = rrdtool.info(str(path))
    assert info["step"] == 60
    assert {info[f"rra[{i}].pdp_per_row"] for i in range(2)} == {1, 5}
    assert {info[f"rra[{i}].rows"] for i in range(2)} == {50, 20}
    assert info["ds[pilots_completed].type"] == "DERIVE"
    assert info["ds[pilots_idle].type"] == "GAUGE"


def test_values_read_equal_values_written_at_the_same_times(tmp_path: Path) -> None:
    monitor = record(tmp_path)
    for ei, (entry, _site, _state, _reason) in enumerate(ENTRIES):
        for ci, client in enumerate(CLIENTS):
            step, rows = monitor.store.fetch(RRDKey("factory", entry, client), T0, T0 + (CYCLES - 1) * STEP)
            assert step == STEP
            assert [t for t, _ in rows] == [T0 + k * STEP for k in range(1, CYCLES)]
            for t, values in rows:
                k = (t - T0) // STEP
                now, before = entries_at(k)[ei].clients[ci].counts, entries_at(k - 1)[ei].clients[ci].counts
                for name in GAUGES:
                    assert values[name] == getattr(now, name), (entry, client, t, name)
                for name in COUNTERS:
                    expected = getattr(now, name) - getattr(before, name)
                    assert values[name] == pytest.approx(expected, abs=1e-6), (entry, client, t, name)


def test_totals_equal_the_sums_the_snapshot_shows(tmp_path: Path) -> None:
    monitor = record(tmp_path)
    snap = read_snapshot(monitor.snapshot_path)
    k = CYCLES - 1
    t = T0 + k * STEP
    assert snap.time == t
    expected = {
        RRDKey("factory"): Counts.total(e.totals for e in snap.entries),
        RRDKey("factory", entry=ODD_ENTRY): snap.entries[3].totals,
        RRDKey("factory", client="fe1.gpu"): Counts.total(e.clients[1].counts for e in snap.entries),
    }
    for key, counts in expected.items():
        _step, rows = monitor.store.fetch(key, t - STEP, t)
        assert rows[-1][0] == t
        assert {n: rows[-1][1][n] for n in GAUGES} == {n: getattr(counts, n) for n in GAUGES}, key


def test_consolidated_archives_average_and_max(tmp_path: Path) -> None:
    monitor = record(tmp_path, cycles=25)
    key = RRDKey("factory", "ce_slow", "fe1.main")
    end = T0 + 24 * STEP
    _step, fine = monitor.store.fetch(key, T0, end)
    step, avg = monitor.store.fetch(key, T0, end, "AVERAGE", resolution=12 * STEP)
    _step, mx = monitor.store.fetch(key, T0, end, "MAX", resolution=12 * STEP)
    assert step == 12 * STEP
    checked = 0
    for (t, a), (_t, m) in zip(avg, mx, strict=True):
        window = [v["jobs_idle"] for (tf, v) in fine if t - step < tf <= t]
        if len(window) == 12:
            assert a["jobs_idle"] == pytest.approx(sum(window) / 12)  # type: ignore[operator]
            assert m["jobs_idle"] == max(window)  # type: ignore[type-var]
            checked += 1
    assert checked >= 1


def test_update_not_after_last_is_skipped(tmp_path: Path) -> None:
    store = RRDStore(tmp_path)
    key = RRDKey("frontend", "e1", "fe.g")
    assert store.update(key, Counts(pilots_idle=3), T0)
    assert not store.update(key, Counts(pilots_idle=9), T0)
    assert store.last_update(key) == T0
    _step, rows = store.fetch(key, T0 - STEP, T0)
    assert rows[-1][1]["pilots_idle"] == 3
    restarted = RRDStore(tmp_path)  # a restarted daemon reads the last update from the file
    assert not restarted.update(key, Counts(pilots_idle=9), T0 - STEP)
    assert restarted.update(key, Counts(pilots_idle=4), T0 + STEP)
    assert restarted.fetch(key, T0, T0 + STEP)[1][-1][1]["pilots_idle"] == 4


def test_record_cycle_survives_a_broken_file(tmp_path: Path) -> None:
    monitor = Monitor(tmp_path, "factory")
    bad = monitor.store.path(RRDKey("factory", "ce_slow"))
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not an rrd")
    written = monitor.record_cycle(entries_at(1), T0)
    assert written == len(rrd_rows("factory", entries_at(1))) - 1
    assert monitor.store.exists(RRDKey("factory"))


@pytest.mark.parametrize("name", ["..", ".", "../../etc/passwd", "/abs", "a/b", ".hidden", "x" * 600, "é:*?"])
def test_names_never_leave_the_monitoring_dir(tmp_path: Path, name: str) -> None:
    store = RRDStore(tmp_path / "mon")
    for key in (RRDKey("factory", name), RRDKey("factory", name, name), RRDKey("factory", client=name)):
        path = store.path(key)
        assert path.resolve().is_relative_to((tmp_path / "mon" / "factory").resolve())
        assert all(len(part) <= 255 for part in path.parts)
    store.update(RRDKey("factory", name, name), Counts(pilots_idle=1), T0)
    assert store.exists(RRDKey("factory", name, name))


@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_safe_component_is_one_to_one(a: str, b: str) -> None:
    sa, sb = safe_component(a), safe_component(b)
    assert (sa == sb) == (a == b)
    assert "/" not in sa and sa not in (".", "..") and not sa.startswith(".")


def test_bad_kind_and_empty_name_are_errors(tmp_path: Path) -> None:
    with pytest.raises(GlideinError, match="kind"):
        Monitor(tmp_path, "../x")
    with pytest.raises(GlideinError, match="empty"):
        RRDStore(tmp_path).path(RRDKey("factory", ""))


def test_graphs_are_png_for_every_chart_and_period(tmp_path: Path) -> None:
    monitor = record(tmp_path, cycles=4)
    now = T0 + 3 * STEP
    for chart in CHARTS:
        for period in PERIODS:
            png = graph_png(monitor.store, RRDKey("factory", ODD_ENTRY, "fe1.main"), chart, period, now=now)
            assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000
    with pytest.raises(NotFoundError):
        graph_png(monitor.store, RRDKey("factory", "nope"), "pilots", "1d", now=now)
    with pytest.raises(GlideinError, match="unknown chart"):
        graph_png(monitor.store, RRDKey("factory"), "nope", "1d", now=now)
    with pytest.raises(GlideinError, match="unknown period"):
        graph_png(monitor.store, RRDKey("factory"), "pilots", "5y", now=now)


def test_graphs_plot_the_recorded_numbers(tmp_path: Path) -> None:
    monitor = record(tmp_path)
    k = CYCLES - 1
    end = T0 + k * STEP
    key = RRDKey("factory", "ce_flaky", "fe1.gpu")
    now, first = entries_at(k)[1].clients[1].counts, entries_at(0)[1].clients[1].counts
    win = window(monitor.store, key, "2h", 600, end)
    assert win.interval == STEP and win.since == T0  # 2 h at a 300 s step: one point per step
    pilots_chart = chart_figures(monitor.store, key, "pilots", win)
    assert {n: v["last"] for n, v in pilots_chart.items()} == {
        n: float(getattr(now, n)) for n in pilots_chart
    }
    outcomes = chart_figures(monitor.store, key, "outcomes", win)
    for name in ("pilots_completed", "validation_failures"):  # totals over the window, not rates
        assert outcomes[name]["total"] == getattr(now, name) - getattr(first, name)
    waste = chart_figures(monitor.store, key, "waste", win)["waste_seconds"]
    assert waste["total"] == round((now.waste_seconds - first.waste_seconds) / 60)  # pilot-minutes
