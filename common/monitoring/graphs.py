"""PNG graphs of the RRD files with `rrdtool graph`, for a few named charts and periods.

Figures read as what they are: pilot and job counts are whole numbers (the average over a
plotted interval rounded; "now" is the last recorded value at the file's own step); counters
(pilots completed, validation failures, wasted time) are plotted as the amount per plotted
interval, whose length the axis label gives, and the legend gives their total over the window,
never a rate extrapolated from one short step. The axis never uses SI prefixes ("600 m").
`fitting_period` picks the default period: the shortest one that holds all the data recorded.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rrdtool

from glidein.common.errors import GlideinError, NotFoundError
from glidein.common.monitoring.model import COUNTERS
from glidein.common.monitoring.rrd import RRD_LOCK, RRDKey, RRDStore, rrd_escape
from glidein.common.timefmt import duration

PERIODS: dict[str, int] = {
    "10m": 600,
    "1h": 3600,
    "2h": 2 * 3600,
    "1d": 86400,
    "1w": 7 * 86400,
    "1m": 30 * 86400,
    "1y": 365 * 86400,
}


MIN_POINTS = 20  # a default period shows at least this many of the file's steps


def fitting_period(age: float | None, step: int | None = None) -> str:
    """The shortest period holding `age` seconds of data and at least MIN_POINTS steps of `step`
    seconds ("1d" when the age is unknown)."""
    if age is None:
        return "1d"
    least = max(age, MIN_POINTS * (step or 0))
    return next((name for name, span in PERIODS.items() if span >= least), "1y")


@dataclass(frozen=True)
class Line:
    ds: str
    color: str
    legend: str


@dataclass(frozen=True)
class Chart:
    title: str
    vertical_label: str
    lines: tuple[Line, ...]


CHARTS: dict[str, Chart] = {
    "pilots": Chart(
        "Pilots",
        "pilots",
        (
            Line("pilots_running", "#2ca02c", "running"),
            Line("pilots_idle", "#1f77b4", "idle"),
            Line("pilots_pending", "#9467bd", "pending"),
            Line("pilots_held", "#d62728", "held"),
        ),
    ),
    "requests": Chart(
        "Requested pilots",
        "pilots",
        (
            Line("requested_idle", "#1f77b4", "requested idle"),
            Line("requested_max", "#ff7f0e", "requested max"),
            Line("pilots_idle", "#7f7f7f", "idle pilots"),
        ),
    ),
    "jobs": Chart(
        "Client jobs",
        "jobs",
        (Line("jobs_idle", "#1f77b4", "idle jobs"), Line("jobs_running", "#2ca02c", "running jobs")),
    ),
    "outcomes": Chart(
        "Pilot outcomes",
        "pilots",
        (
            Line("pilots_completed", "#2ca02c", "completed"),
            Line("validation_failures", "#d62728", "validation failures"),
        ),
    ),
    "waste": Chart("Wasted pilot time", "pilot-min", (Line("waste_seconds", "#8c564b", "wasted pilot-min"),)),
}

_TITLE_SAFE = re.compile(r"[^A-Za-z0-9 _.:@+=/,()-]")


@dataclass(frozen=True)
class Window:
    """What one graph covers: [start, end], plotted in intervals of `interval` seconds."""

    start: int
    end: int
    interval: int  # seconds per plotted point
    step: int  # the file's own step
    since: float | None  # when the data begins, if inside the window


def window(store: RRDStore, key: RRDKey, period: str, width: int, now: float | None) -> Window:
    """The window of a graph of `key` over `period`; NotFoundError when the file does not exist."""
    if period not in PERIODS:
        raise GlideinError(f"unknown period {period!r}; known: {', '.join(PERIODS)}")
    path = store.path(key)
    if not path.is_file():
        raise NotFoundError(f"monitoring: no RRD for {key}")
    end = int(now if now is not None else time.time())
    span = PERIODS[period]
    info = _info(path)
    step = int(info["step"])
    archives = {(int(info[f"rra[{i}].pdp_per_row"]), int(info[f"rra[{i}].rows"])) for i in _rra_indexes(info)}
    covering = [pdp * step for pdp, rows in archives if pdp * step * rows >= span]
    resolution = min(covering) if covering else max(pdp * step for pdp, _ in archives)
    pixel = math.ceil(span / max(1, width))
    interval = math.ceil(max(pixel, resolution) / resolution) * resolution
    first = store.data_start(key)
    since = first if first is not None and first > end - span else None
    return Window(end - span, end, interval, step, since)


def graph_png(
    store: RRDStore,
    key: RRDKey,
    chart: str,
    period: str,
    *,
    size: tuple[int, int] = (600, 180),
    now: float | None = None,
) -> bytes:
    """One chart of one RRD over one period, as PNG bytes.

    NotFoundError when the RRD does not exist (yet); GlideinError for an unknown chart/period.
    """
    if chart not in CHARTS:
        raise GlideinError(f"unknown chart {chart!r}; known: {', '.join(CHARTS)}")
    win = window(store, key, period, size[0], now)
    spec = CHARTS[chart]
    figures = chart_figures(store, key, chart, win)
    top = max([v["max"] for v in figures.values() if not math.isnan(v["max"])] + [1.0])
    grid = _grid_step(top)
    title = f"{spec.title} - {_scope(key)} - {period}"
    if win.since is not None:
        title += f" (data since {time.strftime('%H:%M', time.gmtime(win.since))} UTC)"
    args = [
        "-",
        "--imgformat",
        "PNG",
        *_range_args(win),
        "--width",
        str(size[0]),
        "--height",
        str(size[1]),
        "--lower-limit",
        "0",
        "--upper-limit",
        str(max(grid, math.ceil(top / grid) * grid)),
        "--units-exponent",
        "0",
        "--y-grid",
        f"{grid}:1",
        "--left-axis-format",
        "%.0lf",
        "--title",
        _TITLE_SAFE.sub("?", title),
        "--vertical-label",
        _vertical_label(spec, win),
    ]
    args += _chart_args(store.path(key), spec, win, legend=True, last=last_values(store.path(key)))
    return bytes(_graphv(args, store.path(key))["image"])


def chart_figures(store: RRDStore, key: RRDKey, chart: str, win: Window) -> dict[str, dict[str, float]]:
    """The figures of each line of a chart, as its legend prints them: for counts `last` (the last
    recorded value) and `max` (largest plotted point); for counters `total` over the window and
    `max` (largest amount in one plotted interval); every figure a whole number (NaN: no data)."""
    spec = CHARTS[chart]
    path = store.path(key)
    args = ["/dev/null", *_range_args(win), *_chart_args(path, spec, win, legend=False)]
    names: list[tuple[str, str]] = []
    for i, line in enumerate(spec.lines):
        for what in ("total", "max") if line.ds in COUNTERS else ("max",):
            args.append(f"PRINT:v{i}{what}:%.0lf")
            names.append((line.ds, what))
    result = _graphv(args, path)
    last = last_values(path)
    out: dict[str, dict[str, float]] = {
        line.ds: {} if line.ds in COUNTERS else {"last": _or_nan(last.get(line.ds))} for line in spec.lines
    }
    for n, (ds, what) in enumerate(names):
        text = str(result[f"print[{n}]"]).strip()
        out[ds][what] = float(text) if text not in ("nan", "-nan") else math.nan
    return out


def last_values(path: Path) -> dict[str, float | None]:
    """The values of the file's last update, gauges rounded to whole numbers (the "last" figure)."""
    try:
        with RRD_LOCK:
            values = dict(rrdtool.lastupdate(str(path))["ds"])
    except rrdtool.OperationalError as exc:
        raise GlideinError(f"rrd lastupdate {path}: {exc}") from exc
    return {k: None if v is None else float(round(v)) for k, v in values.items()}


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else value


