"""A pilot against a real local web server: full run, order and hand-off, failures and their class."""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from glidein.factory.staging import StageFile
from glidein.factory.web import read_log
from tests.integration.pilot.helpers import StageSite, mark_script
from tests.procs import Processes, wait_for


def _site(tmp_path: Path, processes: Processes, **kwargs: object) -> StageSite:
    site = StageSite(tmp_path, processes, **kwargs)  # type: ignore[arg-type]
    site.extra = {
        "main": [mark_script(tmp_path, "m1", 5)],
        "entry": [mark_script(tmp_path, "e1s", 5)],
        "client": [mark_script(tmp_path, "c1", 50)],
        "group": [mark_script(tmp_path, "g1", 96)],
    }
    site.stage()
    site.serve()
    return site


def test_full_run_verifies_runs_in_order_and_starts_the_startd(tmp_path: Path, processes: Processes) -> None:
    site = _site(tmp_path, processes)
    proc = site.run_pilot(site.pilot_argv(GLIDEIN_Token="tok-SECRET-123"))
    assert proc.returncode == 0, proc.stderr
    # Files ran by global order (main before entry at equal order), each saw the previous ones' keys.
    order = (site.markers / "order").read_text().splitlines()
    assert order == ["m1 -", "e1s +m1", "c1 +m1+e1s", "g1 +m1+e1s+c1"]
    startd = json.loads((site.markers / "startd").read_text())
    assert startd["attrs"]["GLIDEIN_Site"] == '"SiteA"'  # entry constant reached the startd
    assert startd["collector"] == f"127.0.0.1:{site.port}" and startd["schedd_url"] == site.url
    token_file = Path(startd["token_file"])
    assert token_file.read_text().strip() == "tok-SECRET-123"
    assert token_file.stat().st_mode & 0o777 == 0o600
    report = site.report()
    assert report["status"] == "success" and report["exit_code"] == 0
    ids = [r["id"] for r in report["results"]]  # type: ignore[union-attr,index]
    assert ids == ["m1", "e1s", "validate_node", "c1", "startd_setup", "g1"]
    checks = report["results"][2]["metrics"]["checks"]  # type: ignore[index]
    assert [c["id"] for c in checks][:2] == ["check_python", "check_disk"] and len(checks) == 8
    log = read_log(site.state_dir, "p1")
    assert "verified level group" in log and "FINAL success" in log
    assert "tok-SECRET-123" not in log + json.dumps(report)
    work = site.work_dirs()[0]
    assert work.stat().st_mode & 0o777 == 0o700
    assert "tok-SECRET-123" not in (work / "glidein_config").read_text()
    xml = ET.parse(work / "results" / "check_disk.xml").getroot()
    assert xml.tag == "OSGTestResult" and xml.findtext("result/status") == "OK"


def test_failing_validation_stops_the_pilot_and_holds(tmp_path: Path, processes: Processes) -> None:
    site = _site(tmp_path, processes)
    argv = site.pilot_argv(GLIDEIN_Min_Disk_MB=str(10**12))
    argv[argv.index("-hold_time") + 1] = "1"
    started = time.monotonic()
    proc = site.run_pilot(argv)
    assert proc.returncode == 1, proc.stderr
    assert time.monotonic() - started >= 1.0 and "holding the node for 1 s" in proc.stderr
    report = site.report()
    assert report["failure_class"] == "WN_Resource" and report["step"] == "validate_node.py"
    assert "check_disk: " in str(report["message"])
    assert not (site.markers / "startd").exists()
    assert "c1" not in (site.markers / "order").read_text()  # a later script never ran
    results = site.work_dirs()[0] / "results"
    assert (results / "check_disk.json").exists() and not (results / "check_memory.json").exists()
    xml = ET.parse(results / "check_disk.xml").getroot()
    assert xml.findtext("result/status") == "ERROR"
    assert xml.findtext("result/metric[@name='failure']") == "WN_Resource"


