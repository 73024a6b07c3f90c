"""`glidein status` against the real `condor_status` (HTCondor 25.13.2), flag by flag.

Two collectors hold the same ads: a real condor_collector (with a real schedd, so that `-direct`
reaches a daemon) and `glidein collector`. The ads (slots, schedds, glidefactory, glideclient) go
to both with the real `condor_advertise`. Then, for every flag both programs have, the two
programs are run against the same collector and their standard output must be byte-identical.

Tolerated differences, each handled here and nowhere else:
- The real daemons (master, collector, schedd) re-advertise every few seconds (LastHeardFrom,
  counters, uptime). A case that shows them runs condor_status before and after glidein status
  and accepts either output; a case is retried until one run sees no update in between.
- `-startd` is a slot query in glidein (its pilots' slots): condor_status 25 asks for the startd
  daemon ads with it, so glidein's `-startd` is compared with condor_status's `-slots`.
- A failed `-direct` exits with 1 in condor_status, 2 in glidein (every glidein error is 2),
  and its messages on stderr are its own (a test checks that both warn, or neither).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from glidein.pool.condor.config import PoolSpec
from glidein.pool.condor.personal import CondorPool
from glidein.pool.condor.release import Release
from tests.procs import GLIDEIN, Processes, free_port, wait_for, wait_for_port

NOW = 1_700_003_725
SLOTS = [
    # name, machine, opsys, arch, state, activity, load, memory, cpus, seconds in activity, site
    ("slot1@wn1.example.org", "wn1.example.org", "LINUX", "X86_64", "Claimed", "Busy", 0.95, 2048, 2, 3725,
     "SiteA"),
    ("slot2@wn1.example.org", "wn1.example.org", "LINUX", "X86_64", "Unclaimed", "Idle", 0.0, 1024, 1, 3625,
     "SiteB"),
    ("slot10@wn1.example.org", "wn1.example.org", "LINUX", "X86_64", "Owner", "Idle", 0.5, 512, 1, 200,
     "SiteB"),
    ("slot1@wn2.example.org", "wn2.example.org", "WINDOWS", "INTEL", "Owner", "Idle", 1.5, 512, 4, 103725,
     "SiteA"),
    ("slot1@a-very-long-worker-node-name.example.org", "a-very-long-worker-node-name.example.org",
     "LINUXLINUXLINUX", "X86_64_EXTRA", "Matched", "Retiring", 12345.678, 123456789, 8, 5, "SiteC"),
]  # fmt: skip


def _slot_ad(number: int, slot: tuple[object, ...]) -> str:
    name, machine, opsys, arch, state, activity, load, memory, cpus, entered, site = slot
    return (
        f'MyType = "Machine"\nTargetType = "Job"\nName = "{name}"\nMachine = "{machine}"\n'
        f'MyAddress = "<127.0.0.1:{9000 + number}?addrs=127.0.0.1-{9000 + number}>"\n'
        f'OpSys = "{opsys}"\nArch = "{arch}"\nState = "{state}"\nActivity = "{activity}"\n'
        f"CondorLoadAvg = {load}\nLoadAvg = {load}\nMemory = {memory}\nCpus = {cpus}\n"
        f"EnteredCurrentActivity = {NOW - int(str(entered))}\nMyCurrentTime = {NOW}\n"
        f'GLIDEIN_Site = "{site}"\nClassAdLifetime = 3600\n'
    )


# partitionable slots with dynamic children (-compact rolls them up) and a machine with two slot types
PARTITIONABLE = """\
MyType = "Machine"
TargetType = "Job"
Name = "slot1@wn3.example.org"
Machine = "wn3.example.org"
MyAddress = "<127.0.0.1:9980?addrs=127.0.0.1-9980>"
OpSys = "LINUX"
OpSysAndVer = "AlmaLinux9"
Arch = "X86_64"
State = "Unclaimed"
Activity = "Idle"
SlotType = "Partitionable"
PartitionableSlot = true
SlotTypeId = 1
Cpus = 2
Memory = 2048
TotalSlotCpus = 8
TotalSlotMemory = 16384
NumDynamicSlots = 2
ChildState = { "Claimed", "Claimed" }
ChildMemory = { 4096, 8192 }
TotalLoadAvg = 3.5
TotalCpus = 8
RecentJobStarts = 4
CondorLoadAvg = 0.1
EnteredCurrentActivity = 1700000000
MyCurrentTime = 1700003725
ClassAdLifetime = 3600

