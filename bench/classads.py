"""ClassAd benchmark: parse, evaluate, two-way match (+Rank) and one-way fast match rates.

Realistic ads of about 30 attributes: a user job (Requirements with stringListMember, member
and =?=, a Rank) and glidein slots / factory entries. Prints one line per figure; about 30 s.
Run: .venv/bin/python bench/classads.py
"""

import random
import time
from collections.abc import Callable

from glidein.common import classad_core
from glidein.common import classads as ca

SITES = ["CERN", "FNAL", "UCSD", "Nebraska", "Wisconsin", "Purdue", "MIT", "Caltech"]


def job_ad(i: int) -> ca.ClassAd:
    rng = random.Random(i)
    sites = ",".join(rng.sample(SITES, 3))
    return ca.parse_ad(
        f"""
        MyType = "Job"
        ClusterId = {1000 + i}
        ProcId = 0
        Owner = "user{i % 17}"
        User = "user{i % 17}@example.org"
        AcctGroup = "group_cms.prod"
        JobUniverse = 5
        JobStatus = 1
        QDate = {1700000000 + i}
        Cmd = "/home/user/run.sh"
        Args = "--seed {i} --path C:\\data\\in \\"quoted\\""
        Iwd = "/home/user/work/{i}"
        RequestCpus = {rng.choice([1, 1, 2, 4, 8])}
        RequestMemory = {rng.choice([1024, 2048, 4096, 8192])}
        RequestDisk = {rng.choice([1000000, 5000000])}
        RequestGPUs = {rng.choice([0, 0, 0, 1])}
        DESIRED_Sites = "{sites}"
        DESIRED_Archs = "X86_64"
        x509UserProxyVOName = "cms"
        MaxWallTimeMins = {rng.choice([60, 600, 1440])}
        WantGlidein = true
        NumJobStarts = 0
        ImageSize = 100000
        ExitBySignal = false
        OnExitRemove = true
        LeaveJobInQueue = false
        Environment = "A=1 B=2"
        Rank = TARGET.Memory / 1024 + (TARGET.GLIDEIN_Site =?= "FNAL")
        Requirements = TARGET.Memory >= RequestMemory && TARGET.Cpus >= RequestCpus && \
TARGET.Disk >= RequestDisk && stringListMember(TARGET.GLIDEIN_Site, DESIRED_Sites) && \
member(TARGET.Arch, {{"X86_64", "aarch64"}}) && (RequestGPUs == 0 || TARGET.GPUs >= RequestGPUs) && \
TARGET.GLIDEIN_In_Downtime =!= true && (TARGET.GLIDEIN_Supported_VOs =?= undefined || \
stringListMember(x509UserProxyVOName, TARGET.GLIDEIN_Supported_VOs)) && \
TARGET.GLIDEIN_Max_Walltime >= MaxWallTimeMins * 60
        """
    )


def slot_ad(i: int) -> ca.ClassAd:
    rng = random.Random(10_000 + i)
    site = rng.choice(SITES)
    values: dict[str, object] = {
        "MyType": "Machine",
        "Name": f"slot1@glidein_{i}@wn{i}.{site.lower()}.example.org",
        "Machine": f"wn{i}.{site.lower()}.example.org",
        "State": "Unclaimed",
        "Activity": "Idle",
        "Arch": rng.choice(["X86_64", "X86_64", "aarch64"]),
        "OpSys": "LINUX",
        "Cpus": rng.choice([1, 4, 8, 16]),
        "Memory": rng.choice([2048, 4096, 16384, 32768]),
        "Disk": rng.choice([2000000, 50000000]),
        "GPUs": rng.choice([0, 0, 1]),
        "LoadAvg": rng.random(),
        "KeyboardIdle": rng.randint(0, 10_000),
        "GLIDEIN_Site": site,
        "GLIDEIN_Entry_Name": f"{site}_ce{i % 3}",
        "GLIDEIN_Factory": "factory1",
        "GLIDEIN_Name": "gfactory_instance",
        "GLIDEIN_Schedd": "schedd_glideins1@factory.example.org",
        "GLIDEIN_CPUS": 8,
        "GLIDEIN_Max_Walltime": rng.choice([3600, 86400, 172800]),
        "GLIDEIN_In_Downtime": rng.random() < 0.1,
        "GLIDEIN_Supported_VOs": rng.choice(["cms,atlas", "atlas", "cms,lhcb,alice"]),
        "GLIDEIN_ToRetire": 1700003600 + i,
        "GLIDEIN_ToDie": 1700007200 + i,
        "StartdIpAddr": f"<10.0.{i % 250}.{i % 200}:9618>",
        "DaemonStartTime": 1700000000,
        "TotalSlots": 1,
        "SlotType": "Partitionable",
    }
    ad = ca.from_dict(values)
    ad["Requirements"] = ca.expr_value("START")
    ad["START"] = ca.expr_value('TARGET.JobUniverse == 5 && TARGET.AcctGroup =!= "banned"')
    ad["Rank"] = ca.expr_value("0")
    return ad