def test_client_script_failure_is_vo_config(tmp_path: Path, processes: Processes) -> None:
    site = StageSite(tmp_path, processes)
    bad = tmp_path / "vo_check.py"
    bad.write_text("import sys\nprint('VO software missing')\nsys.exit(3)\n")
    site.extra = {"client": [StageFile(bad, "exec", order=50)]}
    site.stage()
    site.serve()
    proc = site.run_pilot()
    assert proc.returncode == 4, proc.stderr
    report = site.report()
    assert report["failure_class"] == "VO_Config" and "VO software missing" in str(report["message"])
    assert not (site.markers / "startd").exists()


def test_missing_file_is_network_and_nothing_runs(tmp_path: Path, processes: Processes) -> None:
    site = _site(tmp_path, processes)
    victim = next(site.stage_dir.glob("check_cvmfs.*.py"))
    victim.unlink()
    proc = site.run_pilot()
    assert proc.returncode == 2, proc.stderr
    report = site.report()
    assert report["failure_class"] == "Network" and victim.name in str(report["message"])
    assert not (site.markers / "order").exists() and not (site.markers / "startd").exists()


def test_unreachable_web_is_network(tmp_path: Path, processes: Processes) -> None:
    site = StageSite(tmp_path, processes)
    site.stage()
    site.serve()
    argv = site.pilot_argv()
    processes.stop_all()  # the web server is gone: connection refused, retried once with back-off
    argv[argv.index("-retries") + 1] = "1"
    proc = site.run_pilot(argv)
    assert proc.returncode == 2, proc.stderr
    assert "attempt 2" in proc.stderr and "cannot download" in proc.stderr


def test_sigterm_during_hold_ends_the_pilot(tmp_path: Path, processes: Processes) -> None:
    site = StageSite(tmp_path, processes)
    site.stage()
    site.serve()
    argv = site.pilot_argv(GLIDEIN_Min_Memory_MB=str(10**12))
    argv[argv.index("-hold_time") + 1] = "60"
    env = dict(os.environ, PILOT_TEST_MARKERS=str(site.markers))
    pilot = processes.start(argv, "pilot", env=env)
    wait_for(lambda: "holding the node" in processes.log("pilot"), timeout=20)
    assert processes.stop(pilot, timeout=10) == 1
    assert site.report()["failure_class"] == "WN_Resource"


def test_sigterm_before_the_startd_is_killed_not_a_site_failure(tmp_path: Path, processes: Processes) -> None:
    """Removed (SIGTERM) while it validates: class Killed, exit 6, no node hold, so the factory's
    black-hole detection never counts a pilot it (or the batch system) removed."""
    slow = tmp_path / "slow_check.py"
    slow.write_text("import time\ntime.sleep(3)\n")
    site = StageSite(tmp_path, processes)
    site.extra = {"main": [StageFile(slow, "exec", order=50)]}
    site.stage()
    site.serve()
    argv = site.pilot_argv()
    argv[argv.index("-hold_time") + 1] = "600"
    env = dict(os.environ, PILOT_TEST_MARKERS=str(site.markers))
    pilot = processes.start(argv, "pilot", env=env)
    wait_for(lambda: "slow_check" in read_log(site.state_dir, "p1"), timeout=20)
    pilot.send_signal(signal.SIGTERM)
    assert pilot.wait(30) == 6  # not held for 600 s
    report = site.report()
    assert report["failure_class"] == "Killed" and "before the startd started" in str(report["message"])


def test_log_streams_while_running_so_a_killed_pilot_leaves_its_story(
    tmp_path: Path, processes: Processes
) -> None:
    site = _site(tmp_path, processes)
    env = {"PILOT_TEST_MARKERS": str(site.markers), "PILOT_TEST_STARTD_SLEEP": "60"}
    pilot = processes.start(site.pilot_argv(), "pilot", env=env)
    wait_for(lambda: "starting startd" in read_log(site.state_dir, "p1"), timeout=20)
    os.killpg(pilot.pid, signal.SIGKILL)  # the pilot and its startd die without a word
    pilot.wait(10)
    log = read_log(site.state_dir, "p1")
    assert "verified level main" in log and "RESULT" in log
    assert not (site.state_dir / "pilots" / "p1" / "report.json").exists()


