"""A real factory publishes each entry's feedback figures (GLIDEIN_Feedback_*) in its glidefactory ad:
from pilots it really ran (local site, failing validation) and from the bookkeeping and final
reports of pilots that ended well (recorded in its factory.db and state dir)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from glidein.common import crypto
from glidein.common.bus import Bus
from glidein.common.classads import from_dict
from glidein.common.glideclient import ClientGlobal, ClientRequest, global_ad, request_ad
from glidein.factory.pilot_states import PilotState
from glidein.factory.state import NewPilot, PilotStore
from tests.factory_support import FactorySetup, local_entry, write_factory
from tests.procs import Processes, free_port, wait_for, wait_for_port


@pytest.fixture
def feedback_world(tmp_path: Path, processes: Processes) -> Iterator[tuple[FactorySetup, Bus]]:
    port = free_port()
    processes.glidein(["collector", "--port", str(port)], "collector")
    wait_for_port(port)
    failing = {**local_entry("bad", queue_wait=0.0), "pilot": {"hold_time": 0}}
    setup = write_factory(tmp_path, [failing, local_entry("good")], collector=f"127.0.0.1:{port}")
    processes.glidein(["factory", "run", "--config", str(setup.config)], "factory")
    bus = Bus([f"127.0.0.1:{port}"], timeout=5)
    wait_for(lambda: len(bus.query("glidefactory")) == 2, timeout=20)
    yield setup, bus
    for pid_file in tmp_path.rglob("jobs/*/pid"):
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGTERM)


def record_good_pilots(setup: FactorySetup, count: int) -> None:
    """Pilots of `good` that waited 20 s, ran 30 min and ran 6 jobs each, as the factory records them."""
    store = PilotStore(setup.state_dir / "factory.db")
    try:
        t0 = time.time() - 1900
        ids = store.record_new(NewPilot("good", "fe1.main", "frontend", "c"), count, t0)
        store.set_backend_ids({i: f"local.{i}" for i in ids}, t0)
        store.move_many([(i, PilotState.RUNNING, "seen") for i in ids], t0 + 20)
        store.move_many(
            [(i, PilotState.COMPLETED, "exit 0") for i in ids], t0 + 1820, exit_codes=dict.fromkeys(ids, 0)
        )
        for pid in ids:
            pdir = setup.state_dir / "pilots" / pid
            pdir.mkdir(parents=True, exist_ok=True)
            report = {"status": "success", "failure_class": None, "startd": {"jobs_run": 6, "reason": "idle"}}
            (pdir / "report.json").write_text(json.dumps(report))
    finally:
        store.close()


def feedback(bus: Bus, entry: str) -> dict[str, object]:
    (ad,) = bus.query("glidefactory", f'EntryName == "{entry}"')
    crypto.verify_ad(ad, str(ad["FactorySigningKey"]))  # the figures are signed with the rest
    return {k: ad[k] for k in ad if k.startswith("GLIDEIN_Feedback_")}


def test_factory_advertises_feedback_figures(feedback_world: Any) -> None:
    setup, bus = feedback_world
    assert feedback(bus, "good") == {"GLIDEIN_Feedback_Window": 1800, "GLIDEIN_Feedback_Pilots": 0}
    (glob,) = bus.query("glidefactoryglobal")
    req = ClientRequest("bad@g@f1", "fe1", "main", 3, 3, 1, "frontend", secrets={"GLIDEIN_Token": "tok"})
    ads = [request_ad(req, setup.frontend_key, str(glob["PubKeyValue"]))]
    ads.append(
        global_ad(
            ClientGlobal("g@f1", "fe1", "fe1@localhost", ["main"], requests=1, sequence=1), setup.frontend_key
        )
    )
    bus.advertise([from_dict(ad) for ad in ads])
    record_good_pilots(setup, 4)
    # the bad site's pilots really run and fail (the stage URL serves nothing): validation rate 0
    wait_for(lambda: int(str(feedback(bus, "bad")["GLIDEIN_Feedback_Pilots"])) >= 3, timeout=60)
    bad = feedback(bus, "bad")
    assert bad["GLIDEIN_Feedback_ValidationRate"] == 0.0
    assert "GLIDEIN_Feedback_JobsPerPilotHour" not in bad
    wait_for(lambda: feedback(bus, "good")["GLIDEIN_Feedback_Pilots"] == 4, timeout=20)
    good = feedback(bus, "good")
    assert good["GLIDEIN_Feedback_ValidationRate"] == 1.0
    assert good["GLIDEIN_Feedback_QueueWaitMedian"] == pytest.approx(20.0, abs=0.01)
    assert good["GLIDEIN_Feedback_JobsPerPilotHour"] == pytest.approx(12.0, abs=0.01)  # 6 jobs in 30 min
