"""The frontend's pages get the factory's pilot counters (completed, validation failures, waste)
and the client's jobs from the glidefactoryclient ads (issue 18: they were always 0)."""

from __future__ import annotations

import pytest

from glidein.common.errors import GlideinError
from glidein.common.monitoring.ads import counts_from_client_ad, entries_from_ads
from glidein.factory import ads
from glidein.factory.entry import ClientOutcome

IDENT = ads.Identity("f1", "g", 300)


def test_factory_client_ad_carries_counters_the_frontend_reads() -> None:
    outcome = ClientOutcome("fe1.main", 2, 3, 0, 4, 10, jobs_idle=9, jobs_running=3)
    ended = {"pilots_completed": 5, "validation_failures": 2, "waste_seconds": 140}
    cad = ads.client_ad(IDENT, "e1", outcome, ended)
    entry = {"Name": IDENT.entry_name("e1"), "EntryName": "e1", "GLIDEIN_Site": "S1"}
    (status,) = entries_from_ads([entry], [cad])
    counts = status.clients[0].counts
    assert (counts.pilots_completed, counts.validation_failures, counts.waste_seconds) == (5, 2, 140)
    assert (counts.jobs_idle, counts.jobs_running) == (9, 3)
    (own,) = entries_from_ads([entry], [cad], jobs={("e1", "fe1.main"): (1, 1)})
    assert (own.clients[0].counts.jobs_idle, own.clients[0].counts.jobs_running) == (1, 1)  # the frontend's


def test_older_factory_ads_without_counters_read_as_zero_and_bad_ones_are_named() -> None:
    base = {"Name": "e1@g@f1@fe1.main", "ReqClientName": "fe1.main", "GlideinMonitorStatusIdle": 1,
            "GlideinMonitorStatusRunning": 0, "GlideinMonitorStatusHeld": 0, "GlideinMonitorRequestedIdle": 1,
            "GlideinMonitorRequestedMaxGlideins": 5}  # fmt: skip
    assert counts_from_client_ad(base).pilots_completed == 0
    with pytest.raises(GlideinError, match="GlideinMonitorWasteSeconds must be an integer >= 0"):
        counts_from_client_ad({**base, "GlideinMonitorWasteSeconds": -4})