def test_periodic_scripts_rerun_and_a_periodic_failure_stops_the_startd(
    tmp_path: Path, processes: Processes
) -> None:
    site = StageSite(tmp_path, processes)
    periodic = tmp_path / "health.py"
    periodic.write_text(
        "import os\nmarks = os.path.join(os.environ['PILOT_TEST_MARKERS'], 'health')\n"
        "open(marks, 'a').write('x')\n"
        "raise SystemExit(1 if len(open(marks).read()) >= 3 else 0)\n"
    )
    site.extra = {"main": [StageFile(periodic, "exec", order=60, period=1)]}
    site.stage()
    site.serve()
    started = time.monotonic()
    proc = site.run_pilot(env={"PILOT_TEST_STARTD_SLEEP": "60"})
    assert proc.returncode == 3, proc.stderr  # Config: a main-level script failed
    assert time.monotonic() - started < 50  # the startd was stopped, not waited for
    assert (site.markers / "health").read_text() == "xxx"  # initial run + 2 periodic runs
    report = site.report()
    assert report["step"] == "health.py" and report["startd"]["exit_code"] != 0  # type: ignore[index]
    assert "periodic health" in proc.stderr


def test_untar_files_land_in_their_dir(tmp_path: Path, processes: Processes) -> None:
    import io
    import tarfile

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as archive:
        info = tarfile.TarInfo("sub/hello.txt")
        info.size = 5
        archive.addfile(info, io.BytesIO(b"hello"))
    bundle = tmp_path / "vo_data.tar.gz"
    bundle.write_bytes(raw.getvalue())
    site = StageSite(tmp_path, processes)
    site.extra = {"group": [StageFile(bundle, "untar", order=2, untar_dir="vo")]}
    site.stage()
    site.serve()
    assert site.run_pilot().returncode == 0
    work = site.work_dirs()[0]
    assert (work / "vo" / "sub" / "hello.txt").read_text() == "hello"
    assert f"GLIDEIN_UNTAR_DIR_vo {work / 'vo'}" in (work / "glidein_config").read_text()


def test_condor_mode_starts_condor_master_with_the_generated_config(
    tmp_path: Path, processes: Processes
) -> None:
    # Fast check of the wrapper path; tests/integration/condor/test_pilot_condor.py runs real HTCondor.
    # A stand-in release whose condor_master records the CONDOR_CONFIG it was started with.
    root = Path(tempfile.mkdtemp(prefix="pilot-condor-"))  # traversable by the condor account
    os.chmod(root, 0o755)
    try:
        release = root / "release"
        for name in ("condor_master", "condor_startd"):
            (release / "sbin").mkdir(parents=True, exist_ok=True)
            (release / "sbin" / name).write_text(
                '#!/bin/sh\ncp "$CONDOR_CONFIG" "$PILOT_TEST_MARKERS/condor_config"\n'
                'echo "$@" > "$PILOT_TEST_MARKERS/argv"\n'
            )
            (release / "sbin" / name).chmod(0o755)
        site = StageSite(root, processes)
        site.constants["GLIDEIN_STARTD_MODE"] = "condor"
        site.stage()
        site.serve()
        token = "tok-condor-1"
        proc = site.run_pilot(site.pilot_argv(GLIDEIN_CONDOR_RELEASE=str(release), GLIDEIN_Token=token))
        assert proc.returncode == 0, proc.stderr
        config = (site.markers / "condor_config").read_text()
        assert f"COLLECTOR_HOST = 127.0.0.1:{site.port}" in config and 'GLIDEIN_Site = "SiteA"' in config
        assert f"RELEASE_DIR = {release}" in config
        assert "START = (true) && (time() < GLIDEIN_ToRetire)" in config
        assert (site.markers / "argv").read_text().strip() == "-f"
        token_dir = site.work_dirs()[0] / "tokens.d"
        assert (token_dir / "pool.token").read_text().strip() == token
        assert token not in config
        assert site.report()["startd"]["jobs_run"] == 0  # type: ignore[index]
    finally:
        shutil.rmtree(root, ignore_errors=True)
