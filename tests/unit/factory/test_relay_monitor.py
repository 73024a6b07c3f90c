"""The relay monitor's loop over a fake relay kind: what it calls, what it logs, what it keeps; the
worker's route (pilots only through a live relay); the relay's generated files and config checks."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from glidein.common.config import ConfigProblems, load_factory_config
from glidein.common.errors import SubmitError
from glidein.factory.relay import state as store
from glidein.factory.relay.decide import RelayAd
from glidein.factory.relay.kinds import Route
from glidein.factory.relay.monitor import RelayMonitor
from glidein.factory.relay.route import relay_route
from glidein.factory.relay.state import Phase
from glidein.pool.condor import relay as relay_files

ETC = Path(__file__).resolve().parents[3] / "etc"


class FakeKind:
    """A relay on a fake head node: jobs by id, one relay that answers or not."""

    def __init__(self) -> None:
        self.queue: dict[str, int] = {}
        self.up = False
        self.refuse = False
        self.deployed: list[str] = []
        self.removed: list[str] = []

    def jobs(self) -> Mapping[str, int] | None:
        return dict(self.queue)

    def find(self) -> RelayAd | None:
        return RelayAd("relay-e1@head", last_heard=self.now - 1) if self.up else None

    def answers(self, ad: RelayAd) -> bool:
        return self.up

    def deploy(self) -> str:
        if self.refuse:
            raise SubmitError("entry e1: relay job refused: schedd down")
        job = f"{len(self.deployed) + 1}.0"
        self.deployed.append(job)
        self.queue[job] = 2
        return job

    def remove(self, job_ids: Sequence[str]) -> None:
        self.removed += job_ids
        for job in job_ids:
            self.queue[job] = 3

    def route(self, name: str) -> Route:
        return Route(name, {"grid_resource": f"condor {name} collector"})

    now = 0.0


class Entry:
    def __init__(self, **relay: Any) -> None:
        from glidein.common.config.relay import Relay

        self.name, self.relay = "e1", Relay(**{"backoff": 10, "update_interval": 5, **relay})


def monitor(tmp_path: Path, kind: FakeKind, clock: list[float]) -> RelayMonitor:
    def now() -> float:
        kind.now = clock[0]
        return clock[0]

    return RelayMonitor(tmp_path, "f1", kinds=lambda *_: kind, clock=now)


def test_deploy_live_kill_redeploy_then_backoff(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    kind, clock, entry = FakeKind(), [100.0], Entry()
    mon = monitor(tmp_path, kind, clock)
    caplog.set_level(logging.INFO, logger="glidein.factory.relay")
    mon.tick([entry])
    assert kind.deployed == ["1.0"] and caplog.messages[-1].endswith("new_job=1.0")
    mon.tick([entry])  # on its way: nothing done, nothing said
    assert kind.deployed == ["1.0"] and len(caplog.messages) == 1
    kind.up = True
    clock[0] = 110.0
    assert mon.tick([entry])["e1"].phase == Phase.LIVE
    kind.up = False  # killed -9
    mon.tick([entry])
    mon.tick([entry])
    assert kind.removed == ["1.0"] and kind.deployed == ["1.0", "2.0"]  # within 2 cycles, once
    assert [m.split(" action=")[1].split()[0] for m in caplog.messages] == ["deploy", "live", "failed"]
    kind.queue["2.0"] = 4  # the new one dies before it comes up: a second failure, back-off
    mon.tick([entry])
    assert kind.deployed == ["1.0", "2.0"] and "retry_in=10s" in caplog.messages[-1]
    clock[0] = 121.0
    mon.tick([entry])
    assert kind.deployed == ["1.0", "2.0", "3.0"]
    saved = store.load(tmp_path, "e1", "condor")
    assert (saved.phase, saved.job_id, saved.deploys, saved.failures) == (Phase.DEPLOYING, "3.0", 3, 2)


def test_a_refused_deployment_waits_and_is_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kind, clock, entry = FakeKind(), [0.0], Entry()
    kind.refuse = True
    mon = monitor(tmp_path, kind, clock)
    caplog.set_level(logging.INFO, logger="glidein.factory.relay")
    state = mon.tick([entry])["e1"]
    assert state.phase == Phase.DOWN and state.next_deploy == 10.0
    assert "action=deploy_failed" in caplog.messages[-1] and "schedd down" in caplog.messages[-1]
    count = len(caplog.messages)
    mon.tick([entry])
    assert len(caplog.messages) == count  # waiting: no line
    kind.refuse, clock[0] = False, 10.0
    mon.tick([entry])
    assert kind.deployed == ["1.0"]


def test_force_deploys_during_a_backoff_but_never_beside_a_live_relay(tmp_path: Path) -> None:
    kind, clock, entry = FakeKind(), [0.0], Entry()
    kind.refuse = True
    mon = monitor(tmp_path, kind, clock)
    mon.tick([entry])
    kind.refuse = False
    assert mon.step(entry, force=True).phase == Phase.DEPLOYING and kind.deployed == ["1.0"]
    kind.up = True
    mon.step(entry, force=True)
    assert mon.step(entry, force=True).phase == Phase.LIVE and kind.deployed == ["1.0"]


def test_disabled_relays_and_entries_without_one_are_left_alone(tmp_path: Path) -> None:
    kind = FakeKind()
    plain = Entry()
    plain.relay = None  # type: ignore[assignment]
    disabled_entry = Entry()
    disabled_entry.enabled = False  # type: ignore[attr-defined]
    assert monitor(tmp_path, kind, [0.0]).tick([plain, Entry(enabled=False), disabled_entry]) == {}
    assert kind.deployed == []


class Submitter:
    def __init__(self) -> None:
        self.routes: list[Mapping[str, str] | None] = []

    def submit(self, pilots: Sequence[Any], route: Mapping[str, str] | None = None) -> dict[str, str]:
        self.routes.append(route)
        return {p: f"{n}.0" for n, p in enumerate(pilots)}

    def status_key(self) -> str:
        return "inner"


class Pilots:
    def __init__(self) -> None:
        self.relays: dict[str, str] = {}

    def set_relay(self, ids: Sequence[str], relay: str) -> None:
        self.relays.update(dict.fromkeys(ids, relay))


def test_pilots_go_only_through_a_live_relay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kind, entry, inner, pilots = FakeKind(), Entry(), Submitter(), Pilots()
    monkeypatch.setattr("glidein.factory.relay.route.relay_kind", lambda *_: kind)
    same, why = relay_route(entry, "f1", str(tmp_path), inner, pilots)
    assert same is inner and why == "no live relay (absent)"
    store.save(tmp_path, store.RelayState("e1", phase=Phase.LIVE, name="relay-e1@head"))
    via, why = relay_route(entry, "f1", str(tmp_path), inner, pilots)
    assert why == "" and via.status_key() == "inner"  # status etc. unchanged
    assert via.submit(["p1", "p2"]) == {"p1": "0.0", "p2": "1.0"}
    assert inner.routes == [{"grid_resource": "condor relay-e1@head collector"}]
    assert pilots.relays == {"p1": "relay-e1@head", "p2": "relay-e1@head"}
    store.save(tmp_path, store.RelayState("e1", phase=Phase.DOWN, reason="its job ended"))
    fallback = Entry(fallback=True)
    assert relay_route(fallback, "f1", str(tmp_path), inner, pilots) == (inner, "")
    assert relay_route(entry, "f1", str(tmp_path), inner, pilots)[1] == "no live relay (down: its job ended)"


def test_relay_files_name_the_relay_and_limit_its_life(tmp_path: Path) -> None:
    cfg = relay_files.RelayConfig("e1", "f1", "127.0.0.1:9618", 600, slurm_conf="/etc/slurm.conf")
    written = relay_files.write_files(tmp_path, cfg)
    text = written[relay_files.CONFIG_FILE].read_text()
    for line in (
        "SCHEDD_NAME = relay-e1",
        "COLLECTOR_HOST = 127.0.0.1:9618",
        'GlideinRelayEntry = "e1"',
        'GlideinRelayFactory = "f1"',
        "is_glidein = true",
        "MASTER.DAEMON_SHUTDOWN = (time() - DaemonStartTime) > 600",
        "LOCAL_DIR = $ENV(GLIDEIN_RELAY_DIR)/local",
    ):
        assert line in text.splitlines()
    assert "SLURM_CONF=/etc/slurm.conf" in text and "is_glidein GlideinRelayEntry" in text
    script = written[relay_files.SCRIPT_FILE]
    assert script.stat().st_mode & 0o111 and "flock -w 300 9" in script.read_text()
    assert "@" not in script.read_text().replace("$@", "")


def factory_problems(
    tmp_path: Path, relay: dict[str, Any], submitter: dict[str, Any] | None = None
) -> list[str]:
    data = yaml.safe_load((ETC / "factory.yaml").read_text())
    entry = data["entries"][0]
    entry["submitter"] = submitter or {
        "type": "htcondor",
        "grid_resource": "condor ce.example.org ce.example.org:9619",
        "collector": "wms.example.org:9618",
    }
    entry["relay"] = relay
    path = tmp_path / "factory.yaml"
    path.write_text(yaml.safe_dump(data))
    try:
        load_factory_config(path)
    except ConfigProblems as exc:
        return list(exc.lines)
    return []


def test_relay_config_errors_name_their_path(tmp_path: Path) -> None:
    assert factory_problems(tmp_path, {"lifetime": 3600}) == []
    (bad,) = factory_problems(tmp_path, {"forward": "condor ce"})
    assert "entries[0].relay.forward" in bad and "batch <lrms>" in bad
    (bad,) = factory_problems(tmp_path, {"dir": "relative/dir"})
    assert "entries[0].relay.dir" in bad and "absolute path" in bad
    (bad,) = factory_problems(tmp_path, {}, {"type": "local"})
    assert "entries[0].relay.kind" in bad and "htcondor submitter" in bad
    no_collector = {"type": "htcondor", "grid_resource": "condor ce.example.org ce.example.org:9619"}
    (bad,) = factory_problems(tmp_path, {}, no_collector)
    assert "entries[0].relay.collector" in bad


def test_cli_names_an_entry_without_relay_in_one_line(tmp_path: Path) -> None:
    from tests.procs import run_glidein

    data = yaml.safe_load((ETC / "factory.yaml").read_text())
    data["state_dir"] = str(tmp_path / "state")
    path = tmp_path / "factory.yaml"
    path.write_text(yaml.safe_dump(data))
    name = data["entries"][0]["name"]
    done = run_glidein(["factory", "relay", "deploy", name, "--config", str(path)])
    assert done.returncode != 0 and done.stderr.strip().count("\n") == 0
    assert f"no enabled entry {name!r} with a relay" in done.stderr
    assert (
        run_glidein(["factory", "relay", "status", "--config", str(path)]).stdout == "no entry has a relay\n"
    )


def test_condor_relay_job_goes_by_the_entry_route_into_the_local_universe(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from glidein.common.config.entry import HTCondorSubmitter
    from glidein.common.config.relay import Relay
    from glidein.factory.relay.condor import CondorRelay

    params = HTCondorSubmitter(
        grid_resource="condor ce@ce.example.org ce.example.org:9619",
        collector="wms.example.org:9618",
        log_dir=str(tmp_path / "logs"),
        submit_attrs={"+remote_JobUniverse": "9"},  # the pilots' route, not the relay's
    )
    relay = Relay(dir="/var/lib/relay", release_dir="/opt/condor", submit_attrs={"+maxWallTime": "1440"})
    kind = CondorRelay(SimpleNamespace(name="e1", submitter=params, relay=relay), "f1", tmp_path)
    desc = kind.description(kind._files())
    assert desc["grid_resource"] == "condor ce@ce.example.org ce.example.org:9619"
    assert (desc["universe"], desc["+remote_JobUniverse"], desc["+maxWallTime"]) == ("grid", "12", "1440")
    assert desc["arguments"] == "/opt/condor /var/lib/relay"
    assert desc["+GlideinRelayEntry"] == '"e1"' and desc["+GlideinRelayFactory"] == '"f1"'
    assert desc["executable"] == str(tmp_path / "logs" / "relay" / relay_files.SCRIPT_FILE)
    assert (
        "COLLECTOR_HOST = wms.example.org:9618" in (tmp_path / "logs" / "relay" / "relay_config").read_text()
    )
    route = kind.route("relay-e1@head.example.org")
    assert route.relay == "relay-e1@head.example.org"
    assert route.submit == {
        "grid_resource": "condor relay-e1@head.example.org wms.example.org:9618",
        "+remote_JobUniverse": "9",
        "+remote_GridResource": '"batch slurm"',
        "+GlideinRelay": '"relay-e1@head.example.org"',
    }
