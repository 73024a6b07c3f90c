"""The schedd's HTTP JSON API (stdlib ThreadingHTTPServer), bound to 127.0.0.1 by default.

Reads, open to anyone who can reach the port:
  GET  /status                         {"name", "url", "collector", "idle", "running", "held",
                                        "autoclusters"}
  GET  /jobs?constraint=E&all=1&limit=N  [JSON ClassAd objects]; all=1 adds removed/completed jobs
  GET  /autoclusters?constraint=E      [{"id", "idle", "running", "old_idle", "ad": JSON ClassAd object}]
                                       old_idle: idle for 600 s or more (glideinWMS's "old idle")
Local users (peer on loopback AND header `X-Glidein-Secret` = contents of <state-dir>/local.secret,
a 0600 file only the schedd's user can read; the CLI reads it):
  POST /submit  {"text", "filename", "iwd", "owner"}  -> {"cluster", "jobs", "warnings": [lines]};
                400 {"error": "jobs.sub:7: request_memory: bad size '2XB'"}, nothing queued and no
                cluster id used on any error
  POST /remove  {"ids": ["12", "3.4"], "constraint": E, "user", "reason"} -> {"removed": ["12.0", ...]}
  POST /hold    same body -> {"held": [...]}: idle and running jobs, HoldReasonCode 1
  POST /release same body -> {"released": [...]}: held jobs back to idle
Startds (`Authorization: Bearer <pool token with scope "startd">`):
  POST /claim   {"name": startd name, "slot": [[attr, old-syntax expr], ...]}
                -> 200 job payload (see payload.job_payload) | 204 no matching idle job
  POST /claims/<id>/heartbeat          -> 200 {"job_id"} | 410 claim gone (lease lost or removed)
  POST /claims/<id>/complete  {"exit_code", "stdout", "stderr" (base64)} -> 200 | 410
  POST /claims/<id>/release   {"reason"}                             -> 200 | 410
Relay mode (`glidein schedd --relay-entry ...`): /relay/* with a pool token of scope "relay",
see relay_api.py.
Errors: 400 bad input (JSON nested deeper than MAX_JSON_DEPTH, expressions beyond
classad_limits, a Content-Length that is not plain digits or that the body falls short of),
401 no valid startd token, 403 local-user secret refused, 404 unknown path, 405 unknown method,
410 claim gone; body {"error": one line}, http.server's own refusals (414, 431, ...) included.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import sys
import urllib.parse
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

from glidein.common import classads, tokens
from glidein.common.classad_core import PARSE_ERRORS
from glidein.common.classad_limits import AD, check_text
from glidein.common.errors import ClassAdError, GlideinError, NotFoundError, SecurityError, SubmitError
from glidein.pool.schedd.payload import decode_output, job_payload, write_outputs
from glidein.pool.schedd.queue import JobQueue
from glidein.pool.schedd.queue_users import HOLD_INPUT, action

if TYPE_CHECKING:
    from glidein.pool.schedd.relay import Relay

log = logging.getLogger(__name__)
MAX_BODY = 96 * 1024 * 1024
_CLAIM_PATH = re.compile(r"^/claims/([A-Za-z0-9_-]{1,64})/(heartbeat|complete|release)$")
MAX_JSON_DEPTH = 32
_JSON_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')  # strings, skipped whole; brackets
_LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}
_LENGTH = re.compile(r"[0-9]{1,12}")
_LIMIT = re.compile(r"[0-9]{1,9}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def one_line(text: str) -> str:
    """`text` with control characters (newlines, NUL) shown escaped: one line in a log or an error."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


@dataclass
class ApiContext:
    queue: JobQueue
    pool_key: bytes
    local_secret: str
    spool: Path
    name: str
    url: str
    collector: str = ""  # the users' pool collector the schedd advertises to (for -better-analyze)
    relay: Relay | None = None  # relay mode (relay.py): /relay/* endpoints, relay facts in /status


class _Reply(Exception):
    def __init__(self, status: HTTPStatus, body: object) -> None:
        super().__init__(str(body))
        self.status, self.body = status, body