MyType = "Machine"
TargetType = "Job"
Name = "slot1_1@wn3.example.org"
Machine = "wn3.example.org"
MyAddress = "<127.0.0.1:9980?addrs=127.0.0.1-9980>"
OpSys = "LINUX"
OpSysAndVer = "AlmaLinux9"
Arch = "X86_64"
State = "Claimed"
Activity = "Busy"
SlotType = "Dynamic"
DynamicSlot = true
SlotTypeId = -1
Cpus = 4
Memory = 4096
CondorLoadAvg = 0.9
EnteredCurrentActivity = 1700000000
MyCurrentTime = 1700003725
ClassAdLifetime = 3600

MyType = "Machine"
TargetType = "Job"
Name = "slot1_2@wn3.example.org"
Machine = "wn3.example.org"
MyAddress = "<127.0.0.1:9980?addrs=127.0.0.1-9980>"
OpSys = "LINUX"
OpSysAndVer = "AlmaLinux9"
Arch = "X86_64"
State = "Claimed"
Activity = "Retiring"
SlotType = "Dynamic"
DynamicSlot = true
SlotTypeId = -1
Cpus = 2
Memory = 8192
EnteredCurrentActivity = 1700000000
MyCurrentTime = 1700003725
ClassAdLifetime = 3600

MyType = "Machine"
TargetType = "Job"
Name = "slot1@wn4.example.org"
Machine = "wn4.example.org"
MyAddress = "<127.0.0.1:9981?addrs=127.0.0.1-9981>"
OpSys = "LINUX"
OpSysAndVer = "AlmaLinux9"
Arch = "X86_64"
State = "Claimed"
Activity = "Idle"
SlotType = "Partitionable"
PartitionableSlot = true
SlotTypeId = 1
Cpus = 0
Memory = 0
TotalSlotCpus = 4
TotalSlotMemory = 8192
NumDynamicSlots = 0
ChildState = { }
TotalCpus = 4
TotalLoadAvg = 0.0
ClassAdLifetime = 3600

MyType = "Machine"
TargetType = "Job"
Name = "slot2@wn4.example.org"
Machine = "wn4.example.org"
MyAddress = "<127.0.0.1:9981?addrs=127.0.0.1-9981>"
OpSys = "LINUX"
OpSysAndVer = "AlmaLinux9"
Arch = "X86_64"
State = "Unclaimed"
Activity = "Idle"
SlotType = "Static"
SlotTypeId = 2
Cpus = 1
Memory = 1024
ClassAdLifetime = 3600
"""
SCHEDDS = """\
MyType = "Scheduler"
Name = "schedd@sub1.example.org"
Machine = "sub1.example.org"
MyAddress = "<127.0.0.1:9997?addrs=127.0.0.1-9997>"
TotalIdleJobs = 7
TotalRunningJobs = 3
TotalHeldJobs = 1
ClassAdLifetime = 3600

MyType = "Scheduler"
Name = "schedd@sub2.example.org"
Machine = "sub2.example.org"
MyAddress = "<127.0.0.1:9996?addrs=127.0.0.1-9996>"
TotalIdleJobs = 0
TotalRunningJobs = 12
ClassAdLifetime = 3600
"""
GENERIC = """\
MyType = "glidefactory"
Name = "e1@g@f"
GLIDEIN_Site = "SiteA"
GlideinMonitorTotalStatusIdle = 3
GlideinMonitorTotalStatusRunning = 10
GLIDEIN_In_Downtime = false
Weird = "a \\"quoted\\" <value> & more"
GLIDEIN_Supported_VOs = "cms,atlas"
Limits = { 1, 2.5, "x" }
Req = TARGET.Cpus > 1 && (MY.GLIDEIN_Site =?= "SiteA")
ClassAdLifetime = 3600

