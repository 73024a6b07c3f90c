"""Relay kind `glidein` end to end, as the factory's relay monitor drives it: the relay deployed
as a job of the entry's local site (a real `glidein schedd` in relay mode, started by the site's
runner), found by its ad on a real `glidein collector`, pilots through it to the same site;
the relay killed -9 and deployed again: every pilot runs, once. Once more on the session Slurm."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from glidein.common.config.entry import LocalSubmitter as LocalParams
from glidein.common.config.entry import SlurmSubmitter as SlurmParams
from glidein.factory.pilot_states import PilotState
from glidein.factory.submitters.base import PilotRef, PilotSpec
from glidein.factory.submitters.relay import RelaySubmitter
from glidein.pool.schedd.relay_kind import GlideinRelay
from tests.procs import Processes, free_port, wait_for, wait_for_port

S = PilotState
ENTRY = "site_a"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "site"
    for pid_file in (tmp_path / "site").rglob("pid"):  # the site's runners pass SIGTERM on
        with contextlib.suppress(ProcessLookupError, ValueError, OSError):
            os.kill(int(pid_file.read_text()), signal.SIGTERM)


def _entry(tmp_path: Path, site: Path, collector: str) -> Any:
    relay = SimpleNamespace(
        collector=collector,
        lifetime=3600,
        update_interval=1,
        slurm_conf=None,
        relay_dir=lambda name: str(tmp_path / f"relay-{name}"),
    )
    submitter = LocalParams(slots=8, work_dir=str(site))
    return SimpleNamespace(
        name=ENTRY, submitter=submitter, relay=relay, limits=SimpleNamespace(max_per_cycle=3)
    )


def _pilot(pilot_id: str, runs: Path) -> PilotSpec:
    mark = runs / pilot_id
    code = (
        f"import os, time; os.makedirs({str(mark)!r}, exist_ok=True);"
        f" open({str(mark)!r} + '/' + str(os.getpid()), 'w').close(); time.sleep(1)"
    )
    return PilotSpec(pilot_id, ENTRY, "fe.main", [sys.executable, "-c", code])


def _live(kind: GlideinRelay, job: str) -> RelaySubmitter:
    """Once the relay job runs, advertises and answers: the submitter through it."""
    found: list[Any] = []

    def up() -> bool:
        if (kind.jobs() or {}).get(job) != 2:
            return False
        ad = kind.find()
        if ad is None or not ad.name.startswith(job) or not kind.answers(ad):
            return False
        found[:] = [ad]
        return True

    wait_for(up, timeout=60, interval=0.5)
    return kind.submitter(found[0].name)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _ended(sub: RelaySubmitter, ids: list[str]) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def done() -> bool:
        seen.update(sub.status([PilotRef(i, "") for i in ids]))
        return all(i in seen and seen[i].state in (S.COMPLETED, S.FAILED) for i in ids)

    wait_for(done, timeout=90, interval=0.5)
    return seen


def _relay_pid(job: str) -> int:
    """The relay process of the relay job `job` (its `--name` is `<job>@<host>`)."""
    for entry in Path("/proc").iterdir():
        line = _cmdline(int(entry.name)) if entry.name.isdigit() else b""
        if b"glidein.cli\0schedd\0" in line and f"\0{job}@".encode() in line:
            return int(entry.name)
    raise AssertionError(f"no relay process of {job}")


def _deploy_kill_redeploy(kind: GlideinRelay, runs: Path) -> None:
    first = kind.deploy()
    try:
        sub = _live(kind, first)
        wave1 = [f"a{n}" for n in range(4)]
        assert sorted(sub.submit([_pilot(i, runs) for i in wave1])) == wave1
        assert all(st.state == S.COMPLETED for st in _ended(sub, wave1).values())
        assert sub.relay_name.startswith(first)
        # pilots waiting in the relay (3 per cycle) when it is killed -9
        wave2 = [f"b{n}" for n in range(8)]
        relay_pid = _relay_pid(first)
        sub.submit([_pilot(i, runs) for i in wave2])
        os.kill(relay_pid, signal.SIGKILL)
        wait_for(lambda: (kind.jobs() or {}).get(first) == 4, timeout=60)  # its job ended: redeploy
        second = kind.deploy()
        assert second != first
        sub2 = _live(kind, second)
        seen = _ended(sub2, wave1 + wave2)
        everyone = wave1 + wave2
        assert {i: seen[i].state for i in everyone} == dict.fromkeys(everyone, S.COMPLETED)
        assert {i: len(list((runs / i).iterdir())) for i in everyone} == dict.fromkeys(everyone, 1)
        assert all(seen[i].backend_id.startswith(second) for i in wave2)  # status through the new relay
        log = Path(getattr(kind.backend, "stdout_path")(second)).read_text()  # noqa: B009 - not in Submitter
        assert 0 < log.count("handed to the backend") <= len(wave2)  # pilots waiting in the killed relay
    finally:
        kind.remove(kind._known())  # the relays still running, by their jobs


def test_glidein_relay_deployed_killed_and_redeployed(
    processes: Processes, tmp_path: Path, site: Path
) -> None:
    port = free_port()
    processes.glidein(["collector", "--port", str(port)], "collector")
    wait_for_port(port)
    kind = GlideinRelay(_entry(tmp_path, site, f"127.0.0.1:{port}"), "fact1", tmp_path / "factory")
    _deploy_kill_redeploy(kind, tmp_path / "runs")


@pytest.mark.slurm
def test_glidein_relay_on_slurm(
    processes: Processes, tmp_path: Path, slurm_conf: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLURM_CONF", slurm_conf)
    port = free_port()
    processes.glidein(["collector", "--port", str(port)], "collector")
    wait_for_port(port)
    out_dir = tmp_path / "slurm"
    out_dir.mkdir()
    entry = _entry(tmp_path, out_dir, f"127.0.0.1:{port}")
    entry.submitter = SlurmParams(work_dir=str(out_dir), time_limit=10)
    entry.relay.slurm_conf = slurm_conf
    kind = GlideinRelay(entry, "fact1", tmp_path / "factory")
    _deploy_kill_redeploy(kind, tmp_path / "runs")