class Handler(BaseHTTPRequestHandler):
    server: ScheddHTTPServer
    protocol_version = "HTTP/1.1"
    timeout = 60  # seconds a connection may sit idle or half-sent before it is closed

    default_request_version = "HTTP/1.0"  # a request line too broken to name one still gets a status line

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.client_address[0], format % args)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (bad request line, headers, method) as one-line JSON too."""
        status = HTTPStatus(code)
        if status == HTTPStatus.NOT_IMPLEMENTED:  # http.server's word for a method we do not serve
            status = HTTPStatus.METHOD_NOT_ALLOWED
        log.info("refused request from %s: %d %s", self.client_address[0], status, one_line(message or ""))
        self.close_connection = True
        self._send(status, {"error": one_line(message or status.phrase)})

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        ctx = self.server.ctx
        url = urllib.parse.urlsplit(self.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        try:
            status, body = _route(self, ctx, method, url.path, query)
        except _Reply as reply:
            status, body = reply.status, reply.body
        except SecurityError as exc:
            log.warning("refused %s %s from %s: %s", method, url.path, self.client_address[0], exc)
            status, body = HTTPStatus.FORBIDDEN, {"error": str(exc)}
        except NotFoundError as exc:
            status, body = HTTPStatus.NOT_FOUND, {"error": str(exc)}
        except GlideinError as exc:
            status, body = HTTPStatus.BAD_REQUEST, {"error": str(exc)}
        except Exception as exc:
            log.error("internal error on %s %s: %s", method, url.path, exc, exc_info=log.isEnabledFor(10))
            status, body = HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"internal error: {exc}"}
        self._send(status, body)

    def _send(self, status: HTTPStatus, body: object) -> None:
        data = b"" if status == HTTPStatus.NO_CONTENT else json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        except OSError as exc:
            log.info("client %s went away before the reply: %s", self.client_address[0], exc)
            self.close_connection = True

    def body(self) -> dict[str, object]:
        raw = self._read_body() or b"{}"
        check_json_depth(raw)
        try:
            data = json.loads(raw)
        except ValueError:
            raise SubmitError("request body is not JSON") from None
        if not isinstance(data, dict):
            raise SubmitError("request body must be a JSON object")
        return data

    def _read_body(self) -> bytes:
        """Exactly Content-Length bytes, read in chunks (no buffer sized by what the client claims)."""
        text = self.headers.get("Content-Length", "0").strip()
        if not _LENGTH.fullmatch(text):
            self.close_connection = True  # where this request ends is unknown
            raise SubmitError(f"bad Content-Length {one_line(text)[:40]!r}")
        length = int(text)
        if length > MAX_BODY:
            self.close_connection = True
            raise SubmitError(f"request body larger than {MAX_BODY} bytes")
        chunks: list[bytes] = []
        left = length
        while left > 0:
            chunk = self.rfile.read(min(left, 1 << 20))
            if not chunk:
                self.close_connection = True
                raise SubmitError(f"request body cut short: {length - left} of {length} bytes")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def require_local(self) -> None:
        secret = self.headers.get("X-Glidein-Secret", "")
        if self.client_address[0] not in _LOOPBACK:
            raise SecurityError("submit and remove are for local users only")
        if not hmac.compare_digest(secret.encode(), self.server.ctx.local_secret.encode()):
            raise SecurityError("missing or wrong local-user secret (X-Glidein-Secret)")

    def require_startd(self) -> str:
        """The token's subject; 401 (one log line) without a valid startd token."""
        header = self.headers.get("Authorization", "")
        try:
            if not header.startswith("Bearer "):
                raise SecurityError("startd calls need 'Authorization: Bearer <token>'")
            claims = tokens.verify(self.server.ctx.pool_key, header[len("Bearer ") :], "startd")
        except SecurityError as exc:
            log.warning("refused startd call %s from %s: %s", self.path[:80], self.client_address[0], exc)
            raise _Reply(HTTPStatus.UNAUTHORIZED, {"error": str(exc)}) from None
        return str(claims["sub"])


def check_json_depth(raw: bytes, limit: int = MAX_JSON_DEPTH) -> None:
    """SubmitError when arrays/objects nest deeper than `limit` (json.loads would recurse)."""
    depth = 0
    for match in _JSON_TOKENS.finditer(raw):
        char = match.group()
        if char in (b"[", b"{"):
            depth += 1
            if depth > limit:
                raise SubmitError(f"request body nests deeper than {limit} levels")
        elif char in (b"]", b"}"):
            depth -= 1


class ScheddHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # socketserver's 5 drops SYNs when a dozen startds connect at once (1 s retry)

    def __init__(self, address: tuple[str, int], ctx: ApiContext) -> None:
        super().__init__(address, Handler)
        self.ctx = ctx

    def handle_error(self, request: object, client_address: object) -> None:
        """One log line instead of socketserver's traceback on stderr."""
        exc = sys.exc_info()[1]
        log.warning("connection from %s failed: %s", client_address, exc)