MyType = "glidefactory"
Name = "e2@g@f"
GLIDEIN_Site = "SiteB"
GlideinMonitorTotalStatusIdle = 0
GlideinMonitorTotalStatusRunning = 2
GLIDEIN_In_Downtime = true
ClassAdLifetime = 3600

MyType = "glideclient"
Name = "e1@g@f@fe.main"
ReqIdleGlideins = 4
ReqMaxGlideins = 10
ClassAdLifetime = 3600
"""
N_ADS = len(SLOTS) + 5 + 2 + 3


@pytest.fixture(scope="module")
def real_pool(condor_release: Release, condor_dir: Path) -> Iterator[CondorPool]:
    """A real condor_collector and condor_schedd (the schedd answers -direct)."""
    pool = CondorPool(
        condor_release, PoolSpec(condor_dir / "status", roles=("collector", "schedd"), name="stat")
    )
    pool.start()
    try:
        yield pool
    finally:
        pool.stop()


@pytest.fixture(scope="module")
def glidein_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    processes = Processes(tmp_path_factory.mktemp("status-collector"))
    port = free_port()
    processes.glidein(["collector", "--port", str(port)], "collector")
    try:
        wait_for_port(port)
        yield f"127.0.0.1:{port}"
    finally:
        processes.stop_all()


@pytest.fixture(scope="module")
def pools(real_pool: CondorPool, glidein_pool: str, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Both collectors, holding the same ads (sent by the real condor_advertise)."""
    files = tmp_path_factory.mktemp("status-ads")
    slots = "\n".join(_slot_ad(number, slot) for number, slot in enumerate(SLOTS))
    sends = [("slots", "UPDATE_STARTD_AD", slots), ("pslots", "UPDATE_STARTD_AD", PARTITIONABLE)]
    sends.append(("schedds", "UPDATE_SCHEDD_AD", SCHEDDS))
    for name, command, text in [*sends, ("generic", "UPDATE_AD_GENERIC", GENERIC)]:
        path = files / f"{name}.txt"
        path.write_text(text)
        for pool in (real_pool.collector, glidein_pool):
            real_pool.tool("condor_advertise", "-multiple", "-pool", pool, command, str(path))
    for pool in (real_pool.collector, glidein_pool):
        query = ("-pool", pool, "-any", "-constraint", "ClassAdLifetime == 3600", "-af", "Name")
        wait_for(lambda q=query: len(real_pool.tool("condor_status", *q).split()) == N_ADS, timeout=30)
    return [real_pool.collector, glidein_pool]


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)


def _compare(real_pool: CondorPool, pool: str, args: list[str], condor_args: list[str] | None = None) -> None:
    """glidein status ARGS prints what condor_status ARGS prints (run before or after it)."""
    env = dict(os.environ, **real_pool.env())  # glidein authenticates to the real collector as condor does
    condor = [str(real_pool.release.program("condor_status")), "-pool", pool, *(condor_args or args)]
    glidein = [*GLIDEIN, "status", "-pool", pool, *args]
    for _attempt in range(4):
        before = _run(condor, env)
        ours = _run(glidein, env)
        after = _run(condor, env)
        if ours.stdout in (before.stdout, after.stdout):
            assert (ours.returncode == 0) == (before.returncode == 0), (args, ours.stderr, before.stderr)
            assert bool(ours.stderr) == bool(before.stderr), (
                args,
                ours.stderr,
                before.stderr,
            )  # warned or not
            return
    assert ours.stdout == after.stdout, f"{args} on {pool}: glidein stderr {ours.stderr[-500:]}"


