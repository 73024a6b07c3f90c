"""A site relay on real HTCondor: the factory deploys a condor_master + condor_schedd through the
entry's route (Condor-C to the CE, run in its local universe: the head node), submits the entry's
pilots to it by Condor-C, and it hands them to a real Slurm through its blahp. Killed -9, it is
redeployed by the monitor and the pilots go on: none lost, none doubled (pilot ids compared in
factory.db, the relay's queue and Slurm)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from glidein.common.errors import GlideinError
from glidein.common.monitoring.rrd import RRDStore
from glidein.common.monitoring.snapshot import Snapshot, StaticSource
from glidein.common.web.app import WebApp, WebConfig
from glidein.factory.monitoring import FactoryMonitor
from glidein.factory.state import PilotStore
from glidein.pool.condor import relay as relay_files
from glidein.pool.condor.personal import children_of, pool_account
from glidein.pool.condor.release import Release
from tests.integration.condor.pilots_support import Factory, Sites, condor_entry, running_sites
from tests.procs import run_glidein, wait_for

pytestmark = pytest.mark.slurm
ENTRY = "relay_site"
WAIT = "--begin=now+3600"  # Slurm keeps the pilots pending: they stay put while the relay dies
PER_CYCLE = 2


@pytest.fixture(scope="module")
def sites(condor_release: Release, condor_dir: Path, slurm_conf: str) -> Iterator[Sites]:
    with running_sites(condor_release, condor_dir, slurm_conf) as found:
        yield found


def relay_entry(sites: Sites, relay_dir: Path) -> dict[str, Any]:
    entry = condor_entry(ENTRY, sites, {"batch_extra_submit_args": WAIT})
    entry["limits"] |= {"max_per_cycle": PER_CYCLE}
    entry["relay"] = {
        "dir": str(relay_dir),
        "release_dir": str(sites.factory.release.root),
        "slurm_conf": sites.slurm_conf,
        "update_interval": 5,
        "lifetime": 3600,
        "start_timeout": 120,
        "backoff": 5,
    }
    return entry


def relays(sites: Sites) -> list[list[str]]:
    """What the real condor_status lists as relays: name, entry, factory."""
    out = sites.factory.tool(
        "condor_status", "-schedd", "-const", "is_glidein =?= true",
        "-af:t", "Name", "GlideinRelayEntry", "GlideinRelayFactory", timeout=20,
    )  # fmt: skip
    return [line.split("\t") for line in out.splitlines() if line.strip()]


def relay_queue(sites: Sites, relay_dir: Path, *attrs: str) -> list[str]:
    """Pilot ids (and `attrs`) in the relay's own queue (condor_q with the relay's condor_config)."""
    env = dict(
        os.environ,
        CONDOR_CONFIG=str(relay_dir / "condor_config"),
        **{relay_files.DIR_ENV: str(relay_dir), relay_files.RELEASE_ENV: str(sites.factory.release.root)},
        **{relay_files.USER_ENV: pool_account()[2]},
    )
    if os.geteuid() == 0:
        env["_CONDOR_CONDOR_IDS"] = "{}.{}".format(*pool_account()[:2])
    argv = [str(sites.factory.release.program("condor_q")), "-allusers", "-af", "GlideinPilotId", *attrs]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise GlideinError(done.stderr.strip())
    if attrs:
        return done.stdout.splitlines()
    return [line for line in done.stdout.split() if line != "undefined"]


def handed(sites: Sites, relay_dir: Path) -> dict[str, str]:
    """Pilot id -> its Slurm job id, as the relay's queue holds it (GridJobId `batch slurm
    <sandbox> slurm/<date>/<id>`), for the pilots the relay has handed to Slurm."""
    rows = [line.split() for line in relay_queue(sites, relay_dir, "GridJobId")]
    return {
        row[0]: row[4].rsplit("/", 1)[-1] for row in rows if len(row) == 5 and row[1:3] == ["batch", "slurm"]
    }


def slurm_pending(conf: str, before: set[str], relay_dir: Path) -> dict[str, str]:
    """Slurm job id -> work dir of the pending jobs the relay submitted (in its spool; other
    tests share this Slurm) that were not there `before`."""
    out = subprocess.run(
        ["squeue", "-h", "-t", "PENDING", "-o", "%i|%Z"],
        env={**os.environ, "SLURM_CONF": conf},
        capture_output=True, text=True, check=True, timeout=20,
    ).stdout  # fmt: skip
    rows = dict(line.split("|", 1) for line in out.splitlines() if "|" in line)
    return {job: cwd for job, cwd in rows.items() if job not in before and cwd.startswith(str(relay_dir))}


def slurm_ids(conf: str) -> set[str]:
    out = subprocess.run(
        ["squeue", "-h", "-t", "all", "-o", "%i"],
        env={**os.environ, "SLURM_CONF": conf},
        capture_output=True, text=True, check=True, timeout=20,
    ).stdout  # fmt: skip
    return set(out.split())


def kill_relay(relay_dir: Path) -> int:
    """kill -9 the relay's condor_master and every daemon under it; the master's pid."""
    master = int((relay_dir / "master.pid").read_text())
    for pid in [master, *children_of(master)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return master


def logged(factory: Factory, needle: str) -> int:
    return factory.processes.log(factory.log_name).count(needle)


def log_lines(factory: Factory) -> list[str]:
    return factory.processes.log(factory.log_name).splitlines()


def cycles_before(lines: list[str], needle: str, occurrence: int) -> int:
    """How many cycles had ended when the `occurrence`-th line holding `needle` was written."""
    seen, done = 0, 0
    for line in lines:
        done += "cycle done" in line
        seen += needle in line
        if seen == occurrence:
            return done
    raise AssertionError(f"{needle!r} not logged {occurrence} times")


def per_cycle(factory: Factory) -> Counter[float]:
    """Pilots submitted per cycle (a cycle's pilots share its submit time)."""
    store = PilotStore(factory.setup.state_dir / "factory.db")
    try:
        rows = store.conn.execute("SELECT submit_time FROM pilots WHERE entry = ?", (ENTRY,))
        return Counter(float(row[0]) for row in rows)
    finally:
        store.close()


def went_through(factory: Factory) -> dict[str, str]:
    store = PilotStore(factory.setup.state_dir / "factory.db")
    try:
        return store.relays(ENTRY)
    finally:
        store.close()


def pilots_page(factory: Factory) -> str:
    """The factory's pilots page, rendered from its bookkeeping as the monitoring snapshot is."""
    store = PilotStore(factory.setup.state_dir / "factory.db")
    cfg = SimpleNamespace(monitoring=SimpleNamespace(dir=None, pilots_listed=100, enabled=False, step=10))
    try:
        records = FactoryMonitor(cfg, store.conn, factory.setup.state_dir).pilot_records({ENTRY: "Site"})
    finally:
        store.close()
    source = StaticSource(Snapshot(0.0, (), tuple(records)), factory.setup.state_dir / "pilots")
    app = WebApp(WebConfig(), source, RRDStore(factory.setup.state_dir / "mon"))
    return app.handle(f"/pilots?entry={ENTRY}").body.decode()


def cleanup(sites: Sites, relay_dir: Path, slurm_before: set[str]) -> None:
    """Our relay jobs removed, the relay stopped by pid, our Slurm jobs cancelled."""
    with contextlib.suppress(GlideinError):
        sites.factory.tool("condor_rm", "-constraint", f'GlideinRelayEntry == "{ENTRY}"')
    with contextlib.suppress(OSError, ValueError):
        kill_relay(relay_dir)
    assert sites.slurm_conf is not None
    ours = sorted(slurm_ids(sites.slurm_conf) - slurm_before)
    if ours:
        env = {**os.environ, "SLURM_CONF": sites.slurm_conf}
        subprocess.run(["scancel", *ours], env=env, capture_output=True, timeout=20, check=False)


@pytest.mark.timeout(300)
def test_relay_runs_pilots_to_slurm_and_is_redeployed_after_kill_9(
    sites: Sites, factory_for: Any, condor_dir: Path
) -> None:
    assert sites.slurm_conf is not None
    relay_dir = condor_dir / "relay-dir"
    before = slurm_ids(sites.slurm_conf)
    factory: Factory = factory_for([relay_entry(sites, relay_dir)])
    try:
        _run(sites, factory, relay_dir, before)
    finally:
        cleanup(sites, relay_dir, before)


def _run(sites: Sites, factory: Factory, relay_dir: Path, before: set[str]) -> None:
    conf = str(sites.slurm_conf)
    # deployed by the monitor through the CE; listed by condor_status as a relay
    wait_for(lambda: len(relays(sites)) == 1, timeout=90, interval=1)
    ((name, entry, factory_name),) = relays(sites)
    assert (name.split("@")[0], entry, factory_name) == (f"relay-{ENTRY}", ENTRY, "f1")
    wait_for(lambda: logged(factory, "action=live") == 1, timeout=60, interval=0.5)
    # by hand beside a live relay: nothing deployed (one relay at a time); status names it
    config = str(factory.setup.config)
    done = run_glidein(["factory", "relay", "deploy", ENTRY, "--config", config])
    assert done.returncode == 0 and done.stdout.startswith(f"{ENTRY}: live kind=condor name={name} job=1.0")
    assert "deploys=1" in run_glidein(["factory", "relay", "status", "--config", config]).stdout

    factory.ask(ENTRY, 6, seq=1)
    wait_for(lambda: len(factory.pilots(ENTRY)) == 6, timeout=60, interval=0.5)
    ids = set(factory.pilots(ENTRY))
    counts = per_cycle(factory)  # the configured rate: at most PER_CYCLE per cycle
    assert max(counts.values()) <= PER_CYCLE and len(counts) >= 6 // PER_CYCLE, counts
    wait_for(lambda: set(went_through(factory)) == ids, timeout=30, interval=0.5)
    assert set(went_through(factory).values()) == {name}
    wait_for(lambda: set(relay_queue(sites, relay_dir)) == ids, timeout=60, interval=1)
    wait_for(lambda: len(slurm_pending(conf, before, relay_dir)) == 6, timeout=90, interval=1)
    in_slurm = slurm_pending(conf, before, relay_dir)
    # killed once the relay holds the Slurm ids (its gridmanager saves each one a moment after
    # the sbatch: a relay killed in that window would submit that pilot to Slurm again)
    wait_for(lambda: set(handed(sites, relay_dir)) == ids, timeout=60, interval=1)

    cycles_at_kill = sum("cycle done" in line for line in log_lines(factory))
    first_master = kill_relay(relay_dir)
    wait_for(lambda: logged(factory, "action=failed") == 1, timeout=60, interval=0.5)
    assert cycles_before(log_lines(factory), "action=failed", 1) - cycles_at_kill <= 2
    wait_for(
        lambda: factory.processes.log(factory.log_name).count("action=live") == 2, timeout=120, interval=1
    )
    assert int((relay_dir / "master.pid").read_text()) != first_master
    assert len(relays(sites)) == 1  # one relay for the entry, never two

    # nothing lost, nothing doubled: the same pilots in factory.db, the new relay's queue and Slurm
    factory.ask(ENTRY, 8, seq=2)  # and the pilots go on: two more through the new relay
    wait_for(lambda: len(factory.pilots(ENTRY)) == 8, timeout=60, interval=0.5)
    ids = set(factory.pilots(ENTRY))
    wait_for(lambda: sorted(relay_queue(sites, relay_dir)) == sorted(ids), timeout=90, interval=1)
    try:
        wait_for(lambda: len(slurm_pending(conf, before, relay_dir)) == 8, timeout=90, interval=1)
    except AssertionError:
        detail = relay_queue(sites, relay_dir, "JobStatus", "GridJobId", "HoldReason")
        raise AssertionError(
            f"Slurm {slurm_pending(conf, before, relay_dir)}; relay queue {detail}"
        ) from None
    assert set(in_slurm) <= set(slurm_pending(conf, before, relay_dir))
    factory.wait_cycles(3)
    assert set(factory.pilots(ENTRY)) == ids and sorted(relay_queue(sites, relay_dir)) == sorted(ids)
    assert len(slurm_pending(conf, before, relay_dir)) == 8
    to_slurm = handed(sites, relay_dir)  # every pilot once in Slurm, and nothing else
    assert set(to_slurm) == ids and set(to_slurm.values()) == set(slurm_pending(conf, before, relay_dir))
    assert {p.state.value for p in factory.pilots(ENTRY).values()} == {"idle"}
    page = pilots_page(factory)  # which relay each pilot went through
    assert page.count('class="pilot"') == 8 and page.count(f'<td class="relay">{name}</td>') == 8


def start_script(job: Path, release: Release, relay_dir: Path) -> subprocess.Popen[bytes]:
    """relay.sh run by hand as the pool account, as the CE's local universe runs it."""
    uid, gid, _ = pool_account()
    kwargs: dict[str, Any] = {"user": uid, "group": gid, "extra_groups": []} if os.geteuid() == 0 else {}
    argv = [str(job / relay_files.SCRIPT_FILE), str(release.root), str(relay_dir)]
    return subprocess.Popen(argv, cwd=job, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)


def test_relay_script_runs_one_relay_per_dir_and_ends_after_its_lifetime(
    condor_release: Release, condor_dir: Path
) -> None:
    job, relay_dir = condor_dir / "script-job", condor_dir / "script-relay"
    # no collector answers there: the relay runs all the same (it would advertise to one)
    cfg = relay_files.RelayConfig("by_hand", "f1", "127.0.0.1:9", lifetime=8, update_interval=5)
    relay_files.write_files(job, cfg)
    uid, gid, _ = pool_account()
    for path in [job, *job.iterdir()]:
        os.chown(path, uid, gid)
    first = start_script(job, condor_release, relay_dir)
    second: subprocess.Popen[bytes] | None = None
    try:
        wait_for((relay_dir / "master.pid").exists, timeout=20, interval=0.2)
        assert int((relay_dir / "master.pid").read_text()) == first.pid  # exec: the job is the master
        second = waiting = start_script(job, condor_release, relay_dir)
        assert first.wait(60) == 99  # DAEMON_SHUTDOWN after the lifetime (the master's exit code)
        assert waiting.poll() is None  # it waited for the lock all that time, and now runs
        wait_for(lambda: int((relay_dir / "master.pid").read_text()) == waiting.pid, timeout=20, interval=0.2)
        assert waiting.wait(60) == 99
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                for pid in [proc.pid, *children_of(proc.pid)]:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                proc.wait(10)
