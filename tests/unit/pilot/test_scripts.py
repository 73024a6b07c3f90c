"""The staged scripts: each check's verdict and class, result JSON + OSG XML, startd set-up."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from glidein.common.classads import parse_expr
from glidein.factory.staging import SCRIPTS_DIR
from glidein.pilot_wrapper.scripts import (
    check_cpus,
    check_cvmfs,
    check_disk,
    check_memory,
    check_network,
    check_python,
    check_scratch,
    startd_setup,
)
from tests.procs import free_port

GOLDEN = Path(__file__).parent / "golden"
CONDOR_CFG = {
    "GLIDEIN_Collector": "pool.example.org:9618",
    "GLIDEIN_Schedd": "http://schedd.example.org:8080",
    "GLIDEIN_Token_File": "/w/pool.token",
    "GLIDEIN_CPUS": "8",
    "GLIDEIN_MaxMemMBs": "16000",
    "GLIDEIN_Site": "SiteA",
    "GLIDEIN_Entry_Name": "ce1",
    "GLIDEIN_Factory": "f1",
    "GLIDEIN_Name": "g1",
    "GLIDEIN_Client": "fe.main",
    "GLIDEIN_Pilot_ID": "p42",
    "GLIDEIN_Start": 'TARGET.Owner =!= "bad"',
    "GLIDEIN_Retire_Time": "3600",
    "GLIDEIN_Die_Time": "7200",
    "GLIDEIN_Max_Idle": "600",
    "GLIDEIN_Max_Tail": "300",
    "GLIDEIN_STARTD_MODE": "condor",
}


def _config(tmp_path: Path, **values: str) -> tuple[dict[str, str], str]:
    path = tmp_path / "glidein_config"
    values = {"GLIDEIN_WORK_DIR": str(tmp_path)} | values
    path.write_text("".join(f"{k} {v}\n" for k, v in values.items()))
    return values, str(path)


def test_disk_memory_cpus_python_thresholds(tmp_path: Path) -> None:
    cfg, path = _config(tmp_path)
    for check in (check_disk, check_memory, check_cpus, check_python, check_scratch, check_cvmfs):
        assert check.check(cfg, path)[0] is None, check.__name__
    recorded = (tmp_path / "glidein_config").read_text()
    assert "GLIDEIN_Disk_Free_MB" in recorded and "GLIDEIN_Usable_CPUS" in recorded
    assert check_disk.check(_config(tmp_path, GLIDEIN_Min_Disk_MB="1e12")[0], path)[0] == "WN_Resource"
    assert check_memory.check(_config(tmp_path, GLIDEIN_Min_Memory_MB="1e12")[0], path)[0] == "WN_Resource"
    assert check_cpus.check(_config(tmp_path, GLIDEIN_CPUS="4096")[0], path)[0] == "WN_Resource"
    assert check_python.check(_config(tmp_path, GLIDEIN_Min_Python="99.0")[0], path)[0] == "WN_Resource"
    missing = _config(tmp_path, GLIDEIN_Require_CVMFS="cms.cern.ch", GLIDEIN_CVMFS_Root=str(tmp_path))[0]
    assert check_cvmfs.check(missing, path)[0] == "WN_Resource"


def test_scratch_not_writable(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    cfg, path = _config(tmp_path, GLIDEIN_Scratch_Dir=str(locked / "missing"))
    failure, detail, _ = check_scratch.check(cfg, path)
    assert failure == "WN_Resource" and "missing" in detail


def test_network_reaches_a_listener_and_names_what_it_cannot(tmp_path: Path) -> None:
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        cfg, path = _config(
            tmp_path, GLIDEIN_Collector=f"127.0.0.1:{port}", GLIDEIN_Schedd=f"http://127.0.0.1:{port}"
        )
        assert check_network.check(cfg, path)[0] is None
    dead = free_port()
    cfg, path = _config(
        tmp_path,
        GLIDEIN_Collector=f"127.0.0.1:{dead}",
        GLIDEIN_Network_Timeout="2",
        GLIDEIN_Network_Retry="0",
    )
    failure, detail, _ = check_network.check(cfg, path)
    assert failure == "Network" and f"GLIDEIN_Collector 127.0.0.1:{dead}" in detail


def test_network_check_waits_for_a_restarting_schedd(tmp_path: Path) -> None:
    """A schedd down for 2 s (a restart) is reached on a later attempt, not a Network failure."""
    port = free_port()
    server = socket.socket()

    def come_back() -> None:
        time.sleep(2.0)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", port))
        server.listen(4)

    thread = threading.Thread(target=come_back)
    thread.start()
    try:
        cfg, path = _config(tmp_path, GLIDEIN_Schedd=f"http://127.0.0.1:{port}", GLIDEIN_Network_Retry="20")
        failure, detail, _ = check_network.check(cfg, path)
        assert failure is None and "attempts)" in detail
    finally:
        thread.join()
        server.close()


def test_script_run_writes_json_and_osg_xml(tmp_path: Path) -> None:
    _, path = _config(tmp_path, GLIDEIN_Min_Disk_MB="bogus")
    result = tmp_path / "check_disk.json"
    env = dict(os.environ, GLIDEIN_RESULT_FILE=str(result), PYTHONPATH=str(SCRIPTS_DIR))
    proc = subprocess.run(
        [sys.executable, str(SCRIPTS_DIR / "check_disk.py"), path], env=env, capture_output=True, check=False
    )
    assert proc.returncode == 1
    record = json.loads(result.read_text())
    assert record["status"] == "ERROR" and record["failure"] == "Config"
    assert "GLIDEIN_Min_Disk_MB='bogus' is not a number" in record["detail"]
    xml = ET.parse(tmp_path / "check_disk.xml").getroot()
    assert xml.get("id") == "check_disk" and xml.findtext("result/status") == "ERROR"
    assert xml.findtext("result/metric[@name='failure']") == "Config"


def test_condor_config_matches_golden_file() -> None:
    text = startd_setup.condor_config_text(CONDOR_CFG, "/w", 1_700_000_000, "/opt/condor", (65534, 65534))
    assert text == (GOLDEN / "condor_config.txt").read_text()
    for line in text.splitlines():
        name, _, value = line.partition(" = ")
        if name in ("START", "STARTD.DAEMON_SHUTDOWN", "MASTER.DAEMON_SHUTDOWN"):
            parse_expr(value)  # valid ClassAd expressions


def test_startd_json_follows_contract_6(tmp_path: Path) -> None:
    extra = {"GLIDEIN_Startd_Attrs": "X_Flag", "X_Flag": "true"}
    conf = startd_setup.startd_json(CONDOR_CFG | extra, "/w", "h")
    assert conf["name"] == "glidein_p42@h" and conf["cpus"] == 8 and conf["memory_mb"] == 16000
    assert conf["attrs"]["GLIDEIN_Site"] == '"SiteA"' and conf["attrs"]["X_Flag"] == "true"
    assert (conf["retire_time"], conf["die_time"], conf["max_idle_time"], conf["max_tail_time"]) == (
        3600,
        7200,
        600,
        300,
    )
    with pytest.raises(ValueError, match="no GLIDEIN_Collector"):
        startd_setup.startd_json({"GLIDEIN_Schedd": "http://x"}, "/w", "h")


def _validate(tmp_path: Path, **values: str) -> tuple[int, dict[str, object]]:
    _, path = _config(tmp_path, GLIDEIN_RESULTS_DIR=str(tmp_path), **values)
    result = tmp_path / "validate_node.json"
    env = dict(os.environ, GLIDEIN_RESULT_FILE=str(result), PYTHONPATH=str(SCRIPTS_DIR))
    argv = [sys.executable, "-S", str(SCRIPTS_DIR / "validate_node.py"), path]
    proc = subprocess.run(argv, env=env, capture_output=True, check=False)
    return proc.returncode, json.loads(result.read_text())


def test_validate_node_runs_the_chosen_checks_and_stops_at_the_first_failure(tmp_path: Path) -> None:
    code, record = _validate(tmp_path, GLIDEIN_Validation_Checks="check_python, check_scratch")
    assert code == 0 and record["detail"] == "2 checks passed"
    code, record = _validate(tmp_path, GLIDEIN_Min_Memory_MB="1e12")
    assert code == 1 and record["failure"] == "WN_Resource"
    assert str(record["detail"]).startswith("check_memory:")
    ran = [c["id"] for c in record["metrics"]["checks"]]  # type: ignore[index]
    assert ran == ["check_python", "check_disk", "check_memory"]
    assert (tmp_path / "check_memory.xml").exists() and not (tmp_path / "check_cpus.json").exists()
    code, record = _validate(tmp_path, GLIDEIN_Validation_Checks="../evil")
    assert code == 1 and record["failure"] == "Config" and "bad check name" in str(record["detail"])
