"""Pilot benchmark: wrapper start -> startd running (about 20 staged files, loopback), verification cost.

1. Stages the default files (14 today) + 6 small exec scripts, serves them with
   `glidein factory web` (its own process), and times `glidein_startup.py` (run by the system
   python3, as on a worker node) from process start to the startd's first sign of life: (a) a
   stand-in startd that writes a file (the wrapper's own cost), (b) the real embedded startd
   until its slot ad is in a real `glidein collector` (beside a `glidein schedd`). 5 runs each.
2. Verification cost per MB: hashing (sha1, sha256), the wrapper's pure-Python Ed25519 check of
   a signature file, and download + verify of a level holding a 32 MB file.
Prints one line per figure; about 30 s. Run: .venv/bin/python bench/pilot.py
"""

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from glidein.common import tokens
from glidein.factory import staging
from glidein.pilot_wrapper import glidein_startup as gs
from glidein.pool import cedar

RUNS = 5
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
GLIDEIN = [sys.executable, "-m", "glidein.cli"]
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
    raise RuntimeError(f"nothing listens on {port}")


def start(args: list[str], port: int) -> subprocess.Popen[bytes]:
    quiet = subprocess.DEVNULL
    proc = subprocess.Popen([*GLIDEIN, *args], stdout=quiet, stderr=quiet, start_new_session=True)
    wait_for_port(port)
    return proc


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)


def web(stage_dir: Path, state_dir: Path, port: int) -> subprocess.Popen[bytes]:
    args = ["factory", "web", "--stage-dir", str(stage_dir), "--state-dir", str(state_dir)]
    return start([*args, "--port", str(port)], port)


def standin_startd(root: Path) -> Path:
    """Same launch contract as the embedded startd (section 6); it records when it started."""
    (root / "pool" / "startd").mkdir(parents=True)
    for init in ("__init__.py", "pool/__init__.py", "pool/startd/__init__.py"):
        (root / init).write_text("")
    (root / "pool" / "startd" / "__main__.py").write_text(STANDIN)
    return root


def stage_files(tmp: Path, port: int, real_startd: bool) -> tuple[Path, staging.StageResult]:
    source = staging.PACKAGE_ROOT if real_startd else standin_startd(tmp / "standin")
    extra = []
    for index in range(6):
        script = tmp / f"site_{index}.py"
        script.write_text(f"import sys\nopen(sys.argv[1], 'a').write('SITE_{index} ok\\n')\n")
        extra.append(staging.StageFile(script, "exec", order=50 + index))
    stage_dir = tmp / ("stage_real" if real_startd else "stage")
    spec = staging.StagingSpec(stage_dir, f"http://127.0.0.1:{port}", main=extra, startd_source=source)
    result = staging.stage(spec)
    assert (stage_dir / result.main.descript).read_text().count('"kind"') >= 20, "expected 20 files or more"
    return stage_dir, result


def pilot_argv(result: staging.StageResult, tmp: Path, pilot_id: str, params: dict[str, str]) -> list[str]:
    argv = [PYTHON, str(staging.WRAPPER_PATH), "-factory", "f", "-name", "g", "-entry", "e"]
    argv += [*result.pilot_args("e"), "-dir", str(tmp / "work"), "-hold_time", "0", "-pilot_id", pilot_id]
    for key, value in params.items():
        argv += [f"-param_{key}", value]
    return argv


def time_with_standin(tmp: Path) -> list[float]:
    port = free_port()
    stage_dir, result = stage_files(tmp, port, real_startd=False)
    server = web(stage_dir, tmp / "state", port)
    params = {"GLIDEIN_Collector": f"127.0.0.1:{port}", "GLIDEIN_Schedd": f"http://127.0.0.1:{port}"}
    times = []
    try:
        for run in range(RUNS):
            flag = tmp / f"startd_{run}"
            env = dict(os.environ, BENCH_STARTD_FLAG=str(flag))
            began = time.time()
            argv = pilot_argv(result, tmp, f"b{run}", params)
            proc = subprocess.run(argv, env=env, capture_output=True, check=False)
            assert proc.returncode == 0 and flag.exists(), f"pilot b{run} failed: {proc.stderr[-500:]!r}"
            times.append(float(flag.read_text()) - began)
    finally:
        stop([server])
    return times


