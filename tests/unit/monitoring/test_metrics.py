"""/metrics text: parsed back with prometheus_client's own parser, it shows the source's numbers."""

from __future__ import annotations

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from glidein.common.monitoring.metrics import metrics_registry, render_metrics
from glidein.common.monitoring.model import EntryState
from glidein.common.monitoring.snapshot import Snapshot, StaticSource
from tests.monitoring_sample import ENTRIES, entries_at


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    result = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            result[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return result


def lbl(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def test_metrics_agree_with_the_source() -> None:
    source = StaticSource(Snapshot(0.0, tuple(entries_at(5))))
    got = samples(render_metrics(metrics_registry(source)).decode())
    series = 0
    for entry in source.entries():
        for c in entry.clients:
            base = {"entry": entry.name, "client": c.client, "site": entry.site}
            n = c.counts
            for state in ("idle", "running", "held", "pending"):
                assert got[("glidein_pilots", lbl(**base, state=state))] == getattr(n, f"pilots_{state}")
            assert got[("glidein_client_jobs", lbl(**base, state="idle"))] == n.jobs_idle
            assert got[("glidein_client_jobs", lbl(**base, state="running"))] == n.jobs_running
            assert got[("glidein_requested_idle_pilots", lbl(**base))] == n.requested_idle
            assert got[("glidein_requested_max_pilots", lbl(**base))] == n.requested_max
            assert got[("glidein_pilots_completed_total", lbl(**base))] == n.pilots_completed
            assert got[("glidein_pilot_validation_failures_total", lbl(**base))] == n.validation_failures
            assert got[("glidein_pilot_waste_seconds_total", lbl(**base))] == n.waste_seconds
            series += 1
        for state in EntryState:
            value = got[("glidein_entry_state", lbl(entry=entry.name, site=entry.site, state=state.value))]
            assert value == (1.0 if entry.state == state else 0.0)
    assert series == len(ENTRIES) * 2


def test_metrics_follow_source_updates_and_stay_off_the_global_registry() -> None:
    source = StaticSource(Snapshot(0.0, tuple(entries_at(1))))
    registry = metrics_registry(source)
    source.update(Snapshot(1.0, tuple(entries_at(9))))
    got = samples(render_metrics(registry).decode())
    e = entries_at(9)[0]
    key = ("glidein_pilots_completed_total", lbl(entry=e.name, client="fe1.main", site=e.site))
    assert got[key] == e.clients[0].counts.pilots_completed
    global_names = {m.name for m in REGISTRY.collect()}
    assert "glidein_pilots" not in global_names


def test_empty_source_renders_valid_text() -> None:
    text = render_metrics(metrics_registry(StaticSource(Snapshot(0.0)))).decode()
    assert {f.name for f in text_string_to_metric_families(text)} >= {"glidein_pilots", "glidein_entry_state"}
