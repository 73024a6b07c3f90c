"""Network closeness in the frontend's match: entry ads built by a real factory cycle from a
bandwidth matrix served over HTTP (a real server process on loopback), matched by the
frontend's own code against jobs that need at least 50 MB/s to their data."""

from __future__ import annotations

import sys
from pathlib import Path

from glidein.common import classads
from glidein.common.closeness import job_attrs
from glidein.common.config import load_factory_config
from glidein.factory.cycle import FactoryCycle
from glidein.frontend.matching import JobCluster, match
from tests.factory_support import local_entry, write_factory
from tests.procs import Processes, free_port, wait_for_port
from tests.unit.factory.test_cycle import MemoryBus


def _job(ses: list[str], min_mbps: int) -> classads.ClassAd:
    values: dict[str, object] = {n: classads.expr_value(e) for n, e in job_attrs(ses).items()}
    values["Requirements"] = classads.expr_value(f"GLIDEIN_Data_BW >= {min_mbps}")
    values["Rank"] = classads.expr_value("GLIDEIN_Data_BW")
    values["RequestCpus"] = 1
    return classads.from_dict(values)


def _matched(bus: MemoryBus, job: classads.ClassAd) -> dict[str, int]:
    entries = bus.of("glidefactory")
    names = [str(ad["EntryName"]) for ad in entries]
    result = match("true", [JobCluster(job, idle=10)], entries, names)
    return {name: counts.count for name, counts in result.entries.items() if counts.count}


def test_jobs_needing_50_mbps_get_pilots_only_where_the_matrix_gives_it(
    tmp_path: Path, processes: Processes
) -> None:
    served = tmp_path / "www"
    served.mkdir()
    matrix = served / "bw.yaml"
    matrix.write_text("Site_fast: {se1.cern.ch: 120}\nSite_slow: {se1.cern.ch: 20}\n")
    port = free_port()
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(served)]
    processes.start(argv, "matrix-http")
    wait_for_port(port)
    closeness = {"matrix": f"http://127.0.0.1:{port}/bw.yaml", "refresh": 60}
    entries = [local_entry("fast"), local_entry("slow"), local_entry("nodata")]
    setup = write_factory(tmp_path, entries, closeness=closeness)
    now = [1_000_000.0]
    bus = MemoryBus()
    cycle = FactoryCycle(load_factory_config(setup.config), bus, clock=lambda: now[0])
    cycle.run_once()
    job = _job(["se1.cern.ch"], 50)
    assert _matched(bus, job) == {"fast": 10}
    assert _matched(bus, _job(["se1.cern.ch"], 10)) == {"fast": 10, "slow": 10}
    assert _matched(bus, _job(["se9.other"], 1)) == {}  # nobody publishes a bandwidth to se9

    matrix.write_text("Site_fast: {se1.cern.ch: 120}\nSite_slow: {se1.cern.ch: 80}\n")
    now[0] += 30
    cycle.run_once()
    assert _matched(bus, job) == {"fast": 10}  # not re-read before `refresh`
    now[0] += 31
    cycle.run_once()
    assert _matched(bus, job) == {"fast": 10, "slow": 10}
    served.joinpath("bw.yaml").unlink()  # the server answers 404: the last matrix read is kept
    now[0] += 61
    cycle.run_once()
    assert _matched(bus, job) == {"fast": 10, "slow": 10}