def time_with_real_startd(tmp: Path) -> list[float]:
    web_port, collector_port, schedd_port = free_port(), free_port(), free_port()
    stage_dir, result = stage_files(tmp, web_port, real_startd=True)
    collector = f"127.0.0.1:{collector_port}"
    key_file = tmp / "pool.key"
    tokens.generate_key(key_file)
    schedd = ["schedd", "--port", str(schedd_port), "--state-dir", str(tmp / "schedd")]
    schedd += ["--pool-key", str(key_file), "--collector", collector]
    procs = [
        web(stage_dir, tmp / "state_real", web_port),
        start(["collector", "--port", str(collector_port)], collector_port),
        start(schedd, schedd_port),
    ]
    times = []
    try:
        for run in range(RUNS):
            token = tokens.mint(tokens.load_key(key_file), f"r{run}", ["startd"], 600, "bench")
            params = {"GLIDEIN_Collector": collector, "GLIDEIN_Schedd": f"http://127.0.0.1:{schedd_port}"}
            params |= {"GLIDEIN_Token": token, "GLIDEIN_Max_Idle": "60", "GLIDEIN_Advertise_Interval": "5"}
            quiet = subprocess.DEVNULL
            began = time.time()
            pilot = subprocess.Popen(pilot_argv(result, tmp, f"r{run}", params), stdout=quiet, stderr=quiet)
            while not cedar.query(collector, "STARTD", f'GLIDEIN_Pilot_ID == "r{run}"'):
                assert pilot.poll() is None and time.time() - began < 60, f"pilot r{run} ended early"
                time.sleep(0.01)
            times.append(time.time() - began)
            pilot.send_signal(signal.SIGTERM)
            pilot.wait(30)
    finally:
        stop(procs)
    return times


def hash_cost(algorithm: str, megabytes: int = 64) -> float:
    data = os.urandom(megabytes << 20)
    began = time.perf_counter()
    gs.digest(algorithm, data)
    return (time.perf_counter() - began) / megabytes


def ed25519_cost(rounds: int = 20) -> float:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes_raw()
    message = os.urandom(4096)
    signature = key.sign(message)
    began = time.perf_counter()
    for _ in range(rounds):
        assert gs.ed25519_verify(public, message, signature)
    return (time.perf_counter() - began) / rounds


def download_verify_cost(tmp: Path, megabytes: int = 32) -> float:
    port = free_port()
    big = tmp / "big.tar.gz"
    big.write_bytes(os.urandom(megabytes << 20))
    spec = staging.StagingSpec(tmp / "bigstage", f"http://127.0.0.1:{port}", default_files=False)
    spec.main = [staging.StageFile(big, "untar")]
    result = staging.stage(spec)
    server = web(tmp / "bigstage", tmp / "bigstate", port)
    try:
        opts = dict(gs.DEFAULTS, signtype="sha256", retries="0")
        args = (f"http://127.0.0.1:{port}", result.main.sign, result.main.descript)
        began = time.perf_counter()
        files = gs.load_level("main", args, opts, gs.Reporter(opts))
        elapsed = time.perf_counter() - began
        assert len(files[0][1]) == megabytes << 20
    finally:
        stop([server])
    return elapsed / megabytes


def main() -> None:
    runners: list[tuple[str, Callable[[Path], list[float]]]] = [
        ("stand-in startd started", time_with_standin),
        ("real startd's slot ad in the collector", time_with_real_startd),
    ]
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        print(f"wrapper run by {PYTHON}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cpus")
        for label, runner in runners:
            times = runner(tmp)
            print(
                f"pilot start -> {label}, 20 files, loopback: median {statistics.median(times):.3f} s "
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