def rate(label: str, count: int, func: Callable[[], object], unit: str) -> float:
    """Run `func` once; print `count` per CPU second (the machine is shared: wall time lies)."""
    start = time.process_time()
    func()
    per_s = count / (time.process_time() - start)
    print(f"{label:<50} {per_s:>10,.0f} {unit}/s")
    return per_s


def library_parse_ads(text: str) -> int:
    """classad2.parseAds over one string, for comparison (what glidein never does)."""
    return sum(1 for _ in classad_core.classad2.parseAds(text))


def main() -> None:
    print("rates per CPU second, one core; ClassAd library", classad_core.classad2.version())
    jobs = [job_ad(i) for i in range(200)]
    slots = [slot_ad(i) for i in range(1000)]
    print(f"ads: job {len(jobs[0])} attributes, slot {len(slots[0])} attributes")
    n = 3000
    new_texts = [ca.to_new(slots[i % len(slots)]) for i in range(n)]
    old_texts = [ca.to_old(jobs[i % len(jobs)]) for i in range(n)]
    json_texts = [ca.to_json(slots[i % len(slots)]) for i in range(n)]
    rate("parse_ad new syntax", n, lambda: [ca.parse_ad(t) for t in new_texts], "ads")
    rate("parse_ad old syntax", n, lambda: [ca.parse_ad(t) for t in old_texts], "ads")
    rate("parse_ad JSON", n, lambda: [ca.parse_ad(t) for t in json_texts], "ads")
    rate("parse_ads 3000 new ads in one text", n, lambda: ca.parse_ads("\n".join(new_texts)), "ads")
    rate("parse_ads 3000 old ads in one text", n, lambda: ca.parse_ads("\n".join(old_texts)), "ads")
    rate("parse_ads JSON list of 3000", n, lambda: ca.parse_ads(ca.to_json_list(slots * 3)), "ads")
    for count in (500, 2000):
        big = "\n".join(new_texts[:count])
        rate(
            f"(classad2.parseAds, one string of {count} new ads)",
            count,
            lambda b=big: library_parse_ads(b),
            "ads",
        )
    rate(
        "to_new + to_old + to_json",
        n,
        lambda: [(ca.to_new(a), ca.to_old(a), ca.to_json(a)) for a in jobs * 10],
        "ads",
    )

    pairs = [(jobs[i % len(jobs)], slots[(i * 7) % len(slots)]) for i in range(50_000)]
    expr = "TARGET.Memory >= MY.RequestMemory && stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites)"
    rate(
        "evaluate(expr text, my, target)",
        len(pairs),
        lambda: [ca.evaluate(expr, j, s) for j, s in pairs],
        "evals",
    )
    rate(
        "eval_attr(job, 'Requirements', slot)",
        len(pairs),
        lambda: [ca.eval_attr(j, "Requirements", s) for j, s in pairs],
        "evals",
    )
    matched = sum(ca.symmetric_match(j, s) for j, s in pairs[:20000])
    print(f"(two-way matches in the sample: {matched / 200:.1f}%)")
    rate(
        "symmetric_match (two-way)", len(pairs), lambda: [ca.symmetric_match(j, s) for j, s in pairs], "pairs"
    )
    rate(
        "match_with_rank (two-way + Rank)",
        len(pairs),
        lambda: [ca.match_with_rank(j, s) for j, s in pairs],
        "pairs",
    )
    rate(
        "classad2 symmetricMatch (no Rank, 1 == true)",
        len(pairs),
        lambda: [j.symmetricMatch(s) for j, s in pairs],
        "pairs",
    )

    def one_way(exact: bool) -> None:
        for job in jobs:
            matches = ca.OneWayMatcher(job, exact=exact).matches
            for slot in slots:
                matches(slot)

    total = len(jobs) * len(slots)
    rate("OneWayMatcher (flattened) incl. construction", total, lambda: one_way(False), "pairs")
    rate("OneWayMatcher exact=True (not flattened)", total, lambda: one_way(True), "pairs")
    both = [ca.OneWayMatcher(j).matches_both for j in jobs[:100]]
    rate(
        "OneWayMatcher.matches_both (== two-way)",
        100 * len(slots),
        lambda: [m(s) for m in both for s in slots],
        "pairs",
    )


if __name__ == "__main__":
    main()
