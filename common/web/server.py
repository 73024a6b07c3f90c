"""The monitoring web process: stdlib http.server in its own process, loopback by default.

Run it in the foreground with `serve(app, stop)` (what `glidein monitor web` does), or from a
daemon with `start_web_process(config, root, source_factory)`: a separate *spawned* process,
because the htcondor2 bindings hold the GIL during network calls and would freeze a server
thread in the daemon's own process. `source_factory` must be picklable (a module-level class
or function, or a functools.partial of one) and builds the MonitoringSource in the child.
"""

from __future__ import annotations

import ipaddress
import logging
import multiprocessing
import signal
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType

from glidein.common.errors import GlideinError
from glidein.common.log import setup_logging
from glidein.common.monitoring.model import MonitoringSource
from glidein.common.monitoring.rrd import RRDConfig, RRDStore
from glidein.common.web.app import WebApp, WebConfig

log = logging.getLogger(__name__)
MAX_TARGET = 4096


class _Handler(BaseHTTPRequestHandler):
    server_version = "glidein-web"
    timeout = 30.0  # seconds a client may stay silent before its connection is closed
    app: WebApp  # set on the subclass made per server

    def do_GET(self) -> None:
        if len(self.path) > MAX_TARGET:
            self.send_error(414)
            return
        response = self.app.handle(self.path)
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), format % args)


def make_server(app: WebApp) -> ThreadingHTTPServer:
    """Bind the server (port 0 picks a free one: see `server.server_address`)."""
    handler = type("Handler", (_Handler,), {"app": app})
    if not _is_loopback(app.config.host):
        log.warning("web: listening on %s, not loopback: anyone reaching it sees the pages", app.config.host)
    try:
        server = ThreadingHTTPServer((app.config.host, app.config.port), handler)
    except OSError as exc:
        where = f"{app.config.host}:{app.config.port}"
        raise GlideinError(f"web: cannot listen on {where}: {exc.strerror}") from exc
    server.daemon_threads = True
    return server


def serve(app: WebApp, stop: threading.Event, ready: Callable[[int], None] | None = None) -> None:
    """Serve until `stop` is set; `ready(port)` is called once listening."""
    server = make_server(app)
    port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, name="web", daemon=True)
    thread.start()
    log.info("web: serving http://%s:%d/", app.config.host, port)
    if ready is not None:
        ready(port)
    try:
        stop.wait()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5.0)
        log.info("web: stopped")


def serve_until_signal(app: WebApp) -> None:
    """Foreground mode: SIGTERM or SIGINT stop the server gracefully."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    serve(app, stop)


def _child(
    config: WebConfig,
    root: Path,
    rrd_config: RRDConfig | None,
    source_factory: Callable[[], MonitoringSource],
) -> None:
    setup_logging(f"web={config.title}")
    app = WebApp(config, source_factory(), RRDStore(root, rrd_config))
    serve_until_signal(app)


def start_web_process(
    config: WebConfig,
    root: Path,
    source_factory: Callable[[], MonitoringSource],
    rrd_config: RRDConfig | None = None,
) -> BaseProcess:
    """Start the web server in a new spawned process; stop it with `.terminate()` + `.join()`."""
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(
        target=_child, args=(config, root, rrd_config, source_factory), name="glidein-web", daemon=True
    )
    proc.start()
    return proc


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
