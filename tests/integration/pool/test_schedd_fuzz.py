"""Seeded fuzzing of a real schedd's HTTP API: mutated JSON, headers, tokens, bodies, constraints.

Every case is one raw HTTP request on its own connection, half-closed after sending (so the
server sees all of it and then the end), ten connections at a time. Every answer must be a
2xx, or a 4xx with a one-line JSON error; never a 500, never silence unless the request itself
was cut inside its headers. Afterwards the schedd is alive, still serves a submit and a query,
and its log has no traceback.
"""

from __future__ import annotations

import base64
import json
import random
import socket
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from glidein.common import tokens
from tests.fuzz_support import HOSTILE_EXPRESSIONS
from tests.integration.pool.pool_helpers import Pool
from tests.procs import Processes, read_until_closed
from tests.unit.pool.test_submit_fuzz import _case as submit_case
from tests.unit.pool.test_submit_fuzz import _setup as _setup_submit_dir

SEED = 13
CASES = 3000
BATCH = 10
SUBMITS = 400
HOSTILE = [
    *HOSTILE_EXPRESSIONS,
    "[" * 70 + "a = 1" + "]" * 70,
    'eval("eval(\\"1\\")")',
    "userHome()",
    "MY.Requirements",
    "strcat(" * 40 + '"a"' + ")" * 40,
    "\x00",
    "\u00e9\u20ac\U0001f600",
]
SUBMIT = "executable = {exe}\narguments = a $(Process)\nrequest_memory = 64MB\nqueue 2\n"


@dataclass
class Case:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes
    cut: bool = False  # the request was cut inside its head: silence is allowed


@dataclass
class Target:
    local: str
    bearer: str
    tokens: list[str]
    claims: list[str]
    exe: str
    valid: list[Callable[[random.Random], Case]] = field(default_factory=list)


def _swap(rng: random.Random, value: object) -> object:
    choices: list[object] = [
        None,
        True,
        -1,
        10**400,
        1e308,
        "x" * rng.choice([0, 1, 70_000, 200_000]),
        [value],
        {"k": value},
        [[[[]]]],
        rng.choice(HOSTILE),
    ]
    return rng.choice(choices)


def _mutate_json(rng: random.Random, data: dict[str, object]) -> bytes:
    data = dict(data)
    for _ in range(rng.randrange(1, 4)):
        kind = rng.randrange(4)
        key = rng.choice([*data.keys(), "extra"])
        if kind == 0:
            data[key] = _swap(rng, data.get(key))
        elif kind == 1:
            data.pop(key, None)
        elif kind == 2 and isinstance(data.get(key), list):
            data[key] = [*data[key], *(rng.choice([[], [1, 2], ["A", "B", "C"], ["Cpus"]]),)]  # type: ignore[misc]
        else:
            data[key] = {"a": [1] * rng.randrange(3)}
    raw = json.dumps(data, allow_nan=True).encode() if rng.random() < 0.9 else _raw_number(data)
    if rng.random() < 0.1:
        raw = b"[" * rng.choice([33, 500, 50_000]) + raw + b"]" * rng.randrange(3)
    if rng.random() < 0.1:
        pos = rng.randrange(len(raw) + 1)
        raw = raw[:pos] + bytes([rng.choice([0x80, 0xFF, 0xC3, 0xED, 0x00])]) + raw[pos:]
    return raw


def _raw_number(data: dict[str, object]) -> bytes:
    """JSON with a number json.dumps never writes: 5000 digits, or NaN."""
    key = next(iter(data), "x")
    return json.dumps({**data, key: 0}).replace(": 0", ": " + "7" * 5000, 1).encode()


def _claim_body(rng: random.Random) -> dict[str, object]:
    slot = [["Cpus", "1"], ["Memory", "2048"], ["Disk", "4096"], ["GPUs", "0"]]
    slot.append(["Requirements", rng.choice(["true", "TARGET.RequestCpus <= MY.Cpus", *HOSTILE])])
    if rng.random() < 0.5:
        slot.append([rng.choice(["Rank", "Name", "x y", "", "1a", "A" * 5000]), rng.choice(HOSTILE)])
    return {"name": rng.choice(["s1", "a\nb", "\u00e9", "x" * 5000]), "slot": slot}


