"""Collector benchmark: ingest rate, query latency over 100,000 ads, memory per ad.

Starts `glidein collector` as its own process on a free loopback port, then:
- ingest: CLIENTS processes advertise ADS ads in total with the real htcondor2 client
  (UPDATE_STARTD_AD / UPDATE_AD_GENERIC, BATCH ads per connection); the clock stops when the
  collector reports all ads stored;
- selective queries (1% of the ads) with htcondor2: one the MyType index serves, one on
  GLIDEIN_Site (an attribute index built on first use), one no index can serve;
- a full dump of every ad with htcondor2;
- RSS growth of the collector process per stored ad.
Targets: ingest >= 20,000 ads/s, selective query <= 50 ms, full dump <= 2 s, <= 5 KB per ad.
Run: .venv/bin/python bench/collector.py [--ads 100000] [--clients 4]
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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SITES = 100


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


def advertise_worker(address: str, span: tuple[int, int], batch: int, cpu: Any, go: Any) -> None:
    """The real htcondor2 client, BATCH ads per connection."""
    import htcondor2

    from glidein.common import classads

    client = htcondor2.Collector(address)
    slots, factories = [], []
    for i in range(*span):
        if i % 100 == 0:  # 1% glidefactory ads, 99% slot ads
            factories.append(classads.from_dict({"MyType": "glidefactory", "Name": f"e{i}@g@f", "Index": i}))
        else:
            slots.append(classads.from_dict(slot_ad(i)))
    go.wait()  # ads are built before the clock starts
    started = time.process_time()
    for group, command in ((slots, "UPDATE_STARTD_AD"), (factories, "UPDATE_AD_GENERIC")):
        for first in range(0, len(group), batch):
            client.advertise(group[first : first + batch], command)
    with cpu.get_lock():
        cpu.value += time.process_time() - started


def raw_worker(address: str, span: tuple[int, int], go: Any) -> None:
    """Pre-encoded UPDATE_STARTD_AD messages on one connection: measures the server alone."""
    from glidein.common import classads
    from glidein.pool import cedar

    command = cedar.COMMANDS["UPDATE_STARTD_AD"]
    data = b"".join(
        cedar.frame(
            cedar.Encoder()
            .put_int(command)
            .put_ad(classads.to_old_pairs(classads.from_dict(slot_ad(i))))
            .payload()
        )
        for i in range(*span)
        if i % 100
    )
    go.wait()
    with cedar.Connection(address, timeout=120) as conn:
        conn.sock.sendall(data + cedar.frame(cedar.Encoder().put_int(cedar.DC_NOP).payload()))


def collector_stat(address: str, attr: str) -> int:
    from glidein.pool import cedar

    (own,) = cedar.query(address, "COLLECTOR", "true", [attr])
    return int(str(cedar.literal(dict(own)[attr])))


def stored(address: str) -> int:
    return collector_stat(address, "TotalAds") - 1


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ingest(address: str, target: Any, spans: list[tuple[int, int]], done: Any, extra: tuple = ()) -> float:
    """Seconds from the moment the prepared workers start sending until `done()` is true."""
    ctx = multiprocessing.get_context("fork")
    go = ctx.Barrier(len(spans) + 1)
    workers = [ctx.Process(target=target, args=(address, span, *extra, go)) for span in spans]
    for worker in workers:
        worker.start()
    go.wait()
    started = time.perf_counter()
    while not done():
        time.sleep(0.02)
    elapsed = time.perf_counter() - started
    for worker in workers:
        worker.join()
    return elapsed


def raw_dump(address: str) -> float:
    """Seconds for the whole answer of a full query to arrive, without building ClassAds."""
    from glidein.pool import cedar

    request = cedar.make_ad({"MyType": "Query", "TargetType": "Any"})
    request.append(("Requirements", "true"))
    started = time.perf_counter()
    with cedar.Connection(address, timeout=60) as conn:
        conn.start_command(cedar.COMMANDS["QUERY_ANY_ADS"])
        conn.send(cedar.Encoder().put_ad(request))
        conn.receive()
    return time.perf_counter() - started


def timed_query(address: str, ad_type: object, constraint: str, runs: int) -> tuple[float, int]:
    import htcondor2

    client = htcondor2.Collector(address)
    times, count = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        count = len(client.query(ad_type, constraint))
        times.append(time.perf_counter() - started)
    return statistics.median(times), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ads", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    port = free_port()
    address = f"127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "glidein.cli", "collector", "--port", str(port)],
        cwd=ROOT, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        run(server, address, args)
    finally:
        server.terminate()
        server.wait(10)


def run(server: subprocess.Popen[bytes], address: str, args: argparse.Namespace) -> None:
    import htcondor2

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", int(address.split(":")[1])), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    time.sleep(0.5)
    rss_before = rss_kib(server.pid)
    share = args.ads // args.clients
    spans = [(n * share, (n + 1) * share) for n in range(args.clients)]
    total = share * args.clients
    client_cpu = multiprocessing.get_context("fork").Value("d", 0.0)
    server_cpu = cpu_seconds(server.pid)
    extra = (args.batch, client_cpu)
    seconds = ingest(address, advertise_worker, spans, lambda: stored(address) >= total, extra)
    server_cpu = cpu_seconds(server.pid) - server_cpu
    rss_after = rss_kib(server.pid)
    print(f"collector bench: {total} ads, {args.clients} client processes, {args.batch} ads per connection")
    print(
        f"ingest, htcondor2 clients: {total / seconds:,.0f} ads/s ({seconds:.2f} s)   target >= 20,000/s\n"
        f"  CPU per ad: server {server_cpu / total * 1e6:.0f} us,"
        f" htcondor2 advertise {client_cpu.value / total * 1e6:.0f} us, on {os.cpu_count()} cores"
    )
    slots = sum(1 for i in range(total) if i % 100)
    updates = collector_stat(address, "UpdatesTotal") + slots
    server_cpu = cpu_seconds(server.pid)
    seconds = ingest(address, raw_worker, spans, lambda: collector_stat(address, "UpdatesTotal") >= updates)
    server_cpu = cpu_seconds(server.pid) - server_cpu
    print(
        f"ingest, pre-encoded updates (server alone): {slots / seconds:,.0f} ads/s ({seconds:.2f} s),"
        f" server CPU {server_cpu / slots * 1e6:.0f} us per ad"
    )
    indexed, n1 = timed_query(address, htcondor2.AdType.Any, 'MyType == "glidefactory"', 7)
    print(f"selective query, MyType index ({n1} ads): {indexed * 1000:.1f} ms   target <= 50 ms")
    first, _ = timed_query(address, htcondor2.AdType.Startd, 'GLIDEIN_Site == "Site7"', 1)
    indexed, n2 = timed_query(address, htcondor2.AdType.Startd, 'GLIDEIN_Site == "Site7"', 7)
    print(
        f"selective query, GLIDEIN_Site ({n2} ads): {indexed * 1000:.1f} ms   target <= 50 ms"
        f" (first query, which builds the attribute index: {first * 1000:.0f} ms)"
    )
    unindexable = 'stringListMember(GLIDEIN_Site, "Site7,Other") && Cpus >= 8'
    scanned, n4 = timed_query(address, htcondor2.AdType.Startd, unindexable, 5)
    print(f"selective query no index can serve ({n4} ads): {scanned * 1000:.1f} ms   target <= 50 ms")
    dump, n3 = timed_query(address, htcondor2.AdType.Any, "", 3)
    raw = raw_dump(address)
    print(f"full dump ({n3} ads): {dump:.2f} s with htcondor2   target <= 2 s; raw bytes only: {raw:.2f} s")
    print(
        f"memory: {(rss_after - rss_before) * 1024 / total:,.0f} bytes per ad (RSS growth)   target <= 5 KB"
    )


if __name__ == "__main__":
    main()