def _range_args(win: Window) -> list[str]:
    return ["--start", str(win.start), "--end", str(win.end), "--step", str(win.interval)]


def _info(path: Path) -> dict[str, Any]:
    try:
        with RRD_LOCK:
            return dict(rrdtool.info(str(path)))
    except rrdtool.OperationalError as exc:
        raise GlideinError(f"rrd info {path}: {exc}") from exc


def _rra_indexes(info: dict[str, Any]) -> list[int]:
    return sorted({int(k[4 : k.index("]")]) for k in info if k.startswith("rra[") and k.endswith(".rows")})


def _grid_step(top: float) -> int:
    """A whole-number grid step giving at most about 5 lines up to `top`."""
    raw = max(1.0, top / 5)
    magnitude = 10 ** math.floor(math.log10(raw))
    return int(next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw))


def _vertical_label(spec: Chart, win: Window) -> str:
    if spec.lines[0].ds in COUNTERS:
        return f"{spec.vertical_label} per {duration(win.interval)}"
    return spec.vertical_label


def _graphv(args: list[str], path: object) -> dict[str, Any]:
    try:
        with RRD_LOCK:
            return dict(rrdtool.graphv(*args))
    except rrdtool.OperationalError as exc:
        raise GlideinError(f"rrd graph {path}: {exc}") from exc


def _chart_args(
    path: Path, spec: Chart, win: Window, *, legend: bool, last: dict[str, float | None] | None = None
) -> list[str]:
    last = last or {}
    escaped = rrd_escape(path)
    args: list[str] = []
    for i, line in enumerate(spec.lines):
        var = f"v{i}"
        args.append(f"DEF:{var}raw={escaped}:{line.ds}:AVERAGE")
        if line.ds in COUNTERS:
            unit = 60 if line.ds == "waste_seconds" else 1  # waste in pilot-minutes
            args.append(f"CDEF:{var}amount={var}raw,{unit},/")
            args.append(f"CDEF:{var}={var}amount,STEPWIDTH,*,0.5,+,FLOOR")  # amount per interval
            args.append(f"VDEF:{var}total={var}amount,TOTAL")
            figures = (("total", "total %6.0lf"), ("max", "max %6.0lf per interval"))
        else:
            args.append(f"CDEF:{var}=v{i}raw,0.5,+,FLOOR")
            figures = (("last", ""), ("max", "max %6.0lf"))
        args.append(f"VDEF:{var}max={var},MAXIMUM")
        if legend:
            args.append(f"LINE2:{var}{line.color}:{line.legend}")
            if line.ds in COUNTERS:
                args.append(f"GPRINT:{var}total:{figures[0][1]}")
            else:
                value = last.get(line.ds)
                shown = "-" if value is None else f"{value:.0f}"
                args.append(f"COMMENT:  last {shown:>6}")
            args.append(f"GPRINT:{var}max:{figures[1][1]}\\n")
    return args


def _scope(key: RRDKey) -> str:
    if key.entry is None and key.client is None:
        return f"{key.kind} total"
    if key.entry is None:
        return f"client {key.client}"
    if key.client is None:
        return f"entry {key.entry}"
    return f"entry {key.entry} client {key.client}"
