"""Collector benchmark: glidein's collector and the real condor_collector side by side (issue 17).

For each size (default 10,000 / 50,000 / 100,000 ads) it starts a fresh `glidein collector` process
and a fresh condor_collector (a personal pool from the HTCondor harness, `bench/anchor_kit`,
security off on both servers) and drives both with the same htcondor2 client and ads:
- ingest: CLIENTS processes advertise the ads (99% slot ads of 25 attributes with
  UPDATE_STARTD_AD, 1% glidefactory ads with UPDATE_AD_GENERIC), BATCH ads per advertise() call,
  in ROUNDS rounds with the servers' order swapped each round, so that both see the same load;
  a round's clock stops at the start of the first count query that finds every ad stored;
- 1% queries with htcondor2: by MyType, by GLIDEIN_Site (equality), a function of GLIDEIN_Site
  (`stringListMember(...) && Cpus >= 8`, the query issue 17 says no index serves: glidein now
  evaluates it once per distinct site) and one only a full scan serves (one term mixing three
  attributes), median of 7 (5);
- a full dump with htcondor2; CPU per stored ad (the server process and its children: glidein's
  ingest helper) and RSS growth per ad of the server process.
The ratio column is glidein / condor for rates and condor / glidein for times (x > 1: glidein ahead).
Targets: ingest >= 1.5x condor_collector, selective queries >= 10x faster, a 1% query no index
serves <= 50 ms at 100,000 ads, full dump <= 2 s, <= 5 KB per ad.
1M ads is not run by default: glidein holds about 4 GB for it and the clients take minutes to
build the ads; `--sizes 1000000 --no-condor` runs it where there is memory.
`--no-ingest-helper` runs glidein's collector with updates checked in the server process (A/B).
Run: .venv/bin/python bench/collector.py [--sizes 10000,50000,100000] [--clients 2] [--batch 100]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from anchor_kit.condor import Anchor, client_env, start_anchor

ROOT = Path(__file__).resolve().parents[1]
SITES = 100
INDEXED = 'MyType == "glidefactory"'
BY_SITE = 'GLIDEIN_Site == "Site7"'
BY_VALUE = 'stringListMember(GLIDEIN_Site, "Site7,Other") && Cpus >= 8'  # issue 17's "no index serves"
SCAN = 'ifThenElse(Cpus >= 8, GLIDEIN_Site, Machine) == "Site7"'  # one term, three attributes
COUNTED = 'MyType == "Machine" || MyType == "glidefactory"'


def slot_ad(i: int) -> dict[str, object]:
    return {
        "MyType": "Machine", "Name": f"slot1@glidein_{i}@wn{i % 5000}.site{i % SITES}.example.org",
        "Machine": f"wn{i % 5000}.site{i % SITES}.example.org", "Cpus": 8, "Memory": 16384,
        "Disk": 100_000_000, "GPUs": 0, "State": "Unclaimed", "Activity": "Idle", "LoadAvg": 0.25,
        "GLIDEIN_Site": f"Site{i % SITES}", "GLIDEIN_Entry_Name": f"entry_{i % 300}",
        "GLIDEIN_Factory": "factory1", "GLIDEIN_Name": "gfactory_instance", "GLIDEIN_ToRetire": 1_800_000_000,
        "GLIDEIN_ToDie": 1_800_003_600, "OpSys": "LINUX", "Arch": "X86_64",
        "EnteredCurrentState": 1_790_000_000,
        "MyAddress": f"<10.{i % 250}.{i % 199}.{i % 97}:9618?sock=startd_{i}>", "UpdateSequenceNumber": 5,
        "ClassAdLifetime": 3600, "CurrentRank": 0.0, "TotalSlots": 1,
    }  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """CPU seconds of a process, of its children that ended (condor_collector's query workers)
    and of its live children (glidein's ingest helper)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    used = sum(int(field) for field in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return used + sum(cpu_seconds(int(child)) for child in children)


@dataclass
class Server:
    name: str
    address: str
    pid: int


def advertise_worker(address: str, span: tuple[int, int], batch: int, go: Any) -> None:
    """The real htcondor2 client, BATCH ads per advertise() call (one connection each)."""
    import htcondor2

    from glidein.common import classads

    htcondor2.reload_config()
    client = htcondor2.Collector(address)
    slots, factories = [], []
    for i in range(*span):
        if i % 100 == 0:  # 1% glidefactory ads, 99% slot ads
            factories.append(classads.from_dict({"MyType": "glidefactory", "Name": f"e{i}@g@f", "Index": i}))
        else:
            slots.append(classads.from_dict(slot_ad(i)))
    go.wait()  # ads are built before the clock starts
    for group, command in ((slots, "UPDATE_STARTD_AD"), (factories, "UPDATE_AD_GENERIC")):
        for first in range(0, len(group), batch):
            client.advertise(group[first : first + batch], command)


def count(address: str) -> int:
    import htcondor2

    return len(htcondor2.Collector(address).query(htcondor2.AdType.Any, COUNTED, ["MyType"]))


def ingest(server: Server, spans: list[tuple[int, int]], batch: int, total: int) -> tuple[float, float]:
    """Seconds from the moment the prepared clients start until a count query finds every ad, and
    the server's CPU seconds until the clients were done (the count queries left out)."""
    address = server.address
    ctx = multiprocessing.get_context("fork")
    go = ctx.Barrier(len(spans) + 1)
    workers = [ctx.Process(target=advertise_worker, args=(address, span, batch, go)) for span in spans]
    for worker in workers:
        worker.start()
    go.wait()
    started, cpu = time.perf_counter(), cpu_seconds(server.pid)
    for worker in workers:
        worker.join()
    cpu = cpu_seconds(server.pid) - cpu
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        asked = time.perf_counter()
        if count(address) >= total:
            return asked - started, cpu
        time.sleep(0.01)
    raise SystemExit(f"{address} did not store {total} ads within 120 s")


def timed_query(server: Server, ad_type: str, constraint: str, runs: int) -> tuple[float, int, float]:
    """Median seconds, ads found, and the server's CPU seconds per query."""
    import htcondor2

    client = htcondor2.Collector(server.address)
    times, found = [], 0
    cpu = cpu_seconds(server.pid)
    for _ in range(runs):
        started = time.perf_counter()
        found = len(client.query(getattr(htcondor2.AdType, ad_type), constraint))
        times.append(time.perf_counter() - started)
    return statistics.median(times), found, (cpu_seconds(server.pid) - cpu) / runs


def fill(servers: list[Server], size: int, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Ingest `size` ads into every server in ROUNDS rounds, the servers' order swapped each round
    (so a change in the machine's load falls on both); ingest rate and CPU over all rounds."""
    per = size // args.rounds // args.clients * args.clients
    seconds = {server.name: 0.0 for server in servers}
    cpu = dict(seconds)
    rss = {server.name: rss_kib(server.pid) for server in servers}
    for n in range(args.rounds):
        share = per // args.clients
        spans = [(n * per + k * share, n * per + (k + 1) * share) for k in range(args.clients)]
        for server in servers if n % 2 == 0 else servers[::-1]:
            took, used = ingest(server, spans, args.batch, (n + 1) * per)
            seconds[server.name] += took
            cpu[server.name] += used
    total = per * args.rounds
    return {
        server.name: {
            "ingest": total / seconds[server.name],
            "cpu_us": cpu[server.name] / total * 1e6,
            "bytes_per_ad": (rss_kib(server.pid) - rss[server.name]) * 1024 / total,
        }
        for server in servers
    }


QUERIES = (  # figure, ad type, constraint, runs
    ("by_type", "Any", INDEXED, 7),
    ("site_first", "Startd", BY_SITE, 1),
    ("by_site", "Startd", BY_SITE, 7),
    ("by_value", "Startd", BY_VALUE, 5),
    ("scan", "Startd", SCAN, 5),
    ("dump", "Any", "", 3),
)


def measure(servers: list[Server], size: int, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Every figure of every server holding `size` ads (they start empty)."""
    figures = fill(servers, size, args)
    for key, ad_type, constraint, runs in QUERIES:
        for server in servers:
            took, found, cpu = timed_query(server, ad_type, constraint, runs)
            figures[server.name][key], figures[server.name]["n_" + key] = took, found
            figures[server.name]["cpu_" + key] = cpu
    return figures


def start_glidein(extra: list[str]) -> tuple[subprocess.Popen[bytes], Server]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "glidein.cli", "collector", "--port", str(port), *extra],
        cwd=ROOT, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    time.sleep(0.3)
    return proc, Server("glidein", f"127.0.0.1:{port}", proc.pid)


def run_size(size: int, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Fresh servers, the same workload on each in turn."""
    anchor: Anchor | None = None if args.no_condor else start_anchor()
    os.environ.update(client_env(anchor))  # the same client config against both servers
    import htcondor2

    htcondor2.reload_config()
    proc, glidein = start_glidein(["--no-ingest-helper"] if args.no_ingest_helper else [])
    try:
        servers = [glidein]
        if anchor is not None:
            pid = anchor.daemon_pid("condor_collector")
            servers.append(Server(f"condor {anchor.version()}", anchor.collector, pid))
        results = measure(servers, size, args)
    finally:
        proc.terminate()
        try:
            proc.wait(120)  # freeing a million ads takes a while
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if anchor is not None:
            anchor.stop()
    return results


ROWS = (  # key, label, unit, higher is better, target
    ("ingest", "ingest", "ads/s", True, ">= 1.5x condor"),
    ("cpu_us", "server CPU per stored ad", "us", False, ""),
    ("by_type", "1% query, MyType index", "ms", False, ">= 10x faster"),
    ("by_site", "1% query, GLIDEIN_Site index", "ms", False, ">= 10x faster"),
    ("cpu_by_site", "  its server CPU per query", "ms", False, "(the rest: the client)"),
    ("by_value", "1% stringListMember(GLIDEIN_Site)", "ms", False, "<= 50 ms at 100,000"),
    ("scan", "1% query only a scan serves", "ms", False, "<= 50 ms at 100,000"),
    ("dump", "full dump (htcondor2 client)", "s", False, "<= 2 s"),
    ("bytes_per_ad", "RSS growth per ad", "bytes", False, "<= 5 KB"),
)


def report(size: int, results: dict[str, dict[str, float]], args: argparse.Namespace) -> None:
    names = list(results)
    print(f"\n{size:,} ads, {args.clients} client processes, {args.batch} ads per advertise() call")
    print(f"  {'figure':32s}" + "".join(f"{name:>22s}" for name in names) + f"{'ratio':>8s}   target")
    for key, label, unit, higher, target in ROWS:
        values = [results[name][key] for name in names]
        scale = 1000 if unit == "ms" else 1
        cells = "".join(f"{v * scale:>16,.1f} {unit:5s}" for v in values)
        ratio = ""
        if len(values) == 2 and min(values) > 0:
            ratio = f"{(values[0] / values[1] if higher else values[1] / values[0]):7.1f}x"
        print(f"  {label:32s}{cells}{ratio:>8s}   {target}")
    first = results[names[0]]
    answers = " / ".join(
        f"{first['n_' + key]:.0f}" for key in ("by_type", "by_site", "by_value", "scan", "dump")
    )
    print(
        f"  (ads answered: {answers}; glidein's first GLIDEIN_Site query, which builds the index:"
        f" {first['site_first'] * 1000:.0f} ms; load average {os.getloadavg()[0]:.1f} at the end)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,50000,100000")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=4, help="ingest rounds, servers alternating")
    parser.add_argument("--no-condor", action="store_true", help="glidein's collector alone")
    parser.add_argument("--no-ingest-helper", action="store_true", help="glidein checks updates in-process")
    args = parser.parse_args()
    print(f"collector bench (load average {os.getloadavg()[0]:.1f} at the start)")
    for size in (int(text) for text in args.sizes.split(",")):
        results = run_size(size, args)
        report(size, results, args)


if __name__ == "__main__":
    main()
