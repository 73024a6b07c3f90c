"""Frontend benchmark: the daemon's own cycle (`Frontend.cycle`) for one group, at global-pool scale.

A real `glidein.frontend.daemon.Frontend` runs `--cycles` cycles (default 2): its schedd is a
loopback HTTP server answering GET /autoclusters with the JSON of N autoclusters, its collectors
are in memory (the entry ads and slot ads they answer with are built once; projections honoured;
advertised ads counted, not sent). Each cycle: signed glidefactory ads verified, the autoclusters
fetched and parsed, matching, slot counting (usable idle), pressure and removal per entry, one
signed glideclient ad with a sealed token and one glideresource ad per entry, the glideclientglobal
ad, and the monitoring row (RRD files, snapshot). The first cycle parses, verifies and seals
everything; later cycles reuse what did not change (jobs.AdCache, EntryVerifier, SealCache,
match_memo). Prints each step's seconds per cycle, the peak RSS and the evaluation rates.
Targets (issue 17): 10M idle jobs in 50,000 autoclusters x 5,000 entries: a cycle <= 10 s and
<= 1 GB; 1M x 1,000 with stringListIMember <= 1.5 s.

Scenarios (--scenario): `typical` DESIRED_Sites drawn from 500 distinct site lists (autoclusters
differ in other attributes too); `distinct` every autocluster has its own site list; `imember`
like distinct with `stringListIMember` (answered by the site index since issue 17); `generic`
like distinct with `stringListMember(site, list, ",")`, which no index answers: every job class is
evaluated against every distinct site value, the general path. Sizes (--size small|medium|large|
curve): 100k jobs / 500 autoclusters / 1,000 entries; 1M / 5,000 / 1,000; 10M / 50,000 / 5,000;
slots: 10 per entry.
Run: .venv/bin/python bench/frontend.py [--scenario NAME|all] [--size NAME|curve] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import logging
import os
import pstats
import random
import resource
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar, cast

from glidein.common import classads, crypto, tokens
from glidein.common.bus import Bus
from glidein.common.classads import ClassAd
from glidein.common.config.frontend import FrontendConfig
from glidein.frontend import cycle as cycle_module
from glidein.frontend import daemon, jobs
from glidein.frontend.cycle import GroupOutcome
from glidein.frontend.daemon import Frontend

T = TypeVar("T")

SITES = [f"T2_Site{i:03d}" for i in range(300)]
MEMORY = "TARGET.GLIDEIN_MaxMemMBs >= RequestMemory"
INDEXED = f"stringListMember(TARGET.GLIDEIN_Site, DESIRED_Sites) && {MEMORY}"
EXPRS = {
    "typical": INDEXED,
    "distinct": INDEXED,
    "imember": f"stringListIMember(TARGET.GLIDEIN_Site, DESIRED_Sites) && {MEMORY}",
    # the same lists with an explicit delimiter: no index answers it, every pair is evaluated
    "generic": f'stringListMember(TARGET.GLIDEIN_Site, DESIRED_Sites, ",") && {MEMORY}',
}


class FactoryKeys:
    def __init__(self) -> None:
        self.signing, self.box = crypto.generate_signing_key(), crypto.generate_box_key()


def entry_ad(keys: FactoryKeys, entry: str, site: str, cpus: int, memory: int) -> classads.ClassAd:
    ad = classads.from_dict(
        {
            "MyType": "glidefactory",
            "Name": f"{entry}@gl@fac",
            "FactoryName": "fac",
            "GlideinName": "gl",
            "EntryName": entry,
            "GLIDEIN_Site": site,
            "GLIDEIN_CPUS": cpus,
            "GLIDEIN_MaxMemMBs": memory,
            "GLIDEIN_In_Downtime": False,
            "PubKeyType": "X25519",
            "PubKeyID": crypto.key_id(keys.box.public_key()),
            "PubKeyValue": crypto.public_key_b64(keys.box.public_key()),
            "FactorySigningKey": crypto.public_key_b64(keys.signing),
            "ClassAdLifetime": 300,
        }
    )
    crypto.sign_ad(ad, keys.signing)
    return ad


def frontend_config(tmp: Path, keys: FactoryKeys, match_expr: str, schedd_url: str) -> FrontendConfig:
    crypto.save_private_key(crypto.generate_signing_key(), tmp / "frontend.key")
    tokens.generate_key(tmp / "pool.key")
    return FrontendConfig.model_validate(
        {
            "name": "fe",
            "collectors": {"wms": ["127.0.0.1:9618"], "user_pool": ["127.0.0.1:9619"]},
            "state_dir": str(tmp / "state"),
            "schedds": [{"name": "schedd", "url": schedd_url}],
            "security": {
                "signing_key": str(tmp / "frontend.key"),
                "identity": "fe@bench",
                "trusted_factories": [{"name": "fac", "signing_key": crypto.public_key_b64(keys.signing)}],
            },
            "credentials": [{"name": "pilot", "pool_key": str(tmp / "pool.key")}],
            "limits": {"idle_vms_total": {"max": 20000, "curb": 10000}},
            "groups": [
                {
                    "name": "main",
                    "match_expr": match_expr,
                    "limits": {"idle_vms_total": {"max": 20000, "curb": 10000}},
                }
            ],
        }
    )


def autocluster_json(n_clusters: int, n_jobs: int, site_lists: int, rng: random.Random) -> str:
    """What GET /autoclusters returns, for `n_jobs` idle jobs."""
    lists = [",".join(rng.sample(SITES, rng.randint(1, 5))) for _ in range(site_lists)]
    items = []
    for i in range(n_clusters):
        ad = classads.from_dict(
            {
                "MyType": "Job",
                "Owner": f"user{i % 97}",
                "AccountingGroup": f"group_cms.user{i % 97}",
                "Cmd": f"/home/user{i % 97}/job{i % 13}.sh",
                "JobUniverse": 5,
                "RequestCpus": rng.choice([1, 1, 1, 2, 4, 8]),
                "RequestMemory": rng.choice([1000, 2000, 2500, 4000, 8000]),
                "RequestDisk": rng.choice([1000000, 5000000]),
                "DESIRED_Sites": lists[i % site_lists],
                "MaxWallTimeMins": rng.choice([60, 720, 1440]),
            }
        )
        ad["Requirements"] = classads.parse_expr(
            'TARGET.Arch == "X86_64" && TARGET.OpSys == "LINUX" && TARGET.Memory >= RequestMemory '
            "&& TARGET.Disk >= RequestDisk"
        )
        items.append(
            {"id": i, "idle": n_jobs // n_clusters, "running": 0, "ad": json.loads(classads.to_json(ad))}
        )
    return json.dumps(items)


def entry_ads(keys: FactoryKeys, n: int, rng: random.Random) -> list[classads.ClassAd]:
    return [
        entry_ad(
            keys,
            f"CE{i:04d}",
            SITES[i % len(SITES)],
            rng.choice([1, 4, 8]),
            rng.choice([2000, 4000, 16000]),
        )
        for i in range(n)
    ]


def slot_ads(n: int, n_entries: int, rng: random.Random) -> list[classads.ClassAd]:
    out = []
    for i in range(n):
        state = rng.choice(["Unclaimed", "Claimed", "Claimed", "Claimed"])
        values: dict[str, object] = {
            "MyType": "Machine",
            "Name": f"slot{i}@wn{i}",
            "State": state,
            "Activity": "Idle" if state == "Unclaimed" else "Busy",
            "Cpus": rng.choice([0, 1, 4]),
            "Memory": rng.choice([500, 2000, 8000]),
            "GLIDEIN_Entry_Name": f"CE{rng.randrange(n_entries):04d}",
            "GLIDEIN_Name": "gl",
            "GLIDEIN_Factory": "fac",
            "GLIDEIN_Client": "fe.main",
            "GLIDEIN_ToRetire": 4e9,
            "GLIDEIN_ToDie": 4e9,
        }
        out.append(classads.from_dict(values))
    return out


class MemoryBus:
    """The collectors the frontend reads and writes, in memory (the bench times the cycle, not the
    network): the entry and slot ads it answers with, the ads advertised to it counted."""

    def __init__(self, ads: dict[str, list[classads.ClassAd]]) -> None:
        self.ads, self.advertised = ads, 0
        self.projected: dict[tuple[str, tuple[str, ...]], list[ClassAd]] = {}

    def query(
        self, my_type: str | None, constraint: str = "true", projection: Sequence[str] = ()
    ) -> list[ClassAd]:
        """The ads of `my_type`; with a projection, only those attributes (as a collector answers),
        projected once and kept (the bench leaves the wire out)."""
        ads = self.ads.get(my_type or "", [])
        if not projection:
            return list(ads)
        key = (my_type or "", tuple(projection))
        if key not in self.projected:
            self.projected[key] = [
                classads.from_dict({n: ad.lookup(n) for n in projection if n in ad}) for ad in ads
            ]
        return list(self.projected[key])

    def advertise(self, ads: Sequence[ClassAd]) -> None:
        self.advertised += len(ads)

    def invalidate(self, my_type: str, constraint: str = "true") -> None:
        pass


def serve(payload: bytes) -> ThreadingHTTPServer:
    """A loopback HTTP server answering GET /autoclusters with `payload` (the embedded schedd's API)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class Steps:
    """Seconds spent in named functions of the frontend (wrapped in place) during one cycle."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}

    def wrap(self, name: str, func: Callable[..., T]) -> Callable[..., T]:
        def timed(*args: object, **kwargs: object) -> T:
            started = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                self.times[name] = self.times.get(name, 0.0) + time.perf_counter() - started

        return timed


def run(
    scenario: str, n_jobs: int, n_clusters: int, n_entries: int, cycles: int, profile: bool = False
) -> None:
    rng = random.Random(7)
    tmp = Path(tempfile.mkdtemp(prefix="bench-frontend-"))
    keys = FactoryKeys()
    payload = autocluster_json(n_clusters, n_jobs, 500 if scenario == "typical" else n_clusters, rng)
    server = serve(payload.encode())
    config = frontend_config(tmp, keys, EXPRS[scenario], f"http://127.0.0.1:{server.server_address[1]}")
    factory_ads, slots = entry_ads(keys, n_entries, rng), slot_ads(10 * n_entries, n_entries, rng)
    wms, pool = MemoryBus({"glidefactory": factory_ads}), MemoryBus({"Machine": slots})
    fe = Frontend(config, wms=cast(Bus, wms), pool=cast(Bus, pool))
    if fe.monitor is not None:
        fe.monitor.pool = pool
    steps = Steps()
    collect, decide_group = jobs.collect, cycle_module.decide_group
    jobs.collect = steps.wrap("schedd query + parse", collect)  # type: ignore[assignment]
    daemon.decide_group = steps.wrap("match + slots + pressure", decide_group)  # type: ignore[attr-defined]
    fe.snapshot = steps.wrap("verify entry ads", fe.snapshot)  # type: ignore[method-assign]
    fe.publish = steps.wrap("build, seal, sign ads", fe.publish)  # type: ignore[method-assign]
    if fe.monitor is not None:
        fe.monitor.record = steps.wrap("monitoring (RRD, pages)", fe.monitor.record)  # type: ignore[method-assign]
    logging.getLogger("glidein").setLevel(logging.WARNING)
    try:
        for number in range(1, cycles + 1):
            steps.times.clear()
            checked, parsed = fe.verifier.checked, fe.job_ads.parsed
            profiler = cProfile.Profile() if profile and number == cycles else None
            started = time.perf_counter()
            outcomes = fe.cycle() if profiler is None else profiler.runcall(fe.cycle)
            total = time.perf_counter() - started
            if profiler is not None:
                stats = pstats.Stats(profiler)
                stats.sort_stats("tottime").print_stats(25)
                stats.sort_stats("cumulative").print_stats(40)
            report(scenario, number, outcomes, steps.times, total)
            print(
                f"    entry signatures checked {fe.verifier.checked - checked:,}, "
                f"autocluster ads parsed {fe.job_ads.parsed - parsed:,}, ads advertised "
                f"{wms.advertised + pool.advertised:,}"
            )
    finally:
        jobs.collect, daemon.decide_group = collect, decide_group  # type: ignore[attr-defined]
        server.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)


def target(scenario: str, jobs: int, entries: int) -> str:
    """The issue 17 target that applies to this run, if any."""
    if jobs >= 10_000_000 and entries >= 5_000:
        return "  (target: <= 10 s, <= 1 GB)"
    if scenario in ("imember", "generic") and jobs >= 1_000_000 and entries == 1_000:
        return "  (target: <= 1.5 s)"
    return ""


def report(
    scenario: str, number: int, outcomes: list[GroupOutcome], times: dict[str, float], total: float
) -> None:
    outcome = outcomes[0]
    m = outcome.match
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    entries = len(outcome.decisions)
    if number == 1:
        print(
            f"scenario {scenario}: {m.idle:,} idle jobs, {m.job_classes:,} job classes, {entries:,} entries "
            f"(load average {os.getloadavg()[0]:.1f})"
        )
    print(f"  cycle {number}: {total:7.2f} s, peak RSS {rss_mb:,.0f} MB{target(scenario, m.idle, entries)}")
    for name, seconds in times.items():
        print(f"    {name:28s} {seconds:7.2f} s")
    seconds = times.get("match + slots + pressure", 0.0) or 1e-9
    pairs = m.job_classes * entries
    print(
        f"    expression evaluations {m.evaluations:,} ({m.evaluations / seconds:,.0f}/s); job class x entry "
        f"pairs decided {pairs:,} ({pairs / seconds:,.0f}/s)"
    )
    requested = sum(d.pressure.min_idle for d in outcome.decisions)
    print(f"    requests: ReqIdleGlideins total {requested:,}, {m.unmatched:,} jobs match no entry")


def raw_rate() -> None:
    """One-way evaluations per second of one flattened expression against entry ads (no caching)."""
    ad = classads.from_dict({"DESIRED_Sites": "T2_Site001,T2_Site002,T2_Site003", "RequestMemory": 2000})
    entries = [classads.from_dict({"GLIDEIN_Site": s, "GLIDEIN_MaxMemMBs": 4000}) for s in SITES]
    matcher = classads.OneWayMatcher(EXPRS["generic"], my=ad)
    tree = classads.parse_expr(matcher.flattened.replace("TARGET.", "MY."))
    started, n = time.perf_counter(), 0
    while time.perf_counter() - started < 2:
        for entry in entries:
            tree.eval(entry)
        n += len(entries)
    print(f"raw one-way evaluation (entry as the only ad): {n / (time.perf_counter() - started):,.0f}/s")


SIZES = {  # jobs, autoclusters, entries: the growth curve (--curve)
    "small": (100_000, 500, 1_000),
    "medium": (1_000_000, 5_000, 1_000),
    "large": (10_000_000, 50_000, 5_000),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="all", choices=[*EXPRS, "all"])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--autoclusters", type=int, default=5_000)
    parser.add_argument("--entries", type=int, default=1_000)
    parser.add_argument("--cycles", type=int, default=2, help="cycles of one frontend (the first parses all)")
    parser.add_argument("--size", choices=[*SIZES, "curve"], help="a named size, or all three in turn")
    parser.add_argument("--profile", action="store_true", help="cProfile the last cycle (top 25 by own time)")
    args = parser.parse_args()
    scenarios = list(EXPRS) if args.scenario == "all" else [args.scenario]
    sizes = [SIZES[args.size]] if args.size in SIZES else list(SIZES.values()) if args.size else []
    plan = [(s, size) for s in scenarios for size in sizes or [(args.jobs, args.autoclusters, args.entries)]]
    if (
        not sizes
        and "typical" in scenarios
        and (args.jobs, args.autoclusters, args.entries) == SIZES["medium"]
    ):
        plan.append(("typical", SIZES["large"]))  # the default run (make bench) shows the large target too
    for scenario, (n_jobs, n_clusters, n_entries) in plan:
        run(scenario, n_jobs, n_clusters, n_entries, args.cycles, args.profile)
    raw_rate()


if __name__ == "__main__":
    main()
