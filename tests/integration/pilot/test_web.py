"""`glidein factory web`: serves the stage over HTTP and HTTPS, takes only authentic pilot reports."""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import json
import socket
import ssl
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import ClassVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from glidein.factory.web import read_log, read_report, report_token
from tests.integration.pilot.helpers import StageSite
from tests.procs import Processes, run_glidein


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def _post(url: str, body: bytes, token: str | None) -> int:
    request = urllib.request.Request(url, data=body, method="POST")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _get(url: str, context: ssl.SSLContext | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5, context=context) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def test_reports_need_the_pilot_token_and_are_final(tmp_path: Path, processes: Processes) -> None:
    site = StageSite(tmp_path, processes)
    site.stage()
    server = site.serve()
    base, key = site.url, site.report_key()
    good = report_token(key, "p7")
    assert _post(f"{base}/pilots/p7/log", b"line 1\n", None) == 403
    assert _post(f"{base}/pilots/p7/log", b"line 1\n", report_token(key, "p8")) == 403
    assert _post(f"{base}/pilots/..%2fx/log", b"x", good) == 404
    assert _post(f"{base}/pilots/p7/log", b"line 1\n", good) == 200
    assert _post(f"{base}/pilots/p7/report", b"not json", good) == 400
    report = {"pilot_id": "p7", "status": "failure", "failure_class": "Network"}
    assert _post(f"{base}/pilots/p7/report", json.dumps(report).encode(), good) == 200
    assert _post(f"{base}/pilots/p7/log", b"late\n", good) == 409  # the token is spent
    assert read_log(site.state_dir, "p7") == "line 1\n"
    assert read_report(site.state_dir, "p7") == report
    assert (site.state_dir / "report.key").stat().st_mode & 0o777 == 0o600
    assert "refused POST" in processes.log("web")  # one line per refusal, server still up
    with socket.create_connection(("127.0.0.1", site.port), timeout=5) as raw:  # malformed request
        raw.sendall(b"POST /pilots/p7/log HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
        assert raw.recv(100).startswith(b"HTTP/1.1 413")
    assert _get(f"{base}/current.json")[0] == 200  # still serving
    assert processes.stop(server) == 0 and "stopped" in processes.log("web")  # SIGTERM: graceful


def test_only_flat_stage_files_are_served(tmp_path: Path, processes: Processes) -> None:
    site = StageSite(tmp_path, processes)
    result = site.stage()
    (tmp_path / "secret.txt").write_text("no")
    site.serve()
    status, body = _get(f"{site.url}/{result.main.descript}")
    assert status == 200 and json.loads(body)["level"] == "main"
    for path in ("/", "/../secret.txt", "/%2e%2e/secret.txt", "/.stages.tmp", "/nope"):
        assert _get(site.url + path)[0] == 404, path


def test_https_stage_and_pilot_run(tmp_path: Path, processes: Processes) -> None:
    cert, key = self_signed(tmp_path)
    site = StageSite(tmp_path, processes)
    site.stage()
    site.serve("--tls-cert", str(cert), "--tls-key", str(key))
    https = site.url.replace("http://", "https://")
    context = ssl.create_default_context(cafile=str(cert))
    assert _get(f"{https}/current.json", context)[0] == 200
    with pytest.raises(urllib.error.URLError):
        _get(f"{https}/current.json")  # an unknown CA is refused
    argv = [a.replace(site.url, https) for a in site.pilot_argv()]
    proc = site.run_pilot(argv, env={"SSL_CERT_FILE": str(cert)})
    assert proc.returncode == 0, proc.stderr
    assert site.report()["status"] == "success" and (site.markers / "startd").exists()
    argv = [a.replace(site.url, https) for a in site.pilot_argv("p2")]
    proc = site.run_pilot(argv)  # without the CA the pilot cannot download: Network
    assert proc.returncode == 2 and "CERTIFICATE_VERIFY_FAILED" in proc.stderr


def test_web_refuses_bad_tls_and_missing_stage(tmp_path: Path) -> None:
    args = ["factory", "web", "--stage-dir", str(tmp_path / "stage"), "--state-dir", str(tmp_path)]
    result = run_glidein(args)
    assert result.returncode == 2 and "stage directory does not exist" in result.stderr
    (tmp_path / "stage").mkdir()
    result = run_glidein([*args, "--port", "0", "--tls-cert", str(tmp_path / "c.pem")])
    assert result.returncode == 2 and "needs both --tls-cert and --tls-key" in result.stderr


def test_config_driven_stage_and_web_with_url_prefix(tmp_path: Path, processes: Processes) -> None:
    from tests.procs import free_port, wait_for_port

    port = free_port()
    config = tmp_path / "factory.yaml"
    for name in ("main_check.py", "entry_check.py", "vo_setup.py"):
        (tmp_path / name).write_text("print('ok')\n")
    config.write_text(
        "name: f1\ncollectors: [127.0.0.1:9618]\nstate_dir: state\n"
        f"staging:\n  dir: stage\n  url: http://127.0.0.1:{port}/stage\n  hash_algorithm: sha1\n"
        f"  listen: 127.0.0.1:{port}\n  grace_period: 60\n  startd_mode: condor\n"
        "  files: [{path: main_check.py, order: 20, period: 300}]\n"
        "  frontend_files: {fe: [{path: vo_setup.py, timeout: 30}]}\n"
        "security:\n  signing_key: keys/sign.key\n  encryption_key: keys/box.key\n"
        "frontends:\n  - name: fe\n    identity: fe@example.org\n    security_classes: [{name: prod}]\n"
        "entries:\n  - name: LOCAL_A\n    gatekeeper: local\n    submitter: {type: local}\n"
        "    files: [{path: entry_check.py, kind: exec}]\n"
    )
    result = run_glidein(["factory", "stage", "--config", str(config)])
    assert result.returncode == 0, result.stderr
    assert "entry LOCAL_A: -signentry" in result.stdout
    processes.glidein(["factory", "web", "--config", str(config)], "web")
    wait_for_port(port)
    from glidein.factory.staging import load_result

    stage = load_result(tmp_path / "stage")
    assert stage.hash_algorithm == "sha1" and stage.web_url.endswith("/stage")
    main = json.loads((tmp_path / "stage" / stage.main.descript).read_text())["files"]
    mine = next(f for f in main if f["orig"] == "main_check.py")
    assert (mine["order"], mine["period"], mine["kind"]) == (20, 300, "exec")
    assert any(f["orig"] == "constants.cfg" for f in main)
    constants = next((tmp_path / "stage").glob("constants.*.cfg")).read_text()
    assert "GLIDEIN_STARTD_MODE condor" in constants
    entry = json.loads((tmp_path / "stage" / stage.entries["LOCAL_A"].descript).read_text())["files"]
    assert [f["orig"] for f in entry] == ["entry_check.py"]
    client = json.loads((tmp_path / "stage" / stage.clients["fe"].descript).read_text())["files"]
    assert [(f["orig"], f["timeout"]) for f in client] == [("vo_setup.py", 30)]
    assert "-clientsign" in stage.pilot_args("LOCAL_A", "fe.prod")
    assert _get(f"http://127.0.0.1:{port}/stage/{stage.entries['LOCAL_A'].descript}")[0] == 200
    assert _get(f"http://127.0.0.1:{port}/{stage.entries['LOCAL_A'].descript}")[0] == 404
    report_key = tmp_path / "state" / "report.key"
    assert report_key.exists() and report_key.stat().st_mode & 0o777 == 0o600


class _ForwardProxy(http.server.BaseHTTPRequestHandler):
    """A minimal forward HTTP proxy: `stage.invalid` is reachable only through it."""

    upstream = ""
    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        target = self.path.replace("http://stage.invalid", self.upstream, 1)
        try:
            with urllib.request.urlopen(target, timeout=5) as resp:
                status, body = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, b""
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_pilot_downloads_through_the_http_proxy_from_the_environment(
    tmp_path: Path, processes: Processes
) -> None:
    site = StageSite(tmp_path, processes)
    site.stage()
    site.serve()
    _ForwardProxy.upstream, _ForwardProxy.seen = site.url, []
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ForwardProxy)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        argv = site.pilot_argv()
        for option in ("-web", "-clientweb", "-clientwebgroup"):
            argv[argv.index(option) + 1] = "http://stage.invalid"
        env = {"http_proxy": f"http://127.0.0.1:{proxy.server_address[1]}", "no_proxy": "127.0.0.1"}
        proc = site.run_pilot(argv, env=env)
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert proc.returncode == 0, proc.stderr
    assert any("/signature." in path for path in _ForwardProxy.seen)
    assert all(path.startswith("http://stage.invalid/") for path in _ForwardProxy.seen)
    assert site.report()["status"] == "success"  # reports went direct (no_proxy)
