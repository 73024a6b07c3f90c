"""Pilot benchmark: wrapper start -> startd running (20 staged files, loopback), verification cost.

1. Stages 20 files (the 12 default files + 8 small exec scripts), serves them with
   `glidein factory web` (its own process), and times `glidein_startup.py` from process start to
   the startd's first sign of life (median of 5 runs; the startd stand-in writes a file).
2. Verification cost per MB: hashing (sha1, sha256) of staged data, the wrapper's pure-Python
   Ed25519 check of a signature file, and download + verify of a level holding a 32 MB file.
Prints one line per figure; about 20 s. Run: .venv/bin/python bench/pilot.py
"""

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from glidein.factory import staging
from glidein.factory.web import report_token
from glidein.pilot_wrapper import glidein_startup as gs

RUNS = 5
STANDIN = """
import json, os, sys, time
conf = json.load(open(sys.argv[sys.argv.index("--config") + 1]))
open(os.environ["BENCH_STARTD_FLAG"], "w").write(repr(time.time()))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"web server did not listen on {port}")


def standin_startd(root: Path) -> Path:
    """Same launch contract as the embedded startd (section 6); it records when it started."""
    (root / "pool" / "startd").mkdir(parents=True)
    for init in ("__init__.py", "pool/__init__.py", "pool/startd/__init__.py"):
        (root / init).write_text("")
    (root / "pool" / "startd" / "__main__.py").write_text(STANDIN)
    return root


def serve(stage_dir: Path, state_dir: Path, port: int) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "glidein.cli", "factory", "web", "--stage-dir", str(stage_dir)]
    argv += ["--state-dir", str(state_dir), "--port", str(port)]
    quiet = subprocess.DEVNULL
    proc = subprocess.Popen(argv, stdout=quiet, stderr=quiet, start_new_session=True)
    wait_for_port(port)
    return proc


def stage_twenty(tmp: Path, port: int) -> staging.StageResult:
    source = standin_startd(tmp / "standin")
    extra = []
    for index in range(8):
        script = tmp / f"site_{index}.py"
        script.write_text(f"import sys\nopen(sys.argv[1], 'a').write('SITE_{index} ok\\n')\n")
        extra.append(staging.StageFile(script, "exec", order=50 + index))
    spec = staging.StagingSpec(tmp / "stage", f"http://127.0.0.1:{port}", main=extra, startd_source=source)
    result = staging.stage(spec)
    description = (tmp / "stage" / result.main.descript).read_text()
    assert description.count('"kind"') == 20, "expected 20 staged files"
    return result


def time_pilot_to_startd(tmp: Path) -> list[float]:
    port = free_port()
    result = stage_twenty(tmp, port)
    web = serve(tmp / "stage", tmp / "state", port)
    key = bytes.fromhex((tmp / "state" / "report.key").read_text().strip())
    times = []
    try:
        for run in range(RUNS):
            flag = tmp / f"startd_{run}"
            argv = [sys.executable, str(staging.WRAPPER_PATH), "-factory", "f", "-name", "g", "-entry", "e"]
            argv += [*result.pilot_args("e"), "-dir", str(tmp / "work"), "-hold_time", "0"]
            argv += ["-pilot_id", f"b{run}", "-report_url", f"http://127.0.0.1:{port}"]
            argv += ["-report_token", report_token(key, f"b{run}")]
            argv += ["-param_GLIDEIN_Collector", f"127.0.0.1:{port}"]
            argv += ["-param_GLIDEIN_Schedd", f"http://127.0.0.1:{port}"]
            env = dict(os.environ, BENCH_STARTD_FLAG=str(flag))
            start = time.time()
            code = subprocess.run(argv, env=env, capture_output=True, check=False).returncode
            assert code == 0 and flag.exists(), f"pilot run {run} failed with {code}"
            times.append(float(flag.read_text()) - start)
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(10)
    return times


def hash_cost(algorithm: str, megabytes: int = 64) -> float:
    data = os.urandom(megabytes << 20)
    start = time.perf_counter()
    gs.digest(algorithm, data)
    return (time.perf_counter() - start) / megabytes


def ed25519_cost(rounds: int = 20) -> float:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes_raw()
    message = os.urandom(4096)
    signature = key.sign(message)
    start = time.perf_counter()
    for _ in range(rounds):
        assert gs.ed25519_verify(public, message, signature)
    return (time.perf_counter() - start) / rounds


def download_verify_cost(tmp: Path, megabytes: int = 32) -> float:
    port = free_port()
    big = tmp / "big.tar.gz"
    big.write_bytes(os.urandom(megabytes << 20))
    spec = staging.StagingSpec(tmp / "bigstage", f"http://127.0.0.1:{port}", default_files=False)
    spec.main = [staging.StageFile(big, "untar")]
    result = staging.stage(spec)
    web = serve(tmp / "bigstage", tmp / "bigstate", port)
    try:
        opts = dict(gs.DEFAULTS, signtype="sha256", retries="0")
        log = gs.Reporter(opts)
        args = (f"http://127.0.0.1:{port}", result.main.sign, result.main.descript)
        start = time.perf_counter()
        files = gs.load_level("main", args, opts, log)
        elapsed = time.perf_counter() - start
        assert len(files[0][1]) == megabytes << 20
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(10)
    return elapsed / megabytes


def main() -> None:
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        times = time_pilot_to_startd(tmp)
        print(
            f"pilot start -> startd running, 20 files, loopback: median {statistics.median(times):.3f} s "
            f"(min {min(times):.3f}, max {max(times):.3f}, {RUNS} runs; target <= 1 s)"
        )
        for algorithm in ("sha1", "sha256"):
            print(f"hash {algorithm}: {hash_cost(algorithm) * 1000:.2f} ms/MB")
        print(f"Ed25519 verify of a signature file (pure Python): {ed25519_cost() * 1000:.1f} ms each")
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - silence the wrapper's own log lines
        cost = download_verify_cost(tmp)
        sys.stderr = sys.__stderr__
        print(f"download + verify over HTTP (32 MB file, sha256): {cost * 1000:.2f} ms/MB (target <= 1 s/MB)")


if __name__ == "__main__":
    main()
