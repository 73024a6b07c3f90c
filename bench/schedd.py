"""Embedded schedd benchmark, beside the real condor_schedd: submit rate, RSS, autocluster query, claim.

For each size (default 10,000 / 100,000 / 1,000,000 jobs) it starts a real `glidein schedd` process
on a free loopback port with a fresh state dir and submits the jobs over its HTTP API (files of
`queue 20000` at most, per-job `arguments`/`output` with `$(Process)`, 20 autoclusters), then times
the autocluster query, a selective one and a startd claim (median of 5). Up to `--condor-max` jobs
(default 100,000) the same submit files go to a real condor_schedd (a personal pool from the
HTCondor harness, `bench/anchor_kit`, fresh per size) with the htcondor2 client, one
`Schedd.submit()` per file, and both rates are printed side by side with their ratio (one run, one
size after the other on the same machine). Targets (issues 4 and 17): >= 5,000 jobs/s and ahead of
condor_schedd, <= 2 GB RSS for 1M jobs, autocluster query <= 1 s.
Usage: `python bench/schedd.py [--sizes 10000,100000,1000000] [--per-submit 20000] [--condor-max N]`.
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
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from anchor_kit.condor import client_env, start_anchor

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


def submit_text(batch: int, n: int) -> str:
    """The `batch`-th submit file: 20 autoclusters over the files, `queue n`."""
    memory, site = 1024 * (1 + batch % 5), f"S{batch % 4}"
    return SUBMIT.format(batch=batch, cpus=1 + batch % 2, memory=memory, site=site, n=n)


def _submit_all(client: ScheddClient, total: int, per_submit: int, iwd: str) -> float:
    start = time.perf_counter()
    done = batch = 0
    while done < total:
        n = min(per_submit, total - done)
        client.submit(submit_text(batch, n), f"bench{batch}.sub", iwd, "bench")
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


@dataclass
class GlideinFigures:
    rate: float
    seconds: float
    rss_mb: float
    db_mb: float
    autoclusters: int
    ac_time: float
    ac_sel: float
    claim: float


def run_glidein(jobs: int, per_submit: int) -> GlideinFigures:
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
            elapsed = _submit_all(client, jobs, per_submit, tmp)
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
    return GlideinFigures(jobs / elapsed, elapsed, rss, db_mb, len(acs), ac_time, ac_sel, claim)


def run_condor(jobs: int, per_submit: int) -> tuple[float, float, str] | None:
    """(jobs/s, condor_schedd RSS in MB, version) for the same submit files; None without HTCondor."""
    anchor = start_anchor(roles=("collector", "schedd"), secure=True)  # the schedd must know the owner
    if anchor is None:
        return None
    try:
        os.environ.update(client_env(anchor))
        import htcondor2

        htcondor2.reload_config()
        schedd = htcondor2.Schedd(htcondor2.Collector(anchor.collector).locate(htcondor2.DaemonType.Schedd))
        iwd = Path(anchor.tmp.name) / "iwd"
        iwd.mkdir()
        os.chmod(iwd, 0o777)
        start = time.perf_counter()
        done = batch = 0
        while done < jobs:
            n = min(per_submit, jobs - done)
            text = submit_text(batch, n)
            result = schedd.submit(htcondor2.Submit(f"iwd = {iwd}\n" + text))
            done += result.num_procs()
            batch += 1
        elapsed = time.perf_counter() - start
        return jobs / elapsed, _rss_mb(anchor.daemon_pid("condor_schedd")), anchor.version()
    finally:
        anchor.stop()


def report(jobs: int, per_submit: int, mine: GlideinFigures, condor: tuple[float, float, str] | None) -> None:
    print(f"\n{jobs:,} jobs in {mine.autoclusters} autoclusters, {min(per_submit, jobs):,} per submit")
    anchor = ""
    if condor is not None:
        anchor = f"  condor_schedd {condor[2]}: {condor[0]:,.0f} jobs/s, glidein {mine.rate / condor[0]:.1f}x"
    print(f"  submit rate:              {mine.rate:12,.0f} jobs/s  (target >= 5,000 and ahead){anchor}")
    rss = f"  condor_schedd RSS {condor[1]:,.0f} MB" if condor is not None else ""
    print(f"  schedd RSS after submit:  {mine.rss_mb:12,.0f} MB      (target <= 2,048){rss}")
    print(f"  queue on disk:            {mine.db_mb:12,.0f} MB")
    print(f"  autocluster query (all):  {mine.ac_time * 1000:12,.1f} ms      (target <= 1,000)")
    print(f"  autocluster query (sel.): {mine.ac_sel * 1000:12,.1f} ms")
    print(f"  claim latency (median):   {mine.claim * 1000:12,.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--per-submit", type=int, default=20_000)
    parser.add_argument(
        "--condor-max", type=int, default=100_000, help="largest size also run on condor_schedd"
    )
    args = parser.parse_args()
    print(f"schedd benchmark ({os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start)")
    for jobs in (int(text) for text in args.sizes.split(",")):
        mine = run_glidein(jobs, args.per_submit)
        condor = run_condor(jobs, args.per_submit) if jobs <= args.condor_max else None
        report(jobs, args.per_submit, mine, condor)


if __name__ == "__main__":
    main()