LAYOUTS = [
    [], ["-slots"], ["-schedd"], ["-any"], ["-collector"], ["-master"], ["-total"], ["-schedd", "-total"],
    ["-subsystem", "glidefactory"], ["-subsystem", "glideclient"], ["-slots", "-constraint", "Cpus > 100"],
    ["-compact"], ["-compact", "-total"], ["-compact", "-sort", "Memory"], ["-compact", "-sort", "no"],
    ["-compact", "-sort", "Name"],
    ["-compact", "-af", "Name", "Cpus"],
    ["-compact", "-long", "-attributes", "Name,Machine,SlotTypeId"], ["-compact", "wn3.example.org"],
]  # fmt: skip
AUTOFORMAT = [
    ["-af", "Name", "Cpus", "LoadAvg", "Missing"], ["-af:h", "Name", "Cpus", "LoadAvg"], ["-af:j", "Name"],
    ["-af:jh", "Name"], ["-af:lh", "Name", "Cpus"], ["-af:,", "Name", "Cpus"], ["-af:n", "Name", "Cpus"],
    ["-af:t", "Name", "Cpus"], ["-af:r", "Name", "Cpus", "(Cpus+1)", "Missing"], ["-af:V", "Name", "LoadAvg"],
    ["-af:l", "Name", "Cpus + 1"], ["-af:lrng", "Name", "Cpus"], ["-af:th,", "Name", "Memory"],
    ["-af", "(Cpus*1.5)", "(Cpus>2)", "{1,2}", 'strcat(Name,"x")', "Cpus/0", "[a=1]", 'toUpper(OpSys)'],
    ["-af:h", "Name", 'strcat(Name, "-", OpSys)', "Cpus*2"], ["-autoformat", "Name", "-", "-af", "Cpus"],
    ["-any", "-af", "MyType", "Name"], ["-schedd", "-af", "Name", "TotalIdleJobs + 1", "TotalHeldJobs"],
    ["-subsystem", "glidefactory", "-af", "Name", "GlideinMonitorTotalStatusIdle + 1", "Weird", "Limits"],
    ["-subsystem", "glidefactory", "-af:r", "Req", "Limits"],
    ["-subsystem", "glidefactory", "-af:V", "Weird"],
]  # fmt: skip
FORMAT = [
    ["-format", "%s\\n", "Name"], ["-format", "%d ", "Cpus", "-format", "%s\\n", "Name"],
    ["-format", "%-25s|", "Name", "-format", "%6.2f|", "LoadAvg", "-format", "%v\\n", "Memory"],
    ["-format", "%s\\n", "Memory"], ["-format", "%d\\n", "Name"], ["-format", "[%5d]\\n", "Missing"],
    ["-format", "%V\\n", "Name"], ["-format", "%r\\n", "Cpus*2"], ["-format", "%x|", "Memory"],
    ["-format", "%o|", "Memory", "-format", "%e\\n", "LoadAvg"],
    ["-format", "literal\\n", "Name"], ["-format", "%5.1f%%\\n", "LoadAvg*100"],
    ["-format", "[%15T]", "MyCurrentTime - EnteredCurrentActivity", "-format", "%Y\\n", "MyCurrentTime"],
    ["-af:T", "MyCurrentTime - EnteredCurrentActivity"], ["-af:hY", "Name", "MyCurrentTime"],
]  # fmt: skip
SELECTION = [
    ["-sort", "Memory", "-af", "Name", "Memory"], ["-sort", "-Memory", "-af", "Name"],
    ["-sort", "GLIDEIN_Site", "-sort", "Name", "-af", "Name"], ["-sort", "no", "-af", "Name"],
    ["-sort", "LoadAvg"], ["-limit", "2", "-af", "Name"], ["-limit", "1", "-schedd"],
    ["-constraint", "Cpus > 1", "-af", "Name"], ["-const", 'State == "Claimed"'],
    ["slot1@wn1.example.org", "-af", "Name"], ["wn1.example.org"], ["-schedd", "schedd@sub2.example.org"],
    ["-any", "e1@g@f", "e2@g@f", "-af", "Name"], ["-total", "-af", "Name"], ["-total", "-af:h", "Name"],
]  # fmt: skip
WHOLE_ADS = [
    ["-long", "-constraint", "ClassAdLifetime == 3600"], ["-l", "-attributes", "Name,Cpus"],
    ["-schedd", "-long", "-af", "Name", "-constraint", "ClassAdLifetime == 3600"],
    ["-af", "Name", "-long", "-limit", "1"], ["-xml", "-constraint", "ClassAdLifetime == 3600"],
    ["-schedd", "-xml", "-attributes", "Name,TotalIdleJobs"],
    ["-subsystem", "glidefactory", "-xml"], ["-subsystem", "glidefactory", "-long"],
    ["-json", "-constraint", "ClassAdLifetime == 3600"], ["-subsystem", "glidefactory", "-json"],
    ["-schedd", "-json", "-attributes", "Name,TotalIdleJobs"], ["-total", "-xml"], ["-total", "-json"],
    ["-schedd", "-total", "-long"], ["-json", "-constraint", "false"], ["-xml", "-constraint", "false"],
]  # fmt: skip


