"""Graph figures an operator can trust (issue 18): six failures read as 6, not "1,080/h"; pilot
counts are whole numbers (never "600 m" or "2.9" where the table says 1); the default period fits
the data recorded so far."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import rrdtool

from glidein.common.monitoring.graphs import PERIODS, chart_figures, fitting_period, graph_png, window
from glidein.common.monitoring.model import ClientStatus, Counts, EntryStatus
from glidein.common.monitoring.recorder import Monitor
from glidein.common.monitoring.rrd import RRDConfig, RRDKey
from glidein.common.monitoring.snapshot import Snapshot, StaticSource
from glidein.common.web.app import WebApp, WebConfig

T0 = 1_790_000_000
STEP = 10  # the demo's monitoring step


def run(tmp_path: Path, cycles: int, counts: list[Counts]) -> Monitor:
    """A 10 s-step factory monitor fed one cycle per 10 s, at times not aligned to the step."""
    monitor = Monitor(tmp_path / "mon", "factory", RRDConfig(step=STEP))
    for k in range(cycles):
        entry = EntryStatus("e1", "S1", clients=(ClientStatus("fe1.main", counts[k]),))
        monitor.record_cycle([entry], T0 + k * STEP + 3)
    return monitor


def sample(cycles: int) -> list[Counts]:
    """1 running pilot, 2 then 3 idle (so averages over intervals are fractional), 6 failures at once."""
    return [
        Counts(
            pilots_running=1 if k >= 5 else 0,
            pilots_idle=2 + k % 2,
            validation_failures=6 if k >= cycles // 2 else 0,
            waste_seconds=180 if k >= cycles // 2 else 0,
        )
        for k in range(cycles)
    ]


@pytest.mark.parametrize("period", ["1h", "2h", "1d"])
def test_counts_are_whole_and_counters_are_totals(tmp_path: Path, period: str) -> None:
    monitor = run(tmp_path, 60, sample(60))
    end = T0 + 60 * STEP
    key = RRDKey("factory")
    win = window(monitor.store, key, period, 600, end)
    outcomes = chart_figures(monitor.store, key, "outcomes", win)
    assert outcomes["validation_failures"]["total"] == 6  # not 6 / 10 s * 3600 = 2,160 per hour
    assert 1 <= outcomes["validation_failures"]["max"] <= 6
    assert chart_figures(monitor.store, key, "waste", win)["waste_seconds"]["total"] == 3  # pilot-min
    pilots = chart_figures(monitor.store, key, "pilots", win)
    assert pilots["pilots_running"]["last"] == 1 and pilots["pilots_idle"]["last"] == 3
    for figures in pilots.values():
        assert all(not math.isnan(v) and v == int(v) for v in figures.values()), figures
    assert pilots["pilots_idle"]["max"] in (2, 3)  # an average of 2 and 3, rounded


def test_a_period_without_consolidated_data_shows_none_rather_than_a_wrong_number(tmp_path: Path) -> None:
    monitor = run(tmp_path, 60, sample(60))  # 10 minutes: not one 48-minute row of the week archive
    win = window(monitor.store, RRDKey("factory"), "1w", 600, T0 + 60 * STEP)
    outcomes = chart_figures(monitor.store, RRDKey("factory"), "outcomes", win)
    assert math.isnan(outcomes["validation_failures"]["total"])


def test_graph_axis_has_whole_numbers_and_the_interval(tmp_path: Path) -> None:
    monitor = run(tmp_path, 30, [Counts(pilots_running=1)] * 30)
    end = T0 + 30 * STEP
    info = rrdtool.graphv(
        "/dev/null", "--start", str(end - 86400), "--end", str(end), "--units-exponent", "0",
        f"DEF:a={monitor.store.path(RRDKey('factory'))}:pilots_running:AVERAGE", "LINE1:a#000000",
    )  # fmt: skip
    assert info["value_max"] >= 1  # sanity: rrdtool sees the data the graph shows
    png = graph_png(monitor.store, RRDKey("factory"), "pilots", "1d", now=end)
    assert png.startswith(b"\x89PNG")
    win = window(monitor.store, RRDKey("factory"), "1d", 600, end)
    assert win.interval % STEP == 0 and win.interval >= 86400 / 600
    assert win.since == T0 + 3  # the title says since when the data goes


def test_default_period_fits_the_data(tmp_path: Path) -> None:
    assert fitting_period(None) == "1d"
    assert fitting_period(600) == "10m" and fitting_period(601) == "1h" and fitting_period(3 * 3600) == "1d"
    assert fitting_period(300, step=300) == "2h"  # at least 20 points of a 300 s step
    assert fitting_period(10 * 365 * 86400) == "1y"
    assert next(iter(PERIODS)) == "10m"
    monitor = run(tmp_path, 30, [Counts(pilots_running=1)] * 30)
    now = T0 + 30 * STEP
    source = StaticSource(Snapshot(now, ()))
    app = WebApp(WebConfig(), source, monitor.store, clock=lambda: float(now))
    page = app.handle("/").body.decode()
    assert "<b>10m</b>" in page and "period=10m" in page  # a fresh install: 5 minutes of data
    later = WebApp(WebConfig(), source, monitor.store, clock=lambda: float(now + 5 * 3600))
    assert "<b>1d</b>" in later.handle("/").body.decode()
    fixed = WebApp(WebConfig(default_period="1w"), source, monitor.store, clock=lambda: float(now))
    assert "<b>1w</b>" in fixed.handle("/").body.decode()
