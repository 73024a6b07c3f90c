"""The pilot command line every submitter gets: per-entry hold time and default lifetimes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from glidein.common.config import load_factory_config
from glidein.common.errors import SubmitError
from glidein.factory.entry import ClientRequest
from glidein.factory.requests import ValidRequest
from glidein.factory.state import PilotStore
from glidein.factory.submitters.base import PilotSpec
from glidein.factory.submitters.htcondor_desc import item
from glidein.factory.submitters.local import LocalSubmitter
from glidein.factory.submitters.slurm import batch_script
from glidein.factory.worker import EntryResult, EntryTask, PilotContext, _submit, pilot_argv, pilot_command
from tests.factory_support import local_entry, write_factory

CTX = PilotContext("f1", "g", "python3", "/stage/glidein_startup.py", {})


def entry_with(tmp: Path, **pilot: Any) -> Any:
    entry = local_entry("e1")
    if pilot:
        entry["pilot"] = pilot
    return load_factory_config(write_factory(tmp, [entry]).config).entries[0]


def request(**params: str) -> ValidRequest:
    req = ClientRequest("fe1.main", "fe1", "frontend", 1, 10)
    return ValidRequest("e1@g@f1", "e1@g@f1@fe1.main", req, "main", 1, "sig", 0.0, dict(params))


def option(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def test_hold_time_default_and_per_entry(tmp_path: Path) -> None:
    assert option(pilot_argv(CTX, entry_with(tmp_path / "a"), request(), "p1"), "-hold_time") == "1200"
    argv = pilot_argv(CTX, entry_with(tmp_path / "b", hold_time=30), request(), "p1")
    assert option(argv, "-hold_time") == "30"


def test_entry_lifetimes_are_defaults_the_request_overrides(tmp_path: Path) -> None:
    entry = entry_with(tmp_path, retire_time=600, max_idle=300)
    argv = pilot_argv(CTX, entry, request(GLIDEIN_Max_Idle="60"), "p1")
    assert option(argv, "-param_GLIDEIN_Retire_Time") == "600"
    assert option(argv, "-param_GLIDEIN_Max_Idle") == "60"  # the frontend asked for less
    assert option(argv, "-param_GLIDEIN_Die_Time") is None  # unset: the wrapper's own default


def test_every_submitter_passes_hold_time(tmp_path: Path) -> None:
    entry = entry_with(tmp_path / "cfg", hold_time=7)
    spec = PilotSpec("p1", "e1", "fe1.main", pilot_argv(CTX, entry, request(), "p1"))
    local = LocalSubmitter("e1", SimpleNamespace(work_dir=None, queue_wait=3600.0), tmp_path / "w")
    local.submit([spec])
    job = json.loads((tmp_path / "w" / "local" / "e1" / "jobs" / "p1" / "job.json").read_text())
    assert option(job["argv"], "-hold_time") == "7"
    assert " -hold_time 7 " in batch_script(spec, tmp_path / "p1.exit")
    assert " -hold_time 7 " in item(spec)[0]["GlideinArgs"]


class TimingOut:
    """A backend whose submit timed out for the first pilot (maybe queued) and refused the rest."""

    def __init__(self) -> None:
        self.uncertain: set[str] = set()

    def submit(self, specs: Sequence[PilotSpec]) -> dict[str, str]:
        self.uncertain.add(specs[0].pilot_id)
        raise SubmitError("sbatch timed out after 20 s")


def test_uncertain_submissions_stay_new_for_reconcile(tmp_path: Path) -> None:
    entry = entry_with(tmp_path / "cfg")
    store = PilotStore(tmp_path / "f.db")
    task = EntryTask(entry, {}, [request()], None, "", 100.0, 10, {}, "", str(tmp_path / "f.db"), "", CTX)
    result = EntryResult("e1")
    _submit(task, store, TimingOut(), {"fe1.main": 2}, result)
    states = sorted(r[0] for r in store.conn.execute("SELECT state FROM pilots"))
    assert states == ["new", "removed"] and result.submitted == 0 and "timed out" in result.errors[0]


def test_imported_pilot_settings_reach_the_command_line_and_config_values_the_param_file(
    tmp_path: Path,
) -> None:
    entry = local_entry("e1")
    entry["pilot"] = {"verbosity": "fast", "work_dir": "OSG", "slots_layout": "fixed", "proxy_url": "OSG"}
    entry["attrs"] = {
        "STARTD_DEBUG": {"value": "$(STARTD_DEBUG) D_SECURITY", "type": "config", "publish": False}
    }
    loaded = load_factory_config(write_factory(tmp_path, [entry]).config).entries[0]
    argv, secrets = pilot_command(CTX, loaded, request(), "p1")
    assert (option(argv, "-v"), option(argv, "-dir")) == ("fast", "OSG")
    assert option(argv, "-param_GLIDEIN_SLOTS_LAYOUT") == "fixed"
    assert option(argv, "-param_GLIDEIN_Proxy_URL") == "OSG"
    assert option(argv, "-param_STARTD_DEBUG") is None  # its $(...) would be expanded by condor_submit
    assert secrets["STARTD_DEBUG"] == "$(STARTD_DEBUG) D_SECURITY"
    assert option(argv, "-param_GLIDEIN_Config_Values") == "STARTD_DEBUG"  # the pilot writes it as config
    spec = PilotSpec("p1", "e1", "fe1.main", argv, secrets=secrets)
    item(spec)  # nothing on the command line holds '$': the pilot is submitted
    assert option(pilot_argv(CTX, entry_with(tmp_path / "plain"), request(), "p1"), "-dir") is None
