"""RRD files through rrdtool's Python bindings: one file per (kind, entry, client) and totals.

Layout under the monitoring root (names made safe by `safe_component`):
    <kind>/total.rrd                          everything
    <kind>/entries/<entry>/total.rrd          one entry, all clients
    <kind>/entries/<entry>/clients/<c>.rrd    one entry, one client
    <kind>/clients/<c>.rrd                    one client, all entries
Beside each file, `<name>.start` holds the unix time of its first value (the default period).
Every file holds the data sources of `model.Counts`: gauges as GAUGE, cumulative counters as
DERIVE (min 0, so a counter reset reads as unknown, never as a spike). `fetch` gives counters
back as the amount per returned step.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import rrdtool

from glidein.common.errors import GlideinError, NotFoundError
from glidein.common.monitoring.model import COUNTERS, GAUGES, Counts

log = logging.getLogger(__name__)

# The bindings keep global state (argv, error buffer): one rrdtool call at a time per process.
RRD_LOCK = threading.Lock()
KIND_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
MAX_COMPONENT = 180
CONSOLIDATIONS = ("AVERAGE", "MAX")
MAX_CACHED_PATHS = 1_000_000  # checked paths kept (a key names the same file for ever)
_TEMPLATE = ":".join(GAUGES + COUNTERS)  # the order of Counts.values()


@dataclass(frozen=True)
class Archive:
    steps: int  # primary data points per row
    rows: int


@dataclass(frozen=True)
class RRDConfig:
    """Default like glideinWMS: 300 s step; about 2.5 days, 30 days and 1 year kept."""

    step: int = 300
    heartbeat: int | None = None  # default 2 * step
    archives: tuple[Archive, ...] = (Archive(1, 740), Archive(12, 720), Archive(288, 370))
    consolidations: tuple[str, ...] = CONSOLIDATIONS

    def __post_init__(self) -> None:
        if self.step < 1 or not self.archives or any(a.steps < 1 or a.rows < 1 for a in self.archives):
            raise GlideinError(f"rrd config: step and archive steps/rows must be >= 1: {self}")
        bad = set(self.consolidations) - {"AVERAGE", "MAX", "MIN", "LAST"}
        if bad or not self.consolidations:
            raise GlideinError(f"rrd config: unknown consolidation functions {sorted(bad)}")

    @property
    def effective_heartbeat(self) -> int:
        return self.heartbeat if self.heartbeat is not None else 2 * self.step

    def create_args(self) -> list[str]:
        hb = self.effective_heartbeat
        args = [f"DS:{name}:GAUGE:{hb}:0:U" for name in GAUGES]
        args += [f"DS:{name}:DERIVE:{hb}:0:U" for name in COUNTERS]
        args += [f"RRA:{cf}:0.5:{a.steps}:{a.rows}" for a in self.archives for cf in self.consolidations]
        return args


@dataclass(frozen=True)
class RRDKey:
    """Which file: `entry`/`client` None means the total over them."""

    kind: str
    entry: str | None = None
    client: str | None = None

    def relpath(self) -> Path:
        if not KIND_RE.match(self.kind):
            raise GlideinError(f"monitoring kind {self.kind!r} must match {KIND_RE.pattern}")
        base = Path(self.kind)
        if self.entry is None and self.client is None:
            return base / "total.rrd"
        if self.entry is None:
            return base / "clients" / f"{safe_component(self.client or '')}.rrd"
        entry_dir = base / "entries" / safe_component(self.entry)
        if self.client is None:
            return entry_dir / "total.rrd"
        return entry_dir / "clients" / f"{safe_component(self.client)}.rrd"


def safe_component(name: str) -> str:
    """A file-name component for any entry/client name: never empty, '.', '..', hidden or with '/'.

    Percent-encodes everything but letters, digits and `_.-~`, and a leading dot; one-to-one, so
    two names never share a file. Over-long names are cut and suffixed with a hash.
    """
    if not name:
        raise GlideinError("monitoring: empty entry or client name")
    text = quote(name, safe="")
    if text.startswith("."):
        text = "%2E" + text[1:]
    if len(text) > MAX_COMPONENT:
        digest = hashlib.sha256(name.encode()).hexdigest()[:16]
        text = f"{text[: MAX_COMPONENT - 20]}~{digest}"
    return text


def rrd_escape(path: Path) -> str:
    """A path as rrdtool graph DEFs need it (':' separates fields)."""
    return str(path).replace("\\", "\\\\").replace(":", "\\:")


Row = tuple[int, dict[str, float | None]]


class RRDStore:
    """All RRD files of one monitoring root."""

    def __init__(self, root: Path, config: RRDConfig | None = None) -> None:
        self.root = root
        self.config = config or RRDConfig()
        self._last: dict[Path, int] = {}  # last update written by this process, saves a file read
        self._paths: dict[RRDKey, Path] = {}  # checked once: a key always names the same file

    def path(self, key: RRDKey) -> Path:
        path = self._paths.get(key)
        if path is not None:
            return path
        path = self.root / key.relpath()
        if not path.resolve().is_relative_to(self.root.resolve()):
            raise GlideinError(f"monitoring: {key} would leave {self.root}")
        if len(self._paths) >= MAX_CACHED_PATHS:
            self._paths.clear()
        self._paths[key] = path
        return path

    def exists(self, key: RRDKey) -> bool:
        return self.path(key).is_file()

    def create(self, key: RRDKey, start: int) -> Path:
        """Create the file (if absent) with its last update time set to `start`."""
        path = self.path(key)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            args = [str(path), "--start", str(start), "--step", str(self.config.step)]
            self._call(rrdtool.create, args + self.config.create_args(), path)
            path.with_suffix(".start").write_text(f"{start + self.config.step}\n")
        return path

    def step_of(self, key: RRDKey) -> int | None:
        """The step of the file (None when it does not exist)."""
        path = self.path(key)
        if not path.is_file():
            return None
        return int(self._call(rrdtool.info, [str(path)], path)["step"])

    def data_start(self, key: RRDKey) -> float | None:
        """When the file's first value was recorded (None: unknown, e.g. a file made before this)."""
        try:
            return float(self.path(key).with_suffix(".start").read_text())
        except (OSError, ValueError):
            return None

    def last_update(self, key: RRDKey) -> int | None:
        path = self.path(key)
        if not path.is_file():
            return None
        return int(self._call(rrdtool.last, [str(path)], path))

    def update(self, key: RRDKey, counts: Counts, when: float) -> bool:
        """Record `counts` at time `when`; False (and nothing written) if not after the last update."""
        stamp = int(when)
        path = self.path(key)
        last = self._last.get(path)
        if last is None:  # not written by this process yet: the file may be new, or older
            self.create(key, stamp - self.config.step)
            last = self.last_update(key)
        if last is not None and stamp <= last:
            log.debug("rrd %s: skip update at %d, last update at %d", path, stamp, last)
            return False
        row = ":".join(map(str, (stamp, *counts.values())))
        self._last.pop(path, None)  # unknown again if the update fails
        self._call(rrdtool.update, [str(path), "-t", _TEMPLATE, row], path)
        self._last[path] = stamp
        return True

    def fetch(
        self, key: RRDKey, start: int, end: int, cf: str = "AVERAGE", resolution: int | None = None
    ) -> tuple[int, list[Row]]:
        """(step, rows): each row is (end time of its interval, {data source: value or None}).

        Rows whose interval ends in (start, end], at the archive resolution rrdtool picks.

        Gauges are the consolidated value; counters are the amount over the row's interval.
        """
        path = self.path(key)
        if not path.is_file():
            raise NotFoundError(f"monitoring: no RRD for {key}")
        args = [str(path), cf, "-s", str(start), "-e", str(end)]
        if resolution:
            args += ["-r", str(resolution)]
        (first, _last, step), names, raw = self._call(rrdtool.fetch, args, path)
        rows: list[Row] = []
        for i, values in enumerate(raw):
            if first + (i + 1) * step > end:
                break  # rrdtool adds the row that contains `end`; callers asked for (start, end]
            point: dict[str, float | None] = {}
            for name, value in zip(names, values, strict=True):
                is_amount = value is not None and name in COUNTERS
                point[name] = round(value * step, 6) if is_amount else value
            rows.append((first + (i + 1) * step, point))
        return step, rows

    def _call(self, func: Callable[..., Any], args: list[str], path: Path) -> Any:
        try:
            with RRD_LOCK:
                return func(*args)
        except rrdtool.OperationalError as exc:
            raise GlideinError(f"rrd {path}: {exc}") from exc
