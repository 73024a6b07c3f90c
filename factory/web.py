"""The factory's web process: serves the stage (HTTP or HTTPS) and takes pilot logs and reports.

* `GET <prefix>/<name>`: a file of the stage directory (flat names only; no listing, no
  traversal); the prefix is the path of `staging.url` (e.g. `/stage`), empty by default.
* `POST /pilots/<id>/log`: text appended to `<state_dir>/pilots/<id>/log.txt` (capped).
* `POST /pilots/<id>/report`: the final JSON report, stored as `report.json`; after it the pilot's
  token is spent (later posts get 409).
Both POSTs need `Authorization: Bearer <report_token(key, id)>`. Bad requests get one log line and
an HTTP error; the server never stops on them. Its own process (`glidein factory web`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import ssl
import stat
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from glidein.common.errors import ConfigError

log = logging.getLogger(__name__)
PILOT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
STAGE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,254}$")
POST_PATH = re.compile(r"^/pilots/([^/]+)/(log|report)$")
MAX_BODY = 1 << 20


def report_token(key: bytes, pilot_id: str) -> str:
    """The bearer token a pilot uses for its reports: hex HMAC-SHA256 of its id."""
    return hmac.new(key, pilot_id.encode(), hashlib.sha256).hexdigest()


def load_or_create_report_key(path: Path) -> bytes:
    """32 random bytes stored hex in a 0600 file, created on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
    try:
        key = bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a hex report key ({exc})") from None
    if len(key) < 16:
        raise ConfigError(f"{path}: report key shorter than 16 bytes")
    return key


def pilot_dir(state_dir: Path, pilot_id: str) -> Path:
    return state_dir / "pilots" / pilot_id


