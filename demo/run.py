"""`glidein demo`: the whole system on one machine, from etc/demo/, until every job is done.

Start order: WMS and user-pool collectors, schedd, stage, factory web (stage + pilot reports),
factory, monitoring web, frontend. Then the jobs are submitted, progress is printed until every
job has left the queue, the summary is printed, the pilots still at the sites are removed through
the factory's own submitters, and every process the demo started is stopped by pid.
"""

from __future__ import annotations

import getpass
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TextIO

from glidein.common.config import load_factory_config
from glidein.common.errors import GlideinError
from glidein.demo import cleanup, condor, condor_sites, slurm
from glidein.demo.layout import DemoLayout, expected_output, prepare
from glidein.demo.processes import GLIDEIN, Supervisor, port_open, wait_until
from glidein.demo.shell_env import ENV_FILE, demo_env, export_lines, write_env_file
from glidein.demo.summary import Summary, SummaryInputs, collect, format_summary
from glidein.demo.watch import Observer, progress_line
from glidein.pool.condor.release import Release, find_release
from glidein.pool.schedd.client import ScheddClient

Cluster = slurm.SlurmCluster | None


@dataclass
class DemoOptions:
    jobs: int = 200
    keep: bool = False
    directory: Path | None = None
    timeout: float = 900.0  # seconds for the jobs, after submission
    slurm: str = "auto"  # auto | yes | no
    interval: float = 2.0  # seconds between progress lines
    htcondor: str | None = None  # None: embedded pool; "" or a release dir: real HTCondor daemons
    out: TextIO = field(default_factory=lambda: sys.stdout)


def _say(opts: DemoOptions, text: str) -> None:
    print(text, file=opts.out, flush=True)


def start_pools(layout: DemoLayout, sup: Supervisor) -> None:
    """The embedded pool: WMS and user-pool collectors and the schedd (`glidein` processes)."""
    p = layout.ports
    sup.glidein("collector-wms", ["collector", "--port", str(p["wms"]), "--name", "demo-wms"])
    sup.glidein("collector-pool", ["collector", "--port", str(p["pool"]), "--name", "demo-pool"])
    wait_until(lambda: port_open(p["wms"]) and port_open(p["pool"]), 20, "collectors")
    schedd = ["schedd", "--port", str(p["schedd"]), "--state-dir", str(layout.schedd_state)]
    schedd += ["--collector", layout.address("pool"), "--pool-key", str(layout.keys / "pool.key")]
    sup.glidein("schedd", [*schedd, "--name", "demo_schedd", "--advertise-interval", "5"])


def start_services(layout: DemoLayout, sup: Supervisor) -> None:
    """Every daemon of the demo, each ready (port open) before the next that needs it."""
    p = layout.ports
    if layout.condor is None:
        start_pools(layout, sup)
    config = ["--config", str(layout.factory_config)]
    staged = subprocess.run(
        [*GLIDEIN, "factory", "stage", *config], capture_output=True, text=True, timeout=120, check=False
    )
    if staged.returncode != 0:
        raise GlideinError(f"demo: staging failed: {staged.stderr.strip() or staged.stdout.strip()}")
    sup.glidein("factory-web", ["factory", "web", *config])
    wait_until(lambda: port_open(p["stage"]), 20, "factory web")
    sup.glidein("factory", ["factory", "run", *config])
    monitor = ["monitor", "web", "--root", str(layout.factory_state / "monitor"), "--kind", "factory"]
    monitor += ["--port", str(p["monitor"]), "--pilots-dir", str(layout.factory_state / "pilots")]
    sup.glidein("monitor-web", [*monitor, "--title", "glidein demo factory"])
    fe_monitor = ["monitor", "web", "--root", str(layout.root / "frontend" / "monitor"), "--kind", "frontend"]
    fe_monitor += ["--port", str(p["frontend_monitor"]), "--title", "glidein demo frontend"]
    sup.glidein("frontend-monitor-web", fe_monitor)
    if layout.condor is None:
        wait_until(lambda: port_open(p["schedd"]), 20, "schedd")
    sup.glidein("frontend", ["frontend", "run", "--config", str(layout.frontend_config)])
    wait_until(lambda: port_open(p["monitor"]) and port_open(p["frontend_monitor"]), 20, "monitoring web")


