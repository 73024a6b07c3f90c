"""Frontend benchmark: one group's cycle over 1,000,000 idle jobs in 5,000 autoclusters x 1,000 entries.

Times each step of a cycle as the daemon runs it, without the network: the schedd's autocluster
JSON parsed into job clusters, 1,000 signed glidefactory ads verified, matching, 10,000 slot ads
counted (usable idle), pressure and removal per entry, and 1,000 signed glideclient ads with a
sealed token plus 1,000 glideresource ads built. Prints the cycle time, the peak RSS and the
evaluation rates. Targets: <= 5 s per cycle, <= 2 GB.

Scenarios (--scenario): `typical` DESIRED_Sites drawn from 500 distinct site lists (autoclusters
differ in other attributes too); `distinct` every autocluster has its own site list; `generic`
like distinct, with a match expression the site index does not answer (`stringListIMember`), so
every job class is evaluated against every distinct site value: the general path.
Run: .venv/bin/python bench/frontend.py [--scenario typical|distinct|generic|all]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import tempfile
import time
from pathlib import Path

from glidein.common import classads, crypto, tokens
from glidein.common.config.frontend import FrontendConfig
from glidein.frontend import jobs
from glidein.frontend.credentials import TokenMinter
from glidein.frontend.cycle import decide_group
from glidein.frontend.pressure import RemovalHistory
from glidein.frontend.requests import Request, ResourceAd, request_ad, resource_ad, verify_entries

SITES = [f"T2_Site{i:03d}" for i in range(300)]
MEMORY = "TARGET.GLIDEIN_MaxMemMBs >= RequestMemory"
EXPRS = {
    "index": f"stringListMember(TARGET.GLIDEIN_Site, DESIRED_Sites) && {MEMORY}",
    "generic": f"stringListIMember(TARGET.GLIDEIN_Site, DESIRED_Sites) && {MEMORY}",
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


def frontend_config(tmp: Path, keys: FactoryKeys, match_expr: str) -> FrontendConfig:
    crypto.save_private_key(crypto.generate_signing_key(), tmp / "frontend.key")
    tokens.generate_key(tmp / "pool.key")
    return FrontendConfig.model_validate(
        {
            "name": "fe",
            "collectors": {"wms": ["127.0.0.1:9618"], "user_pool": ["127.0.0.1:9619"]},
            "state_dir": str(tmp / "state"),
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


def run(scenario: str, n_jobs: int, n_clusters: int, n_entries: int) -> None:
    rng = random.Random(7)
    tmp = Path(tempfile.mkdtemp(prefix="bench-frontend-"))
    keys = FactoryKeys()
    config = frontend_config(tmp, keys, EXPRS["generic" if scenario == "generic" else "index"])
    group = config.groups[0]
    payload = autocluster_json(n_clusters, n_jobs, 500 if scenario == "typical" else n_clusters, rng)
    factory_ads, slots = entry_ads(keys, n_entries, rng), slot_ads(10_000, n_entries, rng)
    trusted = {"fac": crypto.public_key_b64(keys.signing)}
    signing = crypto.load_signing_key(tmp / "frontend.key")
    minter = TokenMinter("127.0.0.1:9619")
    times: dict[str, float] = {}

    def step(name: str, started: float) -> float:
        now = time.perf_counter()
        times[name] = now - started
        return now

    t0 = t = time.perf_counter()
    clusters = [jobs._cluster_from_item(item, "schedd") for item in json.loads(payload)]
    t = step("parse autoclusters", t)
    entries = verify_entries(factory_ads, trusted)
    t = step("verify entry ads", t)
    history: dict[str, RemovalHistory] = {}
    outcome = decide_group(
        config, group, clusters=clusters, entries=entries, slot_ads=slots, history=history, now=time.time()
    )
    t = step("match + slots + pressure", t)
    ads = []
    for d in outcome.decisions:
        token = minter.token(config.credentials[0], "fe.main", d.entry.name)
        req = Request(
            d.entry,
            "fe",
            "main",
            "frontend",
            d.pressure.min_idle,
            d.pressure.max_run,
            d.removal.level,
            secrets={"GLIDEIN_Token": token},
        )
        ads.append(request_ad(req, signing, 1, 600))
        ads.append(resource_ad(ResourceAd(d.entry, "fe", "main", d.resource_info(), {})))
    t = step("build, seal, sign ads", t)
    total = t - t0
    m = outcome.match
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    pairs = m.job_classes * len(entries)
    print(
        f"scenario {scenario}: {m.idle:,} idle jobs, {len(clusters):,} autoclusters -> {m.job_classes:,} job "
        f"classes, {len(entries):,} entries, {len(slots):,} slots"
    )
    for name, seconds in times.items():
        print(f"  {name:28s} {seconds:7.2f} s")
    print(f"  cycle total                  {total:7.2f} s   (target <= 5 s)")
    print(f"  peak RSS                     {rss_mb:7.0f} MB  (target <= 2048 MB)")
    seconds = times["match + slots + pressure"]
    print(
        f"  expression evaluations       {m.evaluations:,} ({m.evaluations / seconds:,.0f}/s); "
        f"job class x entry pairs decided {pairs:,} ({pairs / seconds:,.0f}/s)"
    )
    requested = sum(d.pressure.min_idle for d in outcome.decisions)
    print(
        f"  requests: {len(outcome.decisions)} entries, ReqIdleGlideins total {requested:,}, "
        f"{m.unmatched:,} jobs match no entry"
    )


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="all", choices=["typical", "distinct", "generic", "all"])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--autoclusters", type=int, default=5_000)
    parser.add_argument("--entries", type=int, default=1_000)
    args = parser.parse_args()
    scenarios = ["typical", "distinct", "generic"] if args.scenario == "all" else [args.scenario]
    for scenario in scenarios:
        run(scenario, args.jobs, args.autoclusters, args.entries)
    raw_rate()


if __name__ == "__main__":
    main()
