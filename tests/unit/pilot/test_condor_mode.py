"""condor startd mode: the release, the config knobs, root handling, the launcher's summary, staging."""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from glidein.common import classads
from glidein.factory import staging
from glidein.pilot_wrapper import glidein_startup as gs
from glidein.pilot_wrapper.scripts import condor_config as cc
from glidein.pilot_wrapper.scripts import condor_launch, startd_setup
from tests.unit.pilot.test_scripts import CONDOR_CFG


def _release(root: Path) -> Path:
    for name in ("sbin/condor_master", "sbin/condor_startd"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("#!/bin/sh\n")
        (root / name).chmod(0o755)
    return root


def _settings(**extra: str) -> dict[str, str]:
    text = startd_setup.condor_config_text(CONDOR_CFG | extra, "/w", 1_700_000_000, "/opt/condor", None)
    return dict(line.split(" = ", 1) for line in text.splitlines()[1:] if " = " in line)


def test_release_site_install_wins_over_the_stage_then_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site, staged = _release(tmp_path / "site"), _release(tmp_path / "staged")
    both = {"GLIDEIN_CONDOR_RELEASE": str(site), "GLIDEIN_UNTAR_DIR_condor": str(staged)}
    assert cc.find_release(both) == str(site)
    assert cc.find_release({"GLIDEIN_UNTAR_DIR_condor": str(staged)}) == str(staged)
    monkeypatch.setenv("PATH", str(site / "sbin"))
    assert cc.find_release({}) == str(site)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ValueError, match="no HTCondor"):
        cc.find_release({})
    with pytest.raises(ValueError, match=r"not an HTCondor release \(no sbin/condor_master"):
        cc.find_release({"GLIDEIN_CONDOR_RELEASE": str(tmp_path)})


def test_loopback_pool_gets_loopback_interface_and_no_dns() -> None:
    remote = _settings()
    assert "NETWORK_INTERFACE" not in remote and "NO_DNS" not in remote
    assert remote["CONDOR_HOST"] == "pool.example.org" and remote["TRUST_DOMAIN"] == "pool.example.org"
    local = _settings(GLIDEIN_Collector="127.0.0.1:29618")
    assert local["NETWORK_INTERFACE"] == "127.0.0.1" and local["NO_DNS"] == "True"
    assert local["COLLECTOR_HOST"] == "127.0.0.1:29618" and local["UID_DOMAIN"] == "localdomain"
    knobs = _settings(
        GLIDEIN_Collector="127.0.0.1:29618",
        GLIDEIN_Condor_Network_Interface="",
        GLIDEIN_Condor_No_DNS="false",
        GLIDEIN_Condor_Trust_Domain="pool.td",
        GLIDEIN_Condor_UID_Domain="uid.td",
    )
    assert "NETWORK_INTERFACE" not in knobs and "NO_DNS" not in knobs
    assert knobs["TRUST_DOMAIN"] == "pool.td" and knobs["UID_DOMAIN"] == "uid.td"


def test_security_allows_only_pool_daemons_and_own_account() -> None:
    own = cc.account_name(os.geteuid())
    conf = _settings(GLIDEIN_Condor_Daemon_Identities="condor@pool.td, nobody@*")
    assert conf["ALLOW_DAEMON"] == f"condor@pool.td nobody@* {own}@*" == conf["ALLOW_WRITE"]
    assert conf["ALLOW_ADMINISTRATOR"] == f"{own}@*" and conf["ALLOW_READ"] == "*"
    assert conf["SEC_DEFAULT_ENCRYPTION"] == "REQUIRED" and conf["SEC_READ_AUTHENTICATION"] == "OPTIONAL"
    assert "CONDOR_IDS" not in conf  # not root: the daemons run as the pilot's own account
    assert _settings(GLIDEIN_Pilot_ID="a/b c")["STARTD_NAME"] == "glidein_a_b_c"


def test_extra_settings_and_bad_values() -> None:
    conf = _settings(GLIDEIN_Condor_Extra="STARTER_DEBUG = D_FULLDEBUG; SLOT1.X = 1")
    assert conf["STARTER_DEBUG"] == "D_FULLDEBUG" and conf["SLOT1.X"] == "1"
    with pytest.raises(ValueError, match="not NAME = value"):
        _settings(GLIDEIN_Condor_Extra="junk")
    with pytest.raises(ValueError, match="no GLIDEIN_Collector"):
        startd_setup.condor_settings({}, "/w", 0, "/r", None)


