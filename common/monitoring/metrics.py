"""The monitoring numbers as Prometheus text, read from a MonitoringSource at scrape time.

Uses its own `CollectorRegistry` (never prometheus_client's global one), so several sources
can live in one process and nothing else leaks into `/metrics`. Series are per
(entry, client, site); entry states are per (entry, site).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from glidein.common.monitoring.model import EntryState, MonitoringSource

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LABELS = ["entry", "client", "site"]

_PILOTS = {
    "pilots_idle": "idle",
    "pilots_running": "running",
    "pilots_held": "held",
    "pilots_pending": "pending",
}
_JOBS = {"jobs_idle": "idle", "jobs_running": "running"}
_GAUGES = {
    "requested_idle": ("glidein_requested_idle_pilots", "Idle pilots the client requests (ReqIdleGlideins)"),
    "requested_max": ("glidein_requested_max_pilots", "Most pilots the client allows (ReqMaxGlideins)"),
}
_COUNTERS = {
    "pilots_completed": ("glidein_pilots_completed", "Pilots that ended"),
    "validation_failures": ("glidein_pilot_validation_failures", "Pilots that failed node validation"),
    "waste_seconds": ("glidein_pilot_waste_seconds", "Wall time of pilots that ran no job"),
}


class SourceCollector(Collector):
    """A prometheus_client collector over a MonitoringSource."""

    def __init__(self, source: MonitoringSource) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        pilots = GaugeMetricFamily("glidein_pilots", "Pilots by state", labels=[*LABELS, "state"])
        jobs = GaugeMetricFamily("glidein_client_jobs", "Client jobs by state", labels=[*LABELS, "state"])
        gauges = {f: GaugeMetricFamily(n, h, labels=LABELS) for f, (n, h) in _GAUGES.items()}
        counters = {f: CounterMetricFamily(n, h, labels=LABELS) for f, (n, h) in _COUNTERS.items()}
        states = GaugeMetricFamily(
            "glidein_entry_state", "1 for the entry's current state", labels=["entry", "site", "state"]
        )
        for entry in self.source.entries():
            for state in EntryState:
                states.add_metric([entry.name, entry.site, state.value], 1.0 if entry.state == state else 0.0)
            for client in entry.clients:
                labels = [entry.name, client.client, entry.site]
                values = client.counts.as_dict()
                for field, state_name in _PILOTS.items():
                    pilots.add_metric([*labels, state_name], values[field])
                for field, state_name in _JOBS.items():
                    jobs.add_metric([*labels, state_name], values[field])
                for field, family in gauges.items():
                    family.add_metric(labels, values[field])
                for field, counter in counters.items():
                    counter.add_metric(labels, values[field])
        yield pilots
        yield jobs
        yield from gauges.values()
        yield from counters.values()
        yield states


def metrics_registry(source: MonitoringSource) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SourceCollector(source))
    return registry


def render_metrics(registry: CollectorRegistry) -> bytes:
    """The registry's current values in the Prometheus text exposition format."""
    return generate_latest(registry)
