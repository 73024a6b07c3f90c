"""The web app without sockets: pages, links, graphs, logs, and bad requests answered, never crashing."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from prometheus_client.parser import text_string_to_metric_families

from glidein.common.monitoring.model import EntryStatus, LogKind, PilotFilter, PilotRecord
from glidein.common.monitoring.recorder import Monitor
from glidein.common.monitoring.snapshot import Snapshot, SnapshotFileSource, StaticSource
from glidein.common.web.app import WebApp, WebConfig, make_url
from tests.monitoring_sample import ENTRIES, ODD_ENTRY, STEP, entries_at, pilots

T0 = 1_790_000_000 - (1_790_000_000 % STEP)
NOW = T0 + 6 * STEP


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.imgs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.hrefs.append(str(a["href"]))
        if tag == "img" and a.get("src"):
            self.imgs.append(str(a["src"]))


def links(body: bytes) -> Links:
    parser = Links()
    parser.feed(body.decode())
    return parser


@pytest.fixture
def app(tmp_path: Path) -> WebApp:
    monitor = Monitor(tmp_path / "mon", "factory")
    for k in range(7):
        monitor.record_cycle(entries_at(k), T0 + k * STEP)
    source = StaticSource(Snapshot(NOW, tuple(entries_at(6)), tuple(pilots(NOW, tmp_path / "pilots"))))
    source.pilots_dir = tmp_path / "pilots"
    return WebApp(WebConfig(), source, monitor.store, clock=lambda: float(NOW))


def test_entries_page_lists_every_entry_escaped(app: WebApp) -> None:
    r = app.handle("/")
    assert r.status == 200 and r.content_type.startswith("text/html")
    html = r.body.decode()
    for name, site, state, reason in ENTRIES:
        assert site in html and state.value in html
        assert name == ODD_ENTRY or f">{name}</a>" in html
        if reason:
            assert reason in html
    assert "odd &lt;b&gt;&amp;&#39;site/../x" in html and "<b>&" not in html
    found = links(r.body)
    assert make_url("/entry", name=ODD_ENTRY) in [h.replace("&amp;", "&") for h in found.hrefs]
    assert len(found.imgs) == 5


def test_every_link_and_image_reachable_from_the_pages_answers_200(app: WebApp) -> None:
    seen: set[str] = set()
    todo = ["/", "/pilots"]
    images = 0
    while todo:
        target = todo.pop()
        if target in seen or len(seen) > 400:
            continue
        seen.add(target)
        r = app.handle(target)
        assert r.status == 200, (target, r.body[:300])
        if r.content_type.startswith("text/html"):
            found = links(r.body)
            for img in found.imgs:
                g = app.handle(img)
                assert g.status == 200 and g.body.startswith(b"\x89PNG"), img
                images += 1
            todo.extend(h for h in found.hrefs if not urlsplit(h).netloc)
    assert any(t.startswith("/client?") for t in seen) and any(t.endswith("/log") for t in seen)
    assert images >= 5 * (1 + len(ENTRIES))


def test_pilots_page_filters(app: WebApp) -> None:
    def ids(target: str) -> set[str]:
        r = app.handle(target)
        assert r.status == 200
        return set(re.findall(r'id="pilot-([^"]+)"', r.body.decode()))

    everything = ids("/pilots")
    assert everything == {f"p{i:04d}" for i in range(8)}
    assert ids(make_url("/pilots", entry="ce_slow")) == {"p0000", "p0004"}
    assert ids(make_url("/pilots", state="failed")) == {"p0002", "p0006"}
    assert ids(make_url("/pilots", client="fe1.gpu", state="running")) == set()
    assert ids(make_url("/pilots", client="fe1.main", state="running")) == {"p0000", "p0004"}
    assert len(ids("/pilots?limit=3")) == 3
    html = app.handle(make_url("/pilots", state="failed")).body.decode()
    assert "Network" in html and "check_network: cannot reach collector &lt;127.0.0.1:9&gt;" in html


def test_pilot_logs_are_plain_text(app: WebApp) -> None:
    r = app.handle("/pilots/p0001/log")
    assert r.status == 200 and r.content_type.startswith("text/plain")
    assert r.body == b"streamed log of p0001 <script>x</script>\n"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert app.handle("/pilots/p0003/stdout").status == 404  # idle: no logs
    assert app.handle("/pilots/p9999/stdout").status == 404


@pytest.mark.parametrize(
    ("target", "status"),
    [
        ("/nope", 404),
        ("/../../etc/passwd", 404),
        ("/pilots/..%2F..%2Fetc%2Fpasswd/stdout", 400),
        ("/pilots/%2E%2E/stdout", 400),
        ("/pilots/p0001/../../../etc/passwd", 404),
        ("/pilots/p0001/passwd", 404),
        ("/entry", 400),
        ("/entry?name=", 400),
        ("/entry?name=missing", 404),
        ("/entry?name=ce_slow&name=ce_flaky", 400),
        ("/entry?name=ce_slow&bogus=1", 400),
        ("/entry?name=ce_slow&period=10y", 400),
        ("/client?name=nobody", 404),
        ("/client?name=fe1.main&entry=missing", 404),
        ("/pilots?state=zombie", 400),
        ("/pilots?limit=-1", 400),
        ("/pilots?limit=abc", 400),
        ("/pilots?limit=999999999999999999999", 400),
        ("/pilots?a=%ZZ&&&", 400),
        ("/graph.png", 400),
        ("/graph.png?chart=bogus", 400),
        ("/graph.png?chart=pilots&period=1d&entry=missing", 404),
        ("/graph.png?chart=pilots&entry=" + quote("../../../../etc/passwd", safe=""), 404),
        ("/graph.png?chart=pilots&client=" + quote("/dev/null", safe=""), 404),
        ("/metrics?x=1", 400),
        ("/" + "a" * 3000, 404),
    ],
)
def test_bad_requests_get_4xx(app: WebApp, target: str, status: int) -> None:
    r = app.handle(target)
    assert r.status == status, r.body[:300]
    assert b"Error" in r.body


def test_graph_for_each_scope(app: WebApp) -> None:
    for params in (
        {},
        {"entry": ODD_ENTRY},
        {"client": "fe1.gpu"},
        {"entry": ODD_ENTRY, "client": "fe1.gpu"},
    ):
        r = app.handle(make_url("/graph.png", chart="jobs", period="2h", **params))
        assert r.status == 200 and r.content_type == "image/png" and r.body.startswith(b"\x89PNG")


def test_metrics_route_agrees_with_the_source(app: WebApp) -> None:
    r = app.handle("/metrics")
    assert r.status == 200 and r.content_type.startswith("text/plain; version=0.0.4")
    idle = {
        (s.labels["entry"], s.labels["client"]): s.value
        for f in text_string_to_metric_families(r.body.decode())
        for s in f.samples
        if s.name == "glidein_pilots" and s.labels["state"] == "idle"
    }
    assert idle == {(e.name, c.client): c.counts.pilots_idle for e in entries_at(6) for c in e.clients}


class Exploding:
    def __init__(self) -> None:
        self.calls = 0

    def entries(self) -> Sequence[EntryStatus]:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("database is locked")
        return entries_at(1)

    def pilots(self, flt: PilotFilter) -> Sequence[PilotRecord]:
        return []

    def pilot_log(self, pilot_id: str, kind: LogKind) -> bytes | None:
        return None


def test_a_failing_source_gives_500_then_recovers(app: WebApp, caplog: pytest.LogCaptureFixture) -> None:
    broken = WebApp(WebConfig(), Exploding(), app.store)
    r = broken.handle("/")
    assert r.status == 500 and b"database is locked" not in r.body
    assert "database is locked" in caplog.text
    assert broken.handle("/").status == 200


def test_entry_with_no_rrd_yet_shows_no_graph(tmp_path: Path) -> None:
    source = StaticSource(Snapshot(NOW, tuple(entries_at(1))))
    app = WebApp(WebConfig(), source, Monitor(tmp_path, "factory").store)
    r = app.handle(make_url("/entry", name="ce_slow"))
    assert r.status == 200 and b"No graph data recorded yet" in r.body and b"<img" not in r.body


def test_a_broken_snapshot_file_is_shown_not_fatal(tmp_path: Path) -> None:
    monitor = Monitor(tmp_path, "factory")
    monitor.record_cycle(entries_at(1), T0)
    app = WebApp(WebConfig(), SnapshotFileSource(monitor.snapshot_path), monitor.store)
    assert b"source-error" not in app.handle("/").body
    monitor.snapshot_path.write_text('{"time": 1, "entries": [{"name": 3}]}')
    r = app.handle("/")
    assert r.status == 200 and b'id="source-error"' in r.body and b"malformed monitoring snapshot" in r.body
    assert b"ce_slow" in r.body  # the last good data is still shown


def test_a_pilot_ended_by_a_signal_shows_the_signal_not_a_negative_code(tmp_path: Path) -> None:
    """A removed local pilot's exit code is -15 (SIGTERM): a count column never shows a negative."""
    records = [
        dataclasses.replace(p, exit_code=-15 if i == 0 else p.exit_code)
        for i, p in enumerate(pilots(NOW, tmp_path))
    ]
    source = StaticSource(Snapshot(NOW, tuple(entries_at(6)), tuple(records)))
    source.pilots_dir = tmp_path
    web = WebApp(WebConfig(), source, Monitor(tmp_path / "mon", "factory").store, clock=lambda: float(NOW))
    html = web.handle("/pilots").body.decode()
    assert '<td class="signal">signal 15</td>' in html and ">-15<" not in html