def test_condor_ids_only_as_root() -> None:
    assert cc.condor_ids({"GLIDEIN_CONDOR_IDS": "1.1"}, 1000) is None
    assert cc.condor_ids({}, 0) == (65534, 65534)
    assert cc.condor_ids({"GLIDEIN_CONDOR_IDS": "1000.100"}, 0) == (1000, 100)
    for bad in ("nobody", "0.0", "1"):
        with pytest.raises(ValueError, match="GLIDEIN_CONDOR_IDS"):
            cc.condor_ids({"GLIDEIN_CONDOR_IDS": bad}, 0)


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory every account can traverse (pytest's tmp dirs are private to their owner)."""
    path = Path(tempfile.mkdtemp(prefix="condor_mode_"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def test_root_dirs_belong_to_the_condor_account(open_dir: Path, tmp_path: Path) -> None:
    work = open_dir / "glide_x"
    work.mkdir(mode=0o700)
    token = work / "pool.token"
    token.write_text("TOKEN\n")
    chowned: list[tuple[str, int, int]] = []
    tokens = cc.prepare_dirs(str(work), str(token), (4242, 4343), lambda p, u, g: chowned.append((p, u, g)))
    owned = {Path(p).relative_to(work).as_posix() for p, u, g in chowned if (u, g) == (4242, 4343)}
    assert {
        "condor_local",
        "condor_local/log",
        "condor_local/execute",
        "tokens.d",
        "tokens.d/pool.token",
    } <= owned
    assert stat.S_IMODE(os.stat(tokens).st_mode) == 0o700
    assert stat.S_IMODE((Path(tokens) / "pool.token").stat().st_mode) == 0o600
    assert stat.S_IMODE(work.stat().st_mode) == 0o711  # traversable, not listable
    plain = tmp_path / "plain"
    plain.mkdir(mode=0o700)
    chowned.clear()
    cc.prepare_dirs(str(plain), "", None, lambda p, u, g: chowned.append((p, u, g)))
    assert not chowned and stat.S_IMODE(plain.stat().st_mode) == 0o700
    if os.geteuid() == 0:  # a private parent is named (pytest's tmp base, or --basetemp, is 0700)
        with pytest.raises(ValueError, match=r"the condor account 4242 cannot traverse /"):
            cc.prepare_dirs(str(plain), "", (4242, 4343), lambda p, u, g: None)


def test_blocked_dirs_names_what_the_account_cannot_traverse(tmp_path: Path) -> None:
    private = tmp_path / "private"
    (private / "inner").mkdir(parents=True)
    private.chmod(0o700)
    me = os.geteuid()
    assert cc.blocked_dirs(str(private / "inner"), me, os.getegid()) == []
    blocked = cc.blocked_dirs(str(private / "inner"), me + 12345, 54321)
    assert str(private) in blocked and str(private / "inner") not in blocked


def test_setup_condor_records_config_master_and_launcher(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = _release(tmp_path / "rel")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    path = tmp_path / "glidein_config"
    cfg = CONDOR_CFG | {"GLIDEIN_WORK_DIR": str(tmp_path), "GLIDEIN_UNTAR_DIR_condor": str(release)}
    cfg["GLIDEIN_Token_File"] = str(tmp_path / "pool.token")
    (tmp_path / "pool.token").write_text("T\n")
    path.write_text("".join(f"{k} {v}\n" for k, v in cfg.items()))
    assert startd_setup.check(cfg, str(path))[0] is None
    recorded = gs.read_config(str(path))
    assert recorded["CONDOR_CONFIG"] == str(tmp_path / "condor_config")
    assert recorded["GLIDEIN_CONDOR_MASTER"] == str(release / "sbin" / "condor_master")
    assert Path(recorded["GLIDEIN_STARTD_LAUNCHER"]).name == "condor_launch.py"
    assert "GLIDEIN_CONDOR_IDS" not in recorded
    assert f"RELEASE_DIR = {release}" in (tmp_path / "condor_config").read_text()
    argv, env = gs.startd_command(recorded, str(tmp_path))
    assert argv[-2:] == [recorded["GLIDEIN_STARTD_LAUNCHER"], str(path)]
    assert env["CONDOR_CONFIG"] == recorded["CONDOR_CONFIG"]


def test_launcher_summary_counts_jobs_and_names_the_reason(tmp_path: Path) -> None:
    (tmp_path / "StartLog").write_text(
        "t slot1_1: Changing activity: Idle -> Busy\nt slot1_2: Changing activity: Idle -> Busy\n"
        "t No resources have been claimed for 20 seconds\n"
    )
    result = condor_launch.summary(str(tmp_path), 0, stopped=False)
    assert result == {"jobs_run": 2, "reason": "no claim within STARTD_NOCLAIM_SHUTDOWN", "master_exit": 0}
    assert condor_launch.summary(str(tmp_path / "none"), 4, stopped=False)["reason"] == (
        "condor_master exited with 4"
    )
    assert condor_launch.summary(str(tmp_path), 0, stopped=True)["reason"] == "SIGTERM to the pilot"


def test_launcher_names_the_lifetime_that_ended_the_startd(tmp_path: Path) -> None:
    config = tmp_path / "condor_config"
    config.write_text("GLIDEIN_ToDie = 2000\nGLIDEIN_ToRetire = 1500\n")
    log = tmp_path / "log"
    log.mkdir()
    (log / "StartLog").write_text(
        't The DaemonShutdown expression "..." evaluated to TRUE: starting graceful shutdown\n'
    )

    def reason(now: float) -> str:
        return str(condor_launch.summary(str(log), 99, False, str(config), now)["reason"])

    assert reason(1000) == "startd DAEMON_SHUTDOWN: max_idle_time"  # no job ever started
    assert reason(2001) == "startd DAEMON_SHUTDOWN: die_time"
    assert reason(1600) == "startd DAEMON_SHUTDOWN: retire_time"
    (log / "StartLog").write_text(
        "t slot1_1: Changing activity: Idle -> Busy\n" + (log / "StartLog").read_text()
    )
    assert reason(1000) == "startd DAEMON_SHUTDOWN: max_tail_time"


_TIMES = (
    "GLIDEIN_ToDie",
    "GLIDEIN_ToRetire",
    "EnteredCurrentState",
    "ExpectedMachineGracefulDrainingCompletion",
)


def _ends(times: dict[str, int], **slot: object) -> bool:
    """STARTD.DAEMON_SHUTDOWN of `lifetime_settings(times)` evaluated in a slot ad (times relative
    to now, seconds: negative = in the past)."""
    now = int(time.time())
    values: dict[str, object] = {"GLIDEIN_ToDie": 3600, "GLIDEIN_ToRetire": 1800, **slot}
    for name in _TIMES:
        if isinstance(values.get(name), int):
            values[name] = now + int(str(values[name]))
    ad = classads.from_dict(values)
    ad["DAEMON_SHUTDOWN"] = classads.expr_value(
        dict(cc.lifetime_settings("true", times))["STARTD.DAEMON_SHUTDOWN"]
    )
    return classads.eval_attr(ad, "DAEMON_SHUTDOWN") is True


def test_idle_counts_from_start_until_a_job_runs_then_tail_counts_from_the_last_job_end() -> None:
    times = {"max_idle_time": 100, "max_tail_time": 300}
    pslot = {"PartitionableSlot": True, "State": "Unclaimed", "EnteredCurrentState": -1000}
    never = pslot | {"JobStarts": 0, "NumDynamicSlots": 0, "ExpectedMachineGracefulDrainingCompletion": -1000}
    assert _ends(times, **never)  # no job within max idle of the start
    assert not _ends(times, **never | {"EnteredCurrentState": -50})
    # a job runs (claimed: the drain estimate is in the future): neither idle nor tail
    busy = pslot | {"JobStarts": 1, "NumDynamicSlots": 1, "ExpectedMachineGracefulDrainingCompletion": 600}
    assert not _ends(times, **busy)
    # the first ad after the job: no dynamic slot, the drain estimate not yet recomputed
    assert not _ends(times, **busy | {"NumDynamicSlots": 0})
    done = busy | {"NumDynamicSlots": 0, "ExpectedMachineGracefulDrainingCompletion": -120}  # ended 120 s ago
    assert not _ends(times, **done)  # max idle (100) no longer applies once a job ran
    assert _ends(times, **done | {"ExpectedMachineGracefulDrainingCompletion": -301})
    static = {"State": "Unclaimed", "JobStarts": 2, "ExpectedMachineGracefulDrainingCompletion": -301}
    assert _ends(times, **static) and not _ends(times, **static | {"State": "Claimed"})
    assert not _ends(times, **static | {"ExpectedMachineGracefulDrainingCompletion": -200})
    assert not _ends({"max_idle_time": 0, "max_tail_time": 0}, **never)  # both off
    assert _ends({"max_idle_time": 0, "max_tail_time": 0}, **busy | {"GLIDEIN_ToDie": -1})


def _tar(members: list[tarfile.TarInfo], data: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as archive:
        for info in members:
            payload = data.get(info.name, b"")
            info.size = len(payload) if info.isfile() else 0
            archive.addfile(info, io.BytesIO(payload) if info.isfile() else None)
    return raw.getvalue()


def _member(name: str, kind: bytes = tarfile.REGTYPE, mode: int = 0o644, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname = kind, mode, link
    return info


def test_safe_extract_keeps_exec_bits_and_inner_symlinks(tmp_path: Path) -> None:
    members = [
        _member("./", tarfile.DIRTYPE, 0o755),
        _member("./sbin/condor_on", mode=0o4755),
        _member("./sbin/condor_off", tarfile.SYMTYPE, link="./condor_on"),
        _member("./bin/condor_vacate", tarfile.SYMTYPE, link="../sbin/condor_on"),
    ]
    gs.safe_extract(_tar(members, {"./sbin/condor_on": b"#!/bin/sh\n"}), str(tmp_path / "c"), "hc.tar.gz")
    on = tmp_path / "c" / "sbin" / "condor_on"
    assert stat.S_IMODE(on.stat().st_mode) == 0o755  # exec kept, setuid dropped
    assert (tmp_path / "c" / "bin" / "condor_vacate").resolve() == on.resolve()
    for link in ("../../outside", "/etc/passwd"):
        bad = _tar([_member("x", tarfile.SYMTYPE, link=link)], {})
        with pytest.raises(gs.PilotFailure, match="unsafe member"):
            gs.safe_extract(bad, str(tmp_path / "bad"), "hc.tar.gz")
    through = _tar([_member("d", tarfile.SYMTYPE, link="."), _member("d/f")], {"d/f": b"1"})
    gs.safe_extract(through, str(tmp_path / "ok2"), "hc.tar.gz")  # a link to a dir inside is fine
    assert (tmp_path / "ok2" / "f").read_bytes() == b"1"


def test_condor_tarball_is_staged_untar_before_startd_setup(tmp_path: Path) -> None:
    tarball = tmp_path / "htcondor-1.2.3.tar.gz"
    tarball.write_bytes(_tar([_member("./bin/x", mode=0o755)], {"./bin/x": b"x"}))
    spec = staging.StagingSpec(stage_dir=tmp_path / "stage", web_url="http://x", condor_tarball=tarball)
    result = staging.stage(spec)
    files = json.loads((tmp_path / "stage" / result.main.descript).read_text())["files"]
    by_orig = {f["orig"]: f for f in files}
    untar = by_orig["htcondor-1.2.3.tar.gz"]
    assert (untar["kind"], untar["dir"]) == ("untar", "condor")
    assert untar["order"] < by_orig["startd_setup.py"]["order"]
    assert by_orig["condor_config.py"]["kind"] == by_orig["condor_launch.py"]["kind"] == "source"
    plain = staging.stage(staging.StagingSpec(stage_dir=tmp_path / "s2", web_url="http://x"))
    assert not any(
        f["kind"] == "untar" for f in json.loads((tmp_path / "s2" / plain.main.descript).read_text())["files"]
    )


def test_slots_layout_partitionable_or_fixed_slots_of_one_core() -> None:
    assert "SLOT_TYPE_1" not in _settings()  # unset: HTCondor's default
    one = _settings(GLIDEIN_SLOTS_LAYOUT="partitionable", GLIDEIN_CPUS="8")
    assert (one["SLOT_TYPE_1"], one["NUM_SLOTS_TYPE_1"], one["SLOT_TYPE_1_PARTITIONABLE"]) == (
        "100%",
        "1",
        "True",
    )
    fixed = _settings(GLIDEIN_SLOTS_LAYOUT="fixed", GLIDEIN_CPUS="8")
    assert (fixed["SLOT_TYPE_1"], fixed["NUM_SLOTS_TYPE_1"], fixed["SLOT_TYPE_1_PARTITIONABLE"]) == (
        "cpus=1",
        "8",
        "False",
    )
    with pytest.raises(ValueError, match="GLIDEIN_SLOTS_LAYOUT='dynamic': expected partitionable or fixed"):
        _settings(GLIDEIN_SLOTS_LAYOUT="dynamic")


def test_the_entry_s_htcondor_config_values_are_written_as_they_are() -> None:
    values = {"STARTD_DEBUG": "$(STARTD_DEBUG) D_SECURITY", "NETWORK_INTERFACE": "172.18.*"}
    written = _settings(GLIDEIN_Config_Values="NETWORK_INTERFACE,STARTD_DEBUG", **values)
    assert (written["STARTD_DEBUG"], written["NETWORK_INTERFACE"]) == (
        "$(STARTD_DEBUG) D_SECURITY",
        "172.18.*",
    )
    with pytest.raises(ValueError, match="is not a one-line config value"):
        _settings(GLIDEIN_Config_Values="BAD", BAD="a\nSTART = True")