def read_report(state_dir: Path, pilot_id: str) -> dict[str, object] | None:
    """The pilot's final report, or None if it has not reported (or the file is unreadable)."""
    try:
        data = json.loads((pilot_dir(state_dir, pilot_id) / "report.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_log(state_dir: Path, pilot_id: str) -> str:
    path = pilot_dir(state_dir, pilot_id) / "log.txt"
    return path.read_text(errors="replace") if path.exists() else ""


@dataclass
class WebConfig:
    stage_dir: Path
    state_dir: Path
    host: str = "127.0.0.1"
    port: int = 8319
    tls_cert: Path | None = None
    tls_key: Path | None = None
    report_key: Path | None = None
    max_log_bytes: int = 10 << 20
    url_prefix: str = ""  # path part of staging.url, e.g. "/stage"


def stage_file(stage_dir: Path, name: str) -> bytes | None:
    """The bytes of a regular file directly in `stage_dir`, or None: a symlink (wherever it points,
    e.g. the factory's private key), a directory or a device is never served."""
    root = stage_dir.resolve()
    path = root / name
    if path.resolve().parent != root:
        log.warning("web: refusing %s: it resolves outside the stage dir", name)
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None  # absent, or a symlink (ELOOP)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        return handle.read()


class PilotWebServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, config: WebConfig, key: bytes) -> None:
        self.config, self.key = config, key
        self.write_lock = threading.Lock()
        super().__init__((config.host, config.port), PilotWebHandler)


class PilotWebHandler(BaseHTTPRequestHandler):
    server: PilotWebServer
    server_version = "glidein-factory-web"
    protocol_version = "HTTP/1.1"
    timeout = 30  # seconds a silent client may hold its connection (and thread)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.client_address[0], format % args)

    def _send(self, status: HTTPStatus, body: bytes = b"", ctype: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        path_part, prefix = self.path.split("?", 1)[0], self.server.config.url_prefix
        if prefix and not path_part.startswith(prefix + "/"):
            self._send(HTTPStatus.NOT_FOUND, b"not found\n")
            return
        name = path_part[len(prefix) :].lstrip("/")
        data = stage_file(self.server.config.stage_dir, name) if STAGE_NAME.match(name) else None
        if data is None:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n")
            return
        self._send(HTTPStatus.OK, data, "application/octet-stream")

    def do_POST(self) -> None:
        match = POST_PATH.match(self.path)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not match or not PILOT_ID.match(match.group(1)):
            self._refuse(HTTPStatus.NOT_FOUND, "bad path")
            return
        if length <= 0 or length > MAX_BODY:
            self._refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body of {length} bytes")
            return
        body = self.rfile.read(length)
        pilot_id, what = match.group(1), match.group(2)
        given = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given, report_token(self.server.key, pilot_id)):
            self._refuse(HTTPStatus.FORBIDDEN, f"pilot={pilot_id}: bad report token")
            return
        with self.server.write_lock:
            status, message = store(self.server.config, pilot_id, what, body)
        if status != HTTPStatus.OK:
            self._refuse(status, f"pilot={pilot_id}: {message}")
            return
        self._send(HTTPStatus.OK, b"ok\n")

    def _refuse(self, status: HTTPStatus, why: str) -> None:
        log.warning("refused %s %s from %s: %s", self.command, self.path[:200], self.client_address[0], why)
        self.close_connection = True  # an unread body must not be parsed as the next request
        body = f"{status.phrase}\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)


def store(config: WebConfig, pilot_id: str, what: str, body: bytes) -> tuple[HTTPStatus, str]:
    """Append a log chunk or store the final report; (status, reason). A state dir that cannot be
    written (full, read-only) is a 503 the pilot may retry, and one log line, never a traceback."""
    try:
        return _store(config, pilot_id, what, body)
    except OSError as exc:
        return HTTPStatus.SERVICE_UNAVAILABLE, f"cannot store the {what}: {exc.strerror or exc}"


def _store(config: WebConfig, pilot_id: str, what: str, body: bytes) -> tuple[HTTPStatus, str]:
    directory = pilot_dir(config.state_dir, pilot_id)
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / "report.json").exists():
        return HTTPStatus.CONFLICT, "already reported"
    if what == "log":
        path = directory / "log.txt"
        size = path.stat().st_size if path.exists() else 0
        if size >= config.max_log_bytes:
            return HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "log cap reached"
        with path.open("ab") as handle:
            handle.write(body[: config.max_log_bytes - size])
        return HTTPStatus.OK, ""
    try:
        report = json.loads(body)
    except ValueError:
        return HTTPStatus.BAD_REQUEST, "report is not JSON"
    if not isinstance(report, dict) or report.get("status") not in ("success", "failure"):
        return HTTPStatus.BAD_REQUEST, "report needs status success|failure"
    write_report(directory, pilot_id, report, "")
    return HTTPStatus.OK, ""


def write_report(directory: Path, pilot_id: str, report: dict[str, object], source: str) -> None:
    """Store a pilot's final report atomically and log one line (`source`: how it came, if not HTTP)."""
    tmp = directory / "report.json.tmp"
    tmp.write_text(json.dumps(report, indent=1, sort_keys=True))
    os.replace(tmp, directory / "report.json")
    log.info(
        "pilot=%s report%s status=%s class=%s step=%s",
        pilot_id,
        source,
        report.get("status"),
        report.get("failure_class"),
        report.get("step"),
    )


def make_server(config: WebConfig) -> PilotWebServer:
    """Bind the server (HTTPS when a certificate and key are given)."""
    if not config.stage_dir.is_dir():
        raise ConfigError(f"{config.stage_dir}: stage directory does not exist (run `glidein factory stage`)")
    key = load_or_create_report_key(config.report_key or config.state_dir / "report.key")
    try:
        server = PilotWebServer(config, key)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {config.host}:{config.port}: {exc.strerror}") from None
    if config.tls_cert or config.tls_key:
        if not (config.tls_cert and config.tls_key):
            server.server_close()
            raise ConfigError("HTTPS needs both --tls-cert and --tls-key")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(str(config.tls_cert), str(config.tls_key))
        except (OSError, ssl.SSLError) as exc:
            server.server_close()
            raise ConfigError(f"{config.tls_cert}: cannot load certificate/key: {exc}") from None
        server.socket = context.wrap_socket(server.socket, server_side=True)
    return server