def _submit_body(rng: random.Random, exe: str) -> dict[str, object]:
    text = SUBMIT.format(exe=exe)
    if rng.random() < 0.5:
        text = text.replace("queue 2", rng.choice(["queue", "queue 0", "queue 2000001", "queue 1 in (a, b)"]))
    if rng.random() < 0.3:
        text = f"requirements = {rng.choice(HOSTILE)}\n" + text
    return {
        "text": text,
        "filename": rng.choice(["job.sub", "a\nb.sub", "\x00"]),
        "iwd": "/tmp",
        "owner": "u",
    }


def _constraint(rng: random.Random) -> str:
    return rng.choice(["true", "JobStatus == 1", "ProcId > 0", *HOSTILE])


def _requests(target: Target) -> list[Callable[[random.Random], tuple[str, str, str, dict[str, object]]]]:
    """Generators of (method, path, auth kind, JSON body) for every route."""

    def query(rng: random.Random) -> tuple[str, str, str, dict[str, object]]:
        route = rng.choice(["/jobs", "/autoclusters", "/status"])
        params = {"constraint": _constraint(rng)}
        if rng.random() < 0.5:
            params["limit"] = rng.choice(["1", "-1", "\u00b2", "9" * 5000, "x", "10"])
        if rng.random() < 0.3:
            params["all"] = rng.choice(["1", "0", "\xff"])
        return "GET", route + "?" + urllib.parse.urlencode(params), "none", {}

    def remove(rng: random.Random) -> tuple[str, str, str, dict[str, object]]:
        ids = rng.choice([["1"], ["1.0", "2"], ["9" * 30], ["1.2.3"], ["-5"], ["\u0661"], []])
        return "POST", "/remove", "local", {"ids": ids, "constraint": _constraint(rng)}

    def claim_call(rng: random.Random) -> tuple[str, str, str, dict[str, object]]:
        claim_id = rng.choice([*target.claims, "abc", "-" * 64])
        action = rng.choice(["heartbeat", "complete", "release"])
        body: dict[str, object] = {"reason": "fuzz"}
        if action == "complete":
            out = base64.b64encode(b"out").decode()
            body = {"exit_code": rng.choice([0, 1, -1]), "stdout": out, "stderr": ""}
        return "POST", f"/claims/{claim_id}/{action}", "startd", body

    return [
        query,
        lambda rng: ("POST", "/submit", "local", _submit_body(rng, target.exe)),
        remove,
        lambda rng: ("POST", "/claim", "startd", _claim_body(rng)),
        claim_call,
    ]


def _auth_headers(rng: random.Random, kind: str, target: Target) -> list[tuple[str, str]]:
    if kind == "local":
        secret = target.local if rng.random() < 0.8 else rng.choice(["", "\u00e9" * 3, target.local[:-1]])
        return [("X-Glidein-Secret", secret)]
    if kind == "startd":
        token = target.bearer if rng.random() < 0.7 else rng.choice(target.tokens)
        return [("Authorization", rng.choice(["Bearer ", "Bearer ", "bearer ", ""]) + token)]
    return []


def _length_lie(rng: random.Random, body: bytes) -> str:
    return rng.choice(
        [str(len(body) + rng.randrange(1, 100)), "-1", "-99999", str(10**20), "1e3", " ", "\u0663", "0x10"]
    )


def _case(rng: random.Random, target: Target) -> Case:
    method, path, kind, body_obj = rng.choice(_requests(target))(rng)
    body = _mutate_json(rng, body_obj) if body_obj and rng.random() < 0.6 else json.dumps(body_obj).encode()
    if method == "GET" and rng.random() < 0.8:
        body = b""
    headers = [("Host", "127.0.0.1"), *_auth_headers(rng, kind, target)]
    length = str(len(body))
    if rng.random() < 0.15:
        length = _length_lie(rng, body)
    if rng.random() < 0.05:
        headers.append(("Content-Length", "5"))  # a second, contradicting one
    headers.append(("Content-Length", length))
    if rng.random() < 0.05:
        method = rng.choice(["PUT", "DELETE", "HEAD", "OPTIONS", "GE\u00e9T"])
    if rng.random() < 0.05:
        path += rng.choice(["%ff%fe", "/../../etc/passwd", "?" + "a=" * 5000, "\u00e9", "#x"])
    case = Case(method, path, headers, body)
    if rng.random() < 0.08:
        case.body = body[: rng.randrange(len(body) + 1)]  # truncated body, Content-Length kept
    return case