@pytest.mark.timeout(600)
@pytest.mark.parametrize("group", ["layouts", "autoformat", "format", "selection", "whole_ads"])
def test_status_prints_what_condor_status_prints(real_pool: CondorPool, pools: list[str], group: str) -> None:
    cases = {"layouts": LAYOUTS, "autoformat": AUTOFORMAT, "format": FORMAT, "selection": SELECTION,
             "whole_ads": WHOLE_ADS}[group]  # fmt: skip
    for pool in pools:
        for args in cases:
            _compare(real_pool, pool, args)


def test_expressions_see_the_whole_ad(real_pool: CondorPool, pools: list[str]) -> None:
    """`-af Req` where Req refers to other attributes: both collectors send what Req references.

    condor_status asks for the attributes it names only (Req) and evaluates what comes back: the
    real collector sends the attributes Req references as well (putClassAd expands a projection),
    and so does glidein's, so condor_status and glidein status print the same on both."""
    args = ["-subsystem", "glidefactory", "-af", "Name", "Req"]
    env = dict(os.environ, **real_pool.env())
    condor_status = str(real_pool.release.program("condor_status"))
    printed = [_run([condor_status, "-pool", pool, *args], env).stdout for pool in pools]
    assert printed[0] == printed[1] == "e1@g@f undefined\ne2@g@f undefined\n"
    for pool in pools:
        _compare(real_pool, pool, args)


@pytest.mark.timeout(300)
def test_startd_is_the_slots_and_direct_asks_the_daemon(real_pool: CondorPool, pools: list[str]) -> None:
    for pool in pools:
        _compare(real_pool, pool, ["-startd"], ["-slots"])
        _compare(real_pool, pool, ["-startd", "-af", "Name"], ["-slots", "-af", "Name"])
        _compare(
            real_pool, pool, ["-collector", "-direct", "nobody", "-af", "Name"]
        )  # ignored: asks the collector
        _compare(
            real_pool, pool, ["-schedd", "-direct", "schedd@sub1.example.org"]
        )  # no such daemon: both fail
    schedd = real_pool.tool(
        "condor_status", "-schedd", "-constraint", "ClassAdLifetime =!= 3600", "-af", "Name"
    )
    name = schedd.strip()
    assert name, "the real schedd is in its collector"
    args = ["-schedd", "-direct", name, "-af", "Name", "MyType", "TotalRunningJobs"]
    _compare(real_pool, real_pool.collector, args)
    env = dict(os.environ, **real_pool.env())
    direct = _run([*GLIDEIN, "status", "-pool", real_pool.collector, *args], env)
    assert direct.stdout.split() == [name, "Scheduler", "0"]
