"""Embedded schedd benchmark: submit rate, RSS with 1M queued jobs, autocluster query time, claim latency.

Starts a real `glidein schedd` process on a free loopback port with a fresh state dir and drives
it over its HTTP API. Targets (issue 4): >= 5,000 jobs/s submitted, <= 2 GB RSS for 1M jobs,
autocluster query <= 1 s. Usage: `python bench/schedd.py [--jobs 1000000] [--per-submit 20000]`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from glidein.common import tokens
from glidein.pool.schedd.client import ScheddClient

SUBMIT = """\
executable = /bin/true
arguments = --index $(Process) --batch {batch}
output = out/$(Cluster).$(Process).out
request_cpus = {cpus}
request_memory = {memory}MB
requirements = TARGET.GLIDEIN_Site == "{site}" && TARGET.OpSys == "LINUX"
+Project = "bench"
queue {n}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _wait_up(url: str) -> None:
    for _ in range(100):
        try:
            urllib.request.urlopen(url + "/status", timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("schedd did not start")


def _submit_all(client: ScheddClient, total: int, per_submit: int, iwd: str) -> float:
    start = time.perf_counter()
    done = batch = 0
    while done < total:
        n = min(per_submit, total - done)
        memory, site = 1024 * (1 + batch % 5), f"S{batch % 4}"
        text = SUBMIT.format(batch=batch, cpus=1 + batch % 2, memory=memory, site=site, n=n)
        client.submit(text, f"bench{batch}.sub", iwd, "bench")
        done += n
        batch += 1
    return time.perf_counter() - start


def _timed(call: object, repeat: int = 5) -> float:
    assert callable(call)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _claim_time(url: str, token: str) -> float:
    slot = [["MyType", '"Machine"'], ["Name", '"bench-slot"'], ["Cpus", "1"], ["Memory", "8192"]]
    slot += [["Disk", "100000000"], ["GPUs", "0"], ["GLIDEIN_Site", '"S0"'], ["OpSys", '"LINUX"']]
    slot += [["START", "true"], ["Requirements", "START"]]
    body = json.dumps({"name": "bench-slot", "slot": slot}).encode()

    def claim() -> None:
        request = urllib.request.Request(url + "/claim", data=body, method="POST")
        request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=30) as reply:
            assert reply.status == 200

    return _timed(claim)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--per-submit", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-schedd-") as tmp:
        state, key_file = Path(tmp) / "state", Path(tmp) / "pool.key"
        tokens.generate_key(key_file)
        port = _free_port()
        argv = [sys.executable, "-m", "glidein.cli", "schedd", "--port", str(port), "--state-dir", str(state)]
        proc = subprocess.Popen([*argv, "--pool-key", str(key_file)], stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_up(url)
            client = ScheddClient.locate(url, str(state))
            elapsed = _submit_all(client, args.jobs, args.per_submit, tmp)
            rss = _rss_mb(proc.pid)
            acs = client.autoclusters()
            ac_time = _timed(client.autoclusters)
            ac_sel = _timed(lambda: client.autoclusters("GLIDEIN_Site =?= undefined && RequestCpus == 2"))
            token = tokens.mint(tokens.load_key(key_file), "bench", ["startd"], 600, "bench")
            claim = _claim_time(url, token)
            db_mb = sum(p.stat().st_size for p in state.glob("queue.sqlite*")) / 1e6
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    print(f"schedd benchmark: {args.jobs:,} jobs in {len(acs)} autoclusters, {args.per_submit:,} per submit")
    rate = args.jobs / elapsed
    print(f"  submit rate:              {rate:12,.0f} jobs/s  (target >= 5,000)  [{elapsed:.1f} s]")
    print(
        f"  schedd RSS after submit:  {rss:12,.0f} MB      (target <= 2,048)  [queue on disk {db_mb:,.0f} MB]"
    )
    print(f"  autocluster query (all):  {ac_time * 1000:12,.1f} ms      (target <= 1,000)")
    print(f"  autocluster query (sel.): {ac_sel * 1000:12,.1f} ms")
    print(f"  claim latency (median):   {claim * 1000:12,.1f} ms")
    print(f"  cpu count: {os.cpu_count()}")


if __name__ == "__main__":
    main()
