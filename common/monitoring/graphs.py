"""PNG graphs of the RRD files with `rrdtool graph`, for a few named charts and periods."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import rrdtool

from glidein.common.errors import GlideinError, NotFoundError
from glidein.common.monitoring.model import COUNTERS
from glidein.common.monitoring.rrd import RRD_LOCK, RRDKey, RRDStore, rrd_escape

PERIODS: dict[str, int] = {
    "2h": 2 * 3600,
    "1d": 86400,
    "1w": 7 * 86400,
    "1m": 30 * 86400,
    "1y": 365 * 86400,
}


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
        "Pilot outcomes per hour",
        "pilots / h",
        (
            Line("pilots_completed", "#2ca02c", "completed"),
            Line("validation_failures", "#d62728", "validation failures"),
        ),
    ),
    "waste": Chart("Wasted pilot time", "pilot-hours / h", (Line("waste_seconds", "#8c564b", "wasted"),)),
}

_TITLE_SAFE = re.compile(r"[^A-Za-z0-9 _.@+=/,()-]")


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
    if period not in PERIODS:
        raise GlideinError(f"unknown period {period!r}; known: {', '.join(PERIODS)}")
    path = store.path(key)
    if not path.is_file():
        raise NotFoundError(f"monitoring: no RRD for {key}")
    end = int(now if now is not None else time.time())
    spec = CHARTS[chart]
    args = [
        "-",
        "--imgformat",
        "PNG",
        "--start",
        str(end - PERIODS[period]),
        "--end",
        str(end),
        "--width",
        str(size[0]),
        "--height",
        str(size[1]),
        "--lower-limit",
        "0",
        "--title",
        _TITLE_SAFE.sub("?", f"{spec.title} - {_scope(key)} - {period}"),
        "--vertical-label",
        spec.vertical_label,
    ]
    args += _chart_args(store, key, spec)
    return bytes(_graphv(args, path)["image"])


def chart_last_values(store: RRDStore, key: RRDKey, chart: str, start: int, end: int) -> dict[str, float]:
    """The last value of each line of a chart over [start, end], exactly as the graph plots it.

    Runs the same DEF/CDEF pipeline as `graph_png` and PRINTs the values, so tests can check
    that what the picture shows equals what was recorded (e.g. counters per hour).
    """
    path = store.path(key)
    if not path.is_file():
        raise NotFoundError(f"monitoring: no RRD for {key}")
    spec = CHARTS[chart]
    args = ["/dev/null", "--start", str(start), "--end", str(end), *_chart_args(store, key, spec)]
    args += [f"PRINT:v{i}:LAST:%.6lf" for i in range(len(spec.lines))]
    result = _graphv(args, path)
    return {line.ds: float(result[f"print[{i}]"]) for i, line in enumerate(spec.lines)}


def _graphv(args: list[str], path: object) -> dict[str, Any]:
    try:
        with RRD_LOCK:
            return dict(rrdtool.graphv(*args))
    except rrdtool.OperationalError as exc:
        raise GlideinError(f"rrd graph {path}: {exc}") from exc


def _chart_args(store: RRDStore, key: RRDKey, spec: Chart) -> list[str]:
    path = rrd_escape(store.path(key))
    args: list[str] = []
    for i, line in enumerate(spec.lines):
        var = f"v{i}"
        args.append(f"DEF:{var}raw={path}:{line.ds}:AVERAGE")
        if line.ds == "waste_seconds":
            args.append(f"CDEF:{var}={var}raw")  # seconds per second == pilot-hours per hour
        elif line.ds in COUNTERS:
            args.append(f"CDEF:{var}={var}raw,3600,*")  # per second -> per hour
        else:
            args.append(f"CDEF:{var}={var}raw")
        args.append(f"LINE2:{var}{line.color}:{line.legend}")
        args.append(f"GPRINT:{var}:LAST:last %6.1lf")
        args.append(f"GPRINT:{var}:MAX:max %6.1lf\\n")
    return args


def _scope(key: RRDKey) -> str:
    if key.entry is None and key.client is None:
        return f"{key.kind} total"
    if key.entry is None:
        return f"client {key.client}"
    if key.client is None:
        return f"entry {key.entry}"
    return f"entry {key.entry} client {key.client}"
