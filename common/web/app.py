"""Request routing and page rendering for the monitoring web process (no sockets here).

Routes (GET):
    /                                   entries table and the total graphs
    /entry?name=E[&period=P]            one entry: clients, graphs
    /client?name=C[&entry=E][&period=P] one client (of one entry, or over all entries)
    /pilots[?entry=&client=&state=&limit=]  pilot table, PanDA-monitor style
    /pilots/<id>/<stdout|stderr|log>    a pilot's log as text
    /graph.png?chart=&period=[&entry=][&client=]  PNG from the RRD files
    /metrics                            Prometheus text
Bad parameters answer 400, unknown things 404, and an unexpected error 500 with one log
line: a request never stops the process.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import jinja2

from glidein.common.errors import GlideinError, NotFoundError
from glidein.common.log import log_exception
from glidein.common.monitoring.graphs import CHARTS, PERIODS, fitting_period, graph_png
from glidein.common.monitoring.metrics import CONTENT_TYPE, metrics_registry, render_metrics
from glidein.common.monitoring.model import (
    PILOT_ID_RE,
    EntryStatus,
    LogKind,
    MonitoringSource,
    PilotFilter,
    PilotState,
    client_totals,
)
from glidein.common.monitoring.rrd import RRDKey, RRDStore

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).parent / "templates"
HTML = "text/html; charset=utf-8"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'",
    "Referrer-Policy": "no-referrer",
}
MAX_PILOT_ROWS = 5000
_LOG_PATH = re.compile(r"^/pilots/([^/]+)/([a-z]+)$")


class BadRequest(GlideinError):
    """The request's parameters are wrong (400)."""


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WebConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    title: str = "glidein factory"
    kind: str = "factory"  # which RRD subtree: <root>/<kind>/...
    default_period: str = ""  # "": the shortest period holding all the data recorded
    graph_size: tuple[int, int] = (600, 180)
    graph_cache_s: float = 60.0


