"""The schedd HTTP API refuses bad input with one clear error and keeps answering."""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path

from tests.integration.pool.pool_helpers import Pool
from tests.procs import Processes


def _call(
    port: int, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, object]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        reply = conn.getresponse()
        raw = reply.read()
        return reply.status, json.loads(raw) if raw else None
    finally:
        conn.close()


def test_bad_requests_get_one_line_errors_and_the_server_stays_up(
    processes: Processes, tmp_path: Path
) -> None:
    pool = Pool(processes, tmp_path)
    pool.start_schedd()
    port = pool.port
    secret = (pool.state_dir / "local.secret").read_text().strip()
    bearer = {"Authorization": "Bearer " + pool.token("s1").read_text()}
    local = {"X-Glidein-Secret": secret}
    cases = [
        ("GET", "/nowhere", b"", {}, 404, "no such endpoint"),
        ("GET", "/jobs?constraint=((", b"", {}, 400, "bad ClassAd expression"),
        ("GET", "/autoclusters?constraint=1%20%2B", b"", {}, 400, "bad ClassAd expression"),
        ("POST", "/submit", b"not json", local, 400, "not JSON"),
        ("POST", "/submit", b"[1, 2]", local, 400, "must be a JSON object"),
        ("POST", "/submit", b'{"text": 5}', local, 400, "'text' must be a string"),
        ("POST", "/submit", b'{"text": "queue"}', {}, 403, "local-user secret"),
        ("POST", "/remove", b'{"ids": ["x.y.z"]}', local, 404, "bad job id"),
        ("POST", "/claim", b'{"slot": "nope"}', bearer, 400, "'slot' must be a list"),
        ("POST", "/claim", b'{"slot": [["Cpus", "(("]]}', bearer, 400, ""),
        ("POST", "/claim", b'{"slot": []}', {"Authorization": "Bearer junk"}, 401, "malformed"),
        ("POST", "/claims/abc/heartbeat", b"{}", bearer, 410, "no such claim"),
        (
            "POST",
            "/claims/abc/complete",
            b'{"exit_code": "x"}',
            bearer,
            400,
            "'exit_code' must be an integer",
        ),
    ]
    for method, path, body, headers, status, text in cases:
        got_status, got_body = _call(port, method, path, body, headers)
        assert got_status == status, (path, got_status, got_body)
        assert isinstance(got_body, dict) and text in str(got_body["error"]), (path, got_body)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:  # a truncated request
        sock.sendall(b"POST /submit HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
    too_big = {"Content-Length": str(200 * 1024 * 1024), **local}
    assert _call(port, "POST", "/submit", b"{}", too_big)[0] == 400
    status, body = _call(port, "GET", "/status")
    assert status == 200 and isinstance(body, dict) and body["idle"] == 0
    assert "Traceback" not in processes.log("schedd")


def test_hostile_requests_get_4xx_and_one_log_line(processes: Processes, tmp_path: Path) -> None:
    pool = Pool(processes, tmp_path)
    pool.start_schedd()
    pool.queue("executable = /bin/true\nqueue 2\n")
    bearer = {"Authorization": "Bearer " + pool.token("s1").read_text()}
    huge = "1" + " + 1" * 200_000
    cases = [
        ("POST", "/claim", b"{}", {"Authorization": "Bearer \u00e9t\u00e9.x.y"}, 401, "non-ASCII"),
        ("GET", "/jobs?constraint=random(-1)", b"", {}, 400, "cannot be evaluated"),
        ("GET", "/autoclusters?constraint=userHome()", b"", {}, 400, "cannot be evaluated"),
        ("POST", "/claim", b"[" * 100_000 + b"]" * 100_000, bearer, 400, "nests deeper than 32"),
        (
            "POST",
            "/claim",
            json.dumps({"slot": [["Cpus", huge]]}).encode(),
            bearer,
            400,
            "slot attribute Cpus",
        ),
        (
            "POST",
            "/claim",
            json.dumps({"slot": [["Requirements", "random(-1)"]]}).encode(),
            bearer,
            400,
            "slot ad",
        ),
        ("POST", "/claims/abc/complete", b'{"exit_code": 1' + b"0" * 30 + b"}", bearer, 400, "32 bits"),
        ("GET", "/jobs?constraint=" + "(" * 5000 + "1" + ")" * 5000, b"", {}, 400, "nested 5000 deep"),
    ]
    for method, path, body, headers, status, text in cases:
        got_status, got_body = _call(pool.port, method, path, body, headers)
        assert got_status == status, (path[:40], got_status, got_body)
        assert isinstance(got_body, dict) and text in str(got_body["error"]), (path[:40], got_body)
    status, body = _call(pool.port, "GET", "/status")
    assert status == 200 and isinstance(body, dict) and body["idle"] == 2
    log = processes.log("schedd")
    assert "Traceback" not in log and "internal error" not in log
    assert log.count("refused startd call /claim") == 1