def _encode(case: Case) -> bytes:
    head = f"{case.method} {case.path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in case.headers)
    return head.encode("utf-8", "surrogateescape") + b"\r\n" + case.body


def _raw_mutation(rng: random.Random, case: Case) -> bytes:
    """Byte-level damage to the whole request; a cut inside the head may go unanswered."""
    data = bytearray(_encode(case))
    head_end = data.find(b"\r\n\r\n")
    kind = rng.randrange(3)
    pos = rng.randrange(len(data))
    if kind == 0:
        data[pos] ^= 1 << rng.randrange(8)
    elif kind == 1:
        del data[pos:]
        case.cut = pos < head_end + 4
    else:
        data[pos:pos] = b"\r\n" * rng.randrange(1, 3) + bytes(rng.randrange(256) for _ in range(8))
    return bytes(data)


def _exchange(port: int, batch: list[tuple[Case, bytes]]) -> list[bytes]:
    socks = []
    for _unused, data in batch:
        sock = socket.create_connection(("127.0.0.1", port), timeout=15)
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server answered and closed before reading everything: judged below
        socks.append(sock)
    answers = []
    for sock in socks:
        answers.append(read_until_closed(sock))
        sock.close()
    return answers


def _responses(raw: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Every HTTP response in `raw` (keep-alive may leave a second one), in order."""
    out = []
    while raw:
        head, sep, rest = raw.partition(b"\r\n\r\n")
        assert sep, f"no end of head in answer {raw[:200]!r}"
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        out.append((status, headers, rest[:length]))
        raw = rest[length:]
    return out


def _judge(case: Case, answer: bytes) -> list[int]:
    """The statuses answered to `case`, each checked."""
    what = f"{case.method} {case.path[:60]!r} {case.headers[-1]!r} body={case.body[:60]!r}"
    if not answer:
        assert case.cut, f"no answer to an uncut request: {what}"
        return []
    responses = _responses(answer)
    for status, headers, body in responses:
        assert status < 500 and status // 100 in (2, 4), (status, body[:200], what)
        if status == 204 or (status < 300 and case.method == "HEAD"):
            continue
        assert headers.get("content-type") == "application/json", (headers, what)
        if case.method == "HEAD":
            continue
        data = json.loads(body)
        if status >= 400:
            assert isinstance(data, dict) and isinstance(data.get("error"), str), (body[:200], what)
            assert "\n" not in data["error"] and data["error"], (data, what)
    return [status for status, _headers, _body in responses]


def _target(pool: Pool) -> Target:
    key = tokens.load_key(pool.key_file)
    exe = pool.tmp / "job.sh"
    exe.write_text("#!/bin/sh\ntrue\n")
    exe.chmod(0o755)
    good = pool.token("s1").read_text()
    header, claims, sig = good.split(".")
    bad = [
        tokens.mint(key, "s2", ["user"], 60, "t"),
        tokens.mint(b"k" * 32, "s3", ["startd"], 60, "t"),
        tokens.mint(key, "s4", ["startd"], 1, "t", now=time.time() - 100),
        f"{header}.{claims[:-2]}.{sig}",
        f"{header}.{claims}.{sig[::-1]}",
        "\u00e9t\u00e9.a.b",
        "a" * 9000,
        "...",
        f"{header}.{claims}",
        base64.b64encode(b"\xff" * 30).decode(),
    ]
    local = (pool.state_dir / "local.secret").read_text().strip()
    return Target(local, good, bad, [], str(exe))


def _claim_ids(pool: Pool, target: Target) -> list[str]:
    """Claim ids of real claims, for heartbeat/complete/release cases to aim at."""
    pool.queue(SUBMIT.format(exe=target.exe).replace("queue 2", "queue 6"))
    slot = [["Cpus", "1"], ["Memory", "2048"], ["Disk", "4096"], ["GPUs", "0"], ["Requirements", "true"]]
    ids = []
    for _ in range(4):
        case = Case(
            "POST",
            "/claim",
            [("Authorization", "Bearer " + target.bearer)],
            json.dumps({"slot": slot}).encode(),
        )
        case.headers.append(("Content-Length", str(len(case.body))))
        (status, _headers, body), *_ = _responses(_exchange(pool.port, [(case, _encode(case))])[0])
        assert status == 200, body
        ids.append(str(json.loads(body)["claim_id"]))
    return ids


def test_mutated_requests_never_crash_the_schedd(processes: Processes, tmp_path: Path) -> None:
    pool = Pool(processes, tmp_path, lease=30.0)
    pool.start_schedd()
    target = _target(pool)
    target.claims = _claim_ids(pool, target)
    rng = random.Random(SEED)
    cases = []
    for _ in range(CASES):
        case = _case(rng, target)
        cases.append((case, _raw_mutation(rng, case) if rng.random() < 0.1 else _encode(case)))
    start = time.monotonic()
    seen: Counter[int] = Counter()
    for first in range(0, CASES, BATCH):
        batch = cases[first : first + BATCH]
        for (case, _data), answer in zip(batch, _exchange(pool.port, batch), strict=True):
            seen.update(_judge(case, answer))
    took = time.monotonic() - start
    print(f"schedd fuzz: {CASES} cases in {took:.1f} s, statuses {sorted(seen.items())}")
    assert took < 60, took
    assert {200, 204, 400, 401, 403, 404, 405, 410} <= set(seen), seen  # every route and refusal reached
    assert pool.schedd is not None and pool.schedd.poll() is None
    cluster = pool.queue(SUBMIT.format(exe=target.exe))
    assert {j["ProcId"] for j in pool.client().jobs(f"ClusterId == {cluster}")} == {0, 1}
    log = processes.log("schedd")
    assert "Traceback" not in log and "internal error" not in log


def test_slow_partial_requests_do_not_block_other_clients(processes: Processes, tmp_path: Path) -> None:
    pool = Pool(processes, tmp_path)
    pool.start_schedd()
    target = _target(pool)
    slow = []
    for number in range(40):  # heads and bodies that stop half-way and stay open
        sock = socket.create_connection(("127.0.0.1", pool.port), timeout=5)
        if number % 2:
            sock.sendall(b'POST /submit HTTP/1.1\r\nContent-Length: 1000\r\n\r\n{"te')
        else:
            sock.sendall(b"GET /jobs?constraint=true HTTP/1.1\r\nHost: x\r\nX-Fo")
        slow.append(sock)
    try:
        start = time.monotonic()
        cluster = pool.queue(SUBMIT.format(exe=target.exe))
        assert len(pool.client().jobs(f"ClusterId == {cluster}")) == 2
        assert time.monotonic() - start < 5
    finally:
        for sock in slow:
            sock.close()
    assert pool.schedd is not None and pool.schedd.poll() is None
    assert "Traceback" not in processes.log("schedd")


def test_mutated_submit_files_through_the_api_and_the_cli(processes: Processes, tmp_path: Path) -> None:
    pool = Pool(processes, tmp_path)
    pool.start_schedd()
    _setup_submit_dir(tmp_path)
    local = (pool.state_dir / "local.secret").read_text().strip()
    rng = random.Random(SEED)
    seen: Counter[int] = Counter()
    start = time.monotonic()
    for _first in range(0, SUBMITS, BATCH):
        batch = []
        for _ in range(BATCH):
            body = {"text": submit_case(rng), "filename": "fuzz.sub", "iwd": str(tmp_path), "owner": "u"}
            data = json.dumps(body).encode()
            headers = [("X-Glidein-Secret", local), ("Content-Length", str(len(data)))]
            batch.append((Case("POST", "/submit", headers, data), b""))
        batch = [(case, _encode(case)) for case, _raw in batch]
        for (case, _data), answer in zip(batch, _exchange(pool.port, batch), strict=True):
            statuses = _judge(case, answer)
            seen.update(statuses)
            assert statuses in ([200], [400]), (statuses, answer[-300:])
            if statuses == [400]:
                assert b'"error": "fuzz.sub' in answer, answer[-300:]
    took = time.monotonic() - start
    print(f"submit fuzz via the API: {SUBMITS} submissions in {took:.1f} s, statuses {sorted(seen.items())}")
    assert took < 40 and seen[200] > 0 and seen[400] > 0, (took, seen)
    bad = pool.submit('executable = run.sh\narguments = "a\nqueue\n', "bad.sub")
    assert bad.returncode != 0 and bad.stderr.count("\n") == 1 and "bad.sub:2: arguments" in bad.stderr
    good = pool.submit(f"executable = {tmp_path}/run.sh\nqueue 2\n", "good.sub")
    assert good.returncode == 0 and "2 job(s) submitted" in good.stdout, good.stderr
    assert pool.schedd is not None and pool.schedd.poll() is None
    log = processes.log("schedd")
    assert "Traceback" not in log and "internal error" not in log