class WebApp:
    """Everything the web process serves, as `handle(path_and_query) -> Response`."""

    def __init__(
        self,
        config: WebConfig,
        source: MonitoringSource,
        store: RRDStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.source = source
        self.store = store
        self.clock = clock
        self.registry = metrics_registry(source)
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
        )
        self.env.globals.update(url=make_url, title=config.title, periods=list(PERIODS), charts=list(CHARTS))
        self.env.filters["ts"] = format_time
        self._graphs: dict[tuple[RRDKey, str, str], tuple[float, bytes]] = {}
        self._graph_lock = threading.Lock()
        self.routes: dict[str, Callable[[dict[str, str]], Response]] = {
            "/": self.page_entries,
            "/entry": self.page_entry,
            "/client": self.page_client,
            "/pilots": self.page_pilots,
            "/graph.png": self.graph,
            "/metrics": self.metrics,
        }

    def handle(self, target: str) -> Response:
        """Answer one GET request for `target` (path and query string)."""
        try:
            parts = urlsplit(target)
            match = _LOG_PATH.match(parts.path)
            if match:
                return self.pilot_log(match.group(1), match.group(2))
            route = self.routes.get(parts.path)
            if route is None:
                raise NotFoundError(f"no page {parts.path!r}")
            return route(parse_query(parts.query))
        except BadRequest as exc:
            return self.error(400, str(exc))
        except NotFoundError as exc:
            return self.error(404, str(exc))
        except Exception as exc:  # a request never takes the process down
            log_exception(log, f"web: {target[:200]!r} failed", exc)
            return self.error(500, "internal error; see the web process log")

    # ---- pages -------------------------------------------------------------------------
    def page_entries(self, q: dict[str, str]) -> Response:
        allow(q, "period")
        period = self.period(q)
        entries = list(self.source.entries())
        return self.render(
            "entries.html",
            entries=entries,
            clients=sorted(client_totals(entries)),
            graphs=self.graph_set(RRDKey(self.config.kind), period),
            period=period,
            page_params={},
            page_path="/",
        )

    def page_entry(self, q: dict[str, str]) -> Response:
        allow(q, "name", "period")
        entry = self.find_entry(need(q, "name"))
        period = self.period(q)
        return self.render(
            "entry.html",
            entry=entry,
            graphs=self.graph_set(RRDKey(self.config.kind, entry=entry.name), period),
            period=period,
            page_params={"name": entry.name},
            page_path="/entry",
        )

    def page_client(self, q: dict[str, str]) -> Response:
        allow(q, "name", "entry", "period")
        name, period = need(q, "name"), self.period(q)
        entries = list(self.source.entries())
        if "entry" in q:
            entry = self.find_entry(q["entry"])
            if entry.client(name) is None:
                raise NotFoundError(f"entry {entry.name!r} has no client {name!r}")
            rows = [(entry, entry.client(name))]
        else:
            rows = [(e, e.client(name)) for e in entries if e.client(name) is not None]
            if not rows:
                raise NotFoundError(f"no client {name!r}")
        key = RRDKey(self.config.kind, q.get("entry"), name)
        params = {"name": name, **({"entry": q["entry"]} if "entry" in q else {})}
        return self.render(
            "client.html",
            client=name,
            entry=q.get("entry"),
            rows=rows,
            graphs=self.graph_set(key, period),
            period=period,
            page_params=params,
            page_path="/client",
        )

    def page_pilots(self, q: dict[str, str]) -> Response:
        allow(q, "entry", "client", "state", "limit")
        flt = pilot_filter(q)
        entries = list(self.source.entries())
        return self.render(
            "pilots.html",
            pilots=list(self.source.pilots(flt)),
            flt=flt,
            entry_names=[e.name for e in entries],
            client_names=sorted(client_totals(entries)),
            states=[s.value for s in PilotState],
            log_kinds=[k.value for k in LogKind],
        )

    def pilot_log(self, pilot_id: str, kind_text: str) -> Response:
        if not PILOT_ID_RE.match(pilot_id):
            raise BadRequest(f"bad pilot id {pilot_id[:80]!r}")
        try:
            kind = LogKind(kind_text)
        except ValueError:
            raise NotFoundError(f"no log kind {kind_text!r}") from None
        data = self.source.pilot_log(pilot_id, kind)
        if data is None:
            raise NotFoundError(f"no {kind.value} for pilot {pilot_id}")
        return Response(200, "text/plain; charset=utf-8", data, SECURITY_HEADERS)

    def graph(self, q: dict[str, str]) -> Response:
        allow(q, "chart", "period", "entry", "client")
        chart, period = need(q, "chart"), self.period(q)
        if chart not in CHARTS:
            raise BadRequest(f"unknown chart {chart!r}; known: {', '.join(CHARTS)}")
        key = RRDKey(self.config.kind, q.get("entry") or None, q.get("client") or None)
        if key.entry == "" or key.client == "":
            raise BadRequest("empty entry or client")
        png = self.cached_graph(key, chart, period)
        return Response(200, "image/png", png, {"Cache-Control": "max-age=60"})

    def metrics(self, q: dict[str, str]) -> Response:
        allow(q)
        return Response(200, CONTENT_TYPE, render_metrics(self.registry))

    # ---- helpers -----------------------------------------------------------------------
    def cached_graph(self, key: RRDKey, chart: str, period: str) -> bytes:
        now = self.clock()
        with self._graph_lock:
            hit = self._graphs.get((key, chart, period))
            if hit and now - hit[0] < self.config.graph_cache_s:
                return hit[1]
        png = graph_png(self.store, key, chart, period, size=self.config.graph_size, now=now)
        with self._graph_lock:
            if len(self._graphs) > 512:
                self._graphs.clear()
            self._graphs[(key, chart, period)] = (now, png)
        return png

    def graph_set(self, key: RRDKey, period: str) -> list[str]:
        """URLs of every chart of `key` for the page, or none while the RRD does not exist."""
        if not self.store.exists(key):
            return []
        params = {"entry": key.entry, "client": key.client, "period": period}
        return [make_url("/graph.png", chart=chart, **params) for chart in CHARTS]

    def find_entry(self, name: str) -> EntryStatus:
        entry = next((e for e in self.source.entries() if e.name == name), None)
        if entry is None:
            raise NotFoundError(f"no entry {name!r}")
        return entry

    def period(self, q: dict[str, str]) -> str:
        period = q.get("period") or self.config.default_period or self.fitting_period()
        if period not in PERIODS:
            raise BadRequest(f"unknown period {period!r}; known: {', '.join(PERIODS)}")
        return period

    def fitting_period(self) -> str:
        """The default period: the shortest that holds everything recorded since the first cycle."""
        key = RRDKey(self.config.kind)
        start = self.store.data_start(key)
        return fitting_period(None if start is None else self.clock() - start, self.store.step_of(key))

    def render(self, template: str, **context: object) -> Response:
        stale = str(getattr(self.source, "last_error", "") or "")  # SnapshotFileSource says why
        html = self.env.get_template(template).render(now=self.clock(), source_error=stale, **context)
        return Response(200, HTML, html.encode("utf-8"), SECURITY_HEADERS)

    def error(self, status: int, message: str) -> Response:
        page = self.env.get_template("error.html")
        html = page.render(status=status, message=message, now=self.clock(), source_error="")
        return Response(status, HTML, html.encode("utf-8"), SECURITY_HEADERS)


def parse_query(query: str) -> dict[str, str]:
    """Single-valued parameters; repeated or malformed ones are a BadRequest."""
    if not query:
        return {}
    try:
        pairs = parse_qs(query, keep_blank_values=True, strict_parsing=True, max_num_fields=20)
    except ValueError as exc:
        raise BadRequest(f"bad query string: {exc}") from None
    repeated = sorted(k for k, v in pairs.items() if len(v) != 1)
    if repeated:
        raise BadRequest(f"parameter given more than once: {', '.join(repeated)}")
    return {k: v[0] for k, v in pairs.items()}


def allow(q: Mapping[str, str], *names: str) -> None:
    unknown = sorted(set(q) - set(names))
    if unknown:
        raise BadRequest(f"unknown parameter {unknown[0][:40]!r}; allowed: {', '.join(names) or 'none'}")


def need(q: Mapping[str, str], name: str) -> str:
    value = q.get(name, "")
    if not value:
        raise BadRequest(f"parameter {name!r} is required")
    return value


def pilot_filter(q: Mapping[str, str]) -> PilotFilter:
    state = None
    if q.get("state"):
        try:
            state = PilotState(q["state"])
        except ValueError:
            raise BadRequest(f"unknown pilot state {q['state'][:40]!r}") from None
    limit_text = q.get("limit") or "500"
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_PILOT_ROWS:
        raise BadRequest(f"limit must be an integer in 1..{MAX_PILOT_ROWS}")
    return PilotFilter(q.get("entry") or None, q.get("client") or None, state, int(limit_text))


def make_url(path: str, **params: str | int | None) -> str:
    """A link with its parameters encoded (None and empty values left out)."""
    clean = {k: str(v) for k, v in params.items() if v is not None and v != ""}
    return f"{path}?{urlencode(clean)}" if clean else path


def format_time(value: float | None) -> str:
    if value is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(value))
