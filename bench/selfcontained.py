"""Self-contained pilots: what packing costs the factory and what a pilot costs to start from a pack.

Stages the default file set (embedded startd), then prints: the packed pilot's size, the time to
pack it (once per stage; cached after), the pilot's time from start to its first exec script
(payload hash, unpack, the wrapper's verification from file://) against the same stage downloaded
over HTTP from `glidein factory web`, and the factory's time to unpack the largest output block a
pilot writes (256 KiB of log lines). About 10 s.
Run: .venv/bin/python bench/selfcontained.py
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from glidein.factory import selfcontained, staging
from glidein.pilot_wrapper import unpack

PROBE = "import os, sys, time\nprint('first exec at', time.time())\nsys.exit(9)\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def first_exec(argv: list[str], cwd: Path) -> float:
    """Seconds from start to the probe script (it exits 9 to stop the pilot there)."""
    start = time.time()
    out = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    stamp = [line for line in out.stdout.splitlines() + out.stderr.splitlines() if "first exec at" in line]
    if not stamp:
        raise SystemExit(f"the pilot did not reach its first script:\n{out.stderr[-2000:]}")
    return float(stamp[0].rsplit(" ", 1)[1]) - start


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-selfcontained-"))
    probe = root / "probe.py"
    probe.write_text(PROBE)
    port = free_port()
    spec = staging.StagingSpec(root / "stage", f"http://127.0.0.1:{port}", entries={"e1": []})
    spec.main = [staging.StageFile(probe, "exec", order=1)]
    result = staging.stage(spec)
    started = time.perf_counter()
    pilot = selfcontained.pack(root / "stage", root / "packed")
    pack_s = time.perf_counter() - started
    print(f"packed pilot: {pilot.path.stat().st_size / 1024:.0f} KiB, packed in {pack_s * 1000:.0f} ms")
    base = ["-factory", "f", "-name", "g", "-entry", "e1", *result.pilot_args("e1"), "-pilot_id", "b1"]
    base += ["-hold_time", "0", "-retries", "0"]
    (root / "run").mkdir()
    packed_s = first_exec([sys.executable, str(pilot.path), *base, *pilot.args()], root / "run")
    web_argv = [sys.executable, "-m", "glidein.cli", "factory", "web", "--port", str(port)]
    web_argv += ["--stage-dir", str(root / "stage"), "--state-dir", str(root / "state")]
    web = subprocess.Popen(web_argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        http_s = first_exec([sys.executable, str(staging.WRAPPER_PATH), *base], root / "run")
    finally:
        web.terminate()
        web.wait(10)
    print(f"start to first script: packed {packed_s:.2f} s, downloaded over HTTP {http_s:.2f} s")
    words = ["placing", "running", "RESULT", "check_disk.py", "level main", "OK", "slot1", "job"]
    stamp = "2026-12-07T06:{:02d}:{:02d} {} {}\n"
    lines = (stamp.format(i // 60 % 60, i % 60, random.choice(words), i) for i in range(20000))
    log_text = "".join(lines)[-unpack.MAX_LOG_BACK :]
    block = unpack.output_block({"pilot_id": "b1", "status": "success"}, log_text).encode()
    output = os.urandom(1024).hex().encode() * 100 + block
    started = time.perf_counter()
    for _ in range(20):
        selfcontained.read_block(output)
    each_ms = (time.perf_counter() - started) / 20 * 1000
    print(f"output block: {len(block) / 1024:.0f} KiB for 256 KiB of log lines, unpacked in {each_ms:.1f} ms")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
