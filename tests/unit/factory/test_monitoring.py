"""factory/monitoring.py: gauges equal the cycle's outcomes (= the glidefactoryclient ads), counters
from the bookkeeping, entry state from downtimes and health, pilots with their reports."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from glidein.common.monitoring.model import Counts, EntryState, LogKind, PilotState
from glidein.factory.entry import ClientOutcome
from glidein.factory.health import Health
from glidein.factory.monitoring import Ended, FactoryMonitor, client_rows, ended_counts
from glidein.factory.pilot_states import PilotState as S
from glidein.factory.state import NewPilot, PilotStore
from glidein.factory.worker import EntryResult


def test_ended_counts_sum_per_entry_and_client() -> None:
    ended = [
        Ended("e1", "fe.a", True, False, 0.0),
        Ended("e1", "fe.a", False, True, 3.4),
        Ended("e1", "fe.b", False, True, 1.2),
        Ended("e2", "fe.a", True, False, 10.6),
    ]
    counts = ended_counts(ended)
    assert counts[("e1", "fe.a")] == Counts(pilots_completed=1, validation_failures=1, waste_seconds=3)
    assert counts[("e2", "fe.a")].waste_seconds == 11 and len(counts) == 3


def test_client_rows_take_the_advertised_numbers_and_add_counters() -> None:
    outcome = ClientOutcome("fe.a", idle=3, running=2, held=1, req_idle=5, req_max=9, limit="max_per_cycle")
    rows = client_rows(
        [outcome], {"fe.a": Counts(pilots_completed=4), "fe.old": Counts(waste_seconds=7)}, {"fe.a": 5}
    )
    by_name = {r.client: r for r in rows}
    a = by_name["fe.a"].counts
    assert (a.pilots_idle, a.pilots_running, a.pilots_held, a.requested_idle, a.requested_max) == (
        3,
        2,
        1,
        5,
        9,
    )
    assert a.pilots_pending == 3 and a.pilots_completed == 4 and by_name["fe.a"].limit == "max_per_cycle"
    assert by_name["fe.old"].counts == Counts(waste_seconds=7)
    none = client_rows([ClientOutcome("fe.a", 0, 0, 0, 0, 0)], {}, {})
    assert none[0].limit == ""


def _entry(name: str) -> SimpleNamespace:
    return SimpleNamespace(
        name=name, attrs={"GLIDEIN_Site": SimpleNamespace(value=f"S_{name}")}, downtimes=[]
    )


def test_record_writes_snapshot_with_states_counters_and_pilots(tmp_path: Path) -> None:
    store = PilotStore(tmp_path / "factory.db")
    ids = store.record_new(NewPilot("e1", "fe.a", "sc", "c"), 3, 100.0)
    store.set_backend_ids({i: i for i in ids}, 101.0)
    store.move_many([(i, S.RUNNING, "seen") for i in ids], 110.0)
    store.move_many(
        [(ids[0], S.COMPLETED, "done"), (ids[1], S.FAILED, "exit")], 150.0, exit_codes={ids[1]: 1}
    )
    report = tmp_path / "pilots" / ids[0]
    report.mkdir(parents=True)
    (report / "report.json").write_text(json.dumps({"status": "success", "startd": {"jobs_run": 2}}))
    (report / "log.txt").write_text("log")
    cfg = SimpleNamespace(monitoring=SimpleNamespace(enabled=True, dir=None, step=10, pilots_listed=10))
    mon = FactoryMonitor(cfg, store.conn, tmp_path)
    result = EntryResult("e1", clients=[ClientOutcome("fe.a", 0, 1, 0, 2, 4)])
    health = {"e2": Health(blocked_until=1e12, reason="5 of the last 5 pilots failed")}
    mon.record([_entry("e1"), _entry("e2")], [result], health, [], 200.0)
    mon.flush(30)  # the RRD files are written in a thread
    snap = json.loads((tmp_path / "monitor" / "factory" / "snapshot.json").read_text())
    assert (tmp_path / "monitor" / "factory" / "entries").is_dir()
    entries = {e["name"]: e for e in snap["entries"]}
    assert entries["e2"]["state"] == EntryState.BLOCKED and "5 of the last 5" in entries["e2"]["reason"]
    counts = entries["e1"]["clients"][0]["counts"]
    assert counts["pilots_running"] == 1 and counts["pilots_completed"] == 1
    assert counts["validation_failures"] == 1 and counts["waste_seconds"] == 40  # the failed one ran no job
    pilots = {p["pilot_id"]: p for p in snap["pilots"]}
    assert pilots[ids[0]]["jobs_run"] == 2 and pilots[ids[0]]["validation_ok"] is True
    assert pilots[ids[0]]["logs"] == [LogKind.LOG] and pilots[ids[2]]["state"] == PilotState.RUNNING
    store.close()


def test_backend_output_is_linked_as_the_pilots_stdout(tmp_path: Path) -> None:
    from glidein.common.monitoring.model import LogKind
    from glidein.factory.monitoring import backend_outputs, link_output

    local = SimpleNamespace(name="e1", submitter=SimpleNamespace(type="local", work_dir=None))
    slurm = SimpleNamespace(name="e2", submitter=SimpleNamespace(type="slurm", work_dir=tmp_path / "s"))
    condor = SimpleNamespace(name="e3", submitter=SimpleNamespace(type="htcondor", log_dir=None))
    out = backend_outputs(local, tmp_path, "p1")[LogKind.STDOUT]
    assert out == tmp_path / "local" / "e1" / "jobs" / "p1" / "pilot.log"
    assert backend_outputs(slurm, tmp_path, "p2") == {LogKind.STDOUT: tmp_path / "s" / "p2.out"}
    assert backend_outputs(condor, tmp_path, "p") == {
        LogKind.STDOUT: tmp_path / "condor" / "e3" / "p.out",
        LogKind.STDERR: tmp_path / "condor" / "e3" / "p.err",
    }
    assert backend_outputs(SimpleNamespace(name="e4", submitter=None), tmp_path, "p") == {}
    assert not link_output(tmp_path / "pilots" / "p1", LogKind.STDOUT, out)  # no output yet
    out.parent.mkdir(parents=True)
    out.write_text("pilot says hello\n")
    assert link_output(tmp_path / "pilots" / "p1", LogKind.STDOUT, out)
    assert link_output(tmp_path / "pilots" / "p1", LogKind.STDOUT, out)
    assert (tmp_path / "pilots" / "p1" / "stdout.txt").read_text() == "pilot says hello\n"