def _text(data: dict[str, object], key: str, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise SubmitError(f"request field {key!r} must be a string")
    return value


def _route(
    req: Handler, ctx: ApiContext, method: str, path: str, query: dict[str, str]
) -> tuple[HTTPStatus, object]:
    if path.startswith("/relay/"):
        from glidein.pool.schedd.relay_api import route

        return route(ctx.relay, ctx.pool_key, method, path, req.headers.get("Authorization", ""), req.body)
    if method == "GET":
        return _route_get(ctx, path, query)
    if path == "/submit":
        req.require_local()
        data = req.body()
        text, filename = _text(data, "text"), one_line(_text(data, "filename", "submit"))
        done = ctx.queue.submit_text(text, filename, _text(data, "iwd"), one_line(_text(data, "owner")))
        return HTTPStatus.OK, {"cluster": done.cluster, "jobs": done.jobs, "warnings": done.warnings}
    if path in _ACTIONS:
        req.require_local()
        return HTTPStatus.OK, _act(ctx, path, req.body())
    if path == "/claim":
        return _claim(req, ctx)
    match = _CLAIM_PATH.match(path)
    if match:
        return _claim_call(req, ctx, match.group(1), match.group(2))
    raise _Reply(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint POST {path}"})


_ACTIONS = {"/remove": ("remove", "removed"), "/hold": ("hold", "held"), "/release": ("release", "released")}


def _act(ctx: ApiContext, path: str, data: dict[str, object]) -> dict[str, list[str]]:
    verb, done = _ACTIONS[path]
    ids = data.get("ids") or []
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise SubmitError("'ids' must be a list of strings")
    constraint = data.get("constraint")
    if constraint is not None and not isinstance(constraint, str):
        raise SubmitError("'constraint' must be a string")
    reason = data.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise SubmitError("'reason' must be a string")
    todo = action(verb, one_line(_text(data, "user", "unknown"))[:100], reason)
    return {done: ctx.queue.act(ids, constraint, todo)}


def _route_get(ctx: ApiContext, path: str, query: dict[str, str]) -> tuple[HTTPStatus, object]:
    constraint = query.get("constraint", "true") or "true"
    if path == "/status":
        return HTTPStatus.OK, {
            "name": ctx.name,
            "url": ctx.url,
            "collector": ctx.collector,
            **ctx.queue.totals(),
            "autoclusters": len(ctx.queue.acs.by_id),
            **({"relay": ctx.relay.describe()} if ctx.relay is not None else {}),
        }
    if path == "/jobs":
        limit = int(query["limit"]) if _LIMIT.fullmatch(query.get("limit", "")) else 0
        ads = ctx.queue.jobs(constraint, include_done=query.get("all") == "1", limit=limit)
        now = int(ctx.queue.now())  # as a real schedd, each ad says when it was read (condor_q RUN_TIME)
        return HTTPStatus.OK, [{**json.loads(classads.to_json(ad)), "ServerTime": now} for ad in ads]
    if path == "/autoclusters":
        return HTTPStatus.OK, ctx.queue.autoclusters(constraint)
    raise _Reply(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint GET {path}"})


def _claim(req: Handler, ctx: ApiContext) -> tuple[HTTPStatus, object]:
    subject = req.require_startd()
    data = req.body()
    pairs = data.get("slot")
    if not isinstance(pairs, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in pairs
    ):
        raise SubmitError("'slot' must be a list of [attribute, expression] pairs")
    for attr, expr in pairs:
        check_text(expr, f"slot attribute {attr[:60]}")
    check_text("".join(expr for _attr, expr in pairs), "slot ad", AD)
    slot = classads.from_old_pairs([(str(p[0]), str(p[1])) for p in pairs])
    _check_requirements(slot)
    name = one_line(_text(data, "name", subject))[:200]
    while True:
        try:
            claim = ctx.queue.claim(slot, name)
        except PARSE_ERRORS:  # e.g. Requirements = random(-1): classad2 raises while matching
            raise ClassAdError("slot ad: classad2 cannot evaluate it against the jobs") from None
        if claim is None:
            return HTTPStatus.NO_CONTENT, None
        try:
            payload = job_payload(claim, ctx.queue.options.lease_s)
        except SubmitError as exc:
            ctx.queue.hold(claim.claim_id, str(exc), HOLD_INPUT)
            continue
        ctx.queue.executing(claim)
        return HTTPStatus.OK, payload


def _check_requirements(slot: classads.ClassAd) -> None:
    """ClassAdError when classad2 cannot evaluate the slot's Requirements at all (matching would
    then silently find nothing: the startd is better told)."""
    try:
        slot.lookup("Requirements").eval(slot, classads.ClassAd())
    except KeyError:
        return
    except PARSE_ERRORS:
        raise ClassAdError("slot ad: classad2 cannot evaluate its Requirements") from None


def _claim_call(req: Handler, ctx: ApiContext, claim_id: str, action: str) -> tuple[HTTPStatus, object]:
    req.require_startd()
    data = req.body()
    try:
        if action == "heartbeat":
            return HTTPStatus.OK, {"job_id": ctx.queue.heartbeat(claim_id)}
        if action == "release":
            reason = data.get("reason", "")
            return HTTPStatus.OK, {"job_id": ctx.queue.release(claim_id, one_line(str(reason)))}
        return HTTPStatus.OK, {"job_id": complete_claim(ctx, claim_id, data)}
    except NotFoundError as exc:
        raise _Reply(HTTPStatus.GONE, {"error": str(exc)}) from None


def complete_claim(ctx: ApiContext, claim_id: str, data: dict[str, object]) -> str:
    """Outputs first, then the job completed: a schedd killed in between has the job still running
    under its claim, so the startd's retry (it keeps the result) is taken and nothing is lost."""
    exit_code = data.get("exit_code")
    if not isinstance(exit_code, int) or isinstance(exit_code, bool) or abs(exit_code) >= 1 << 31:
        raise SubmitError("'exit_code' must be an integer (32 bits)")
    stdout = decode_output(data.get("stdout"), "stdout")
    stderr = decode_output(data.get("stderr"), "stderr")
    write_outputs(ctx.queue.claimed_attrs(claim_id), ctx.spool, stdout, stderr)
    row, _attrs = ctx.queue.complete(claim_id, exit_code)
    return row.job_id