def schedd_view(layout: DemoLayout, pools: condor.CondorPools | None) -> ScheddClient | condor.CondorSchedd:
    if pools is None:
        return ScheddClient(layout.url("schedd"), timeout=30)
    return condor.CondorSchedd(pools.users)


def submit_jobs(layout: DemoLayout, pools: condor.CondorPools | None) -> None:
    sub = layout.job_dir / "jobs.sub"
    if pools is None:
        client = ScheddClient.locate(None, str(layout.schedd_state))
        result = client.submit(sub.read_text(), sub.name, str(layout.job_dir), getpass.getuser())
        queued = int(str(result.get("jobs", 0)))
    else:
        queued = condor.CondorSchedd(pools.users).submit(sub)
    if queued != layout.jobs:
        raise GlideinError(f"demo: the schedd queued {queued} jobs, expected {layout.jobs}")


def _sites(layout: DemoLayout) -> dict[str, str]:
    cfg = load_factory_config(layout.factory_config)
    out = {}
    for entry in cfg.all_entries():
        site = entry.attrs.get("GLIDEIN_Site")
        out[entry.name] = str(site.value) if site is not None else entry.name
    return out


def watch(layout: DemoLayout, sup: Supervisor, opts: DemoOptions, observer: Observer) -> bool:
    """Print progress until every job has left the queue (True) or the timeout (False)."""
    sites = _sites(layout)
    deadline = time.monotonic() + opts.timeout
    while time.monotonic() < deadline:
        dead = sup.dead()
        if dead:
            raise GlideinError(f"demo: {', '.join(dead)} stopped unexpectedly:\n{sup.tail(dead[0])}")
        sample = observer.sample()
        _say(opts, progress_line(sample, observer.started, sites))
        if not sample.error and sample.jobs_idle + sample.jobs_running + sample.jobs_held == 0:
            return True
        time.sleep(opts.interval)
    return False


def summarize(layout: DemoLayout, observer: Observer, pools: condor.CondorPools | None) -> Summary:
    view = schedd_view(layout, pools)
    jobs = view.jobs(include_done=True)
    in_pool = frozenset(view.slot_pilots()) if isinstance(view, condor.CondorSchedd) else None
    inputs = SummaryInputs(
        out_dir=layout.job_dir / "out",
        db=layout.factory_state / "factory.db",
        state_dir=layout.factory_state,
        pool=layout.address("pool"),
        sites=_sites(layout),
        blocked=observer.blocked_seen,
        in_pool=in_pool,
    )
    summary = collect(jobs, {i: expected_output(i) for i in range(layout.jobs)}, inputs)
    summary.elapsed_seconds = time.time() - observer.started
    factory, frontend = (f"{layout.url(name)}/?period=2h" for name in ("monitor", "frontend_monitor"))
    summary.monitoring_url = f"{factory} (factory), {frontend} (frontend)"
    return summary


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # so that the clean-up in run_demo runs


def run_demo(opts: DemoOptions) -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    if opts.jobs < 1:
        raise GlideinError("--jobs must be at least 1")
    root = (opts.directory or Path(tempfile.mkdtemp(prefix="glidein-demo-"))).resolve()
    if root.is_dir() and any(root.iterdir()):
        raise GlideinError(f"--dir {root}: not empty (a previous demo?); give a new or empty directory")
    root.mkdir(parents=True, exist_ok=True)
    release = None if opts.htcondor is None else find_release(opts.htcondor or None)
    cluster = slurm.choose(opts.slurm, root)
    try:
        layout = prepare(root, opts.jobs, cluster is not None, release)
        return _run(layout, opts, cluster)
    finally:
        if cluster is not None and not opts.keep:
            cluster.stop()


def _run(layout: DemoLayout, opts: DemoOptions, cluster: slurm.SlurmCluster | None) -> int:
    sup = Supervisor(layout.logs, layout.root / "pids.json")
    where = f"Slurm entry: {cluster.conf}" if cluster else "no Slurm entry"
    _say(opts, f"glidein demo in {layout.root} (logs in {layout.logs}); {where}")
    ok = False
    pools = None
    try:
        if layout.condor is not None:
            pools = start_condor(layout, sup, layout.condor, cluster.conf if cluster else None)
            _say(opts, f"HTCondor {layout.condor.version() or '?'} from {layout.condor.root}")
        start_services(layout, sup)
        _say(
            opts, f"monitoring: factory {layout.url('monitor')}/  frontend {layout.url('frontend_monitor')}/"
        )
        _say(
            opts,
            f"collectors: WMS {layout.address('wms')}  user pool {layout.address('pool')};  "
            + (
                f"schedd {layout.url('schedd')}"
                if pools is None
                else f"CONDOR_CONFIG={pools.users.spec.config_path}"
            ),
        )
        _announce_env(layout, opts, pools, cluster)
        submit_jobs(layout, pools)
        observer = Observer(schedd_view(layout, pools), layout.factory_state, layout.jobs)
        _say(
            opts, f"submitted {layout.jobs} jobs; progress: jobs, then pilots per site idle/running/ok/failed"
        )
        finished = watch(layout, sup, opts, observer)
        summary = summarize(layout, observer, pools)
        if not opts.keep:
            summary.monitoring_url += " (stopped now; run with --keep to browse them)"
        if not finished:
            summary.problems.insert(0, f"timeout: jobs still queued after {opts.timeout:.0f} s")
        _say(opts, format_summary(summary))
        ok = summary.ok
    finally:
        if opts.keep:
            env_file = shlex.quote(str(layout.root / ENV_FILE))
            _say(opts, f"--keep: everything left running; in another shell: . {env_file}")
            _say(opts, f"stop it with: glidein demo --stop {shlex.quote(str(layout.root))}")
        else:
            _stop(layout, sup, opts)
    return 0 if ok else 1


def _announce_env(
    layout: DemoLayout, opts: DemoOptions, pools: condor.CondorPools | None, cluster: Cluster
) -> None:
    """Write DIR/env.sh and print what it exports (plain glidein q/submit/rm/status, condor_q)."""
    condor_env = pools.users.env() if pools is not None else None
    env = demo_env(layout, condor_env, cluster.conf if cluster else None)
    path = write_env_file(layout.root, env)
    tools = "condor_q / condor_submit / condor_status" if pools else "glidein q / submit / rm / status"
    _say(opts, f"environment for plain {tools} in another shell (`. {shlex.quote(str(path))}` sets it):")
    for line in export_lines(env):
        _say(opts, f"  {line}")


def start_condor(
    layout: DemoLayout, sup: Supervisor, release: Release, slurm_conf: str | None
) -> condor.CondorPools:
    """The users' pool, the WMS collector, the factory's schedd and the CE on real HTCondor,
    tracked by the supervisor."""
    ports = (layout.ports["pool"], layout.ports["wms"])
    pools = condor.start_pools(release, layout.root, ports, layout.keys / "tokens")
    sites = condor_sites.site_pools(release, layout.root, layout.ports, slurm_conf)
    condor_sites.start_site_pools(sites, layout.keys / "tokens" / "factory")
    names = ("condor-users", "condor-wms", "condor-factory-schedd", "condor-ce")
    for name, pool in zip(names, (pools.users, pools.wms, *sites), strict=True):
        if pool.proc is not None:
            sup.adopt(name, pool.proc, pool.spec.root / "master.out")
    return pools


def _stop(layout: DemoLayout, sup: Supervisor, opts: DemoOptions) -> None:
    """Frontend and factory first (no new pilots), then the pilots at the sites, then the rest.
    SIGINT/SIGTERM are ignored meanwhile: an interrupted clean-up would leave processes behind."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _say(opts, "stopping every process the demo started ...")
    killed = [name for name in ("frontend", "factory") if not sup.stop_named(name)]
    removed = cleanup.remove_pilots(layout.factory_config)
    cleanup.wait_pilots(layout.factory_state, 20.0)
    killed += sup.stop_all()
    groups = cleanup.kill_groups(sup)
    pilots = cleanup.kill_pilots(layout.factory_state)
    text = f"stopped {len(sup.started)} processes and removed {removed} pilots still at the sites"
    _say(opts, text + (f"; had to kill: {', '.join(killed)}" if killed else ""))
    if groups or pilots:
        _say(opts, f"killed what was left in the process groups of {groups} and {pilots} pilots")
