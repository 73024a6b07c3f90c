"""Deterministic monitoring data for the monitoring and web tests: entries, clients, pilots."""

from __future__ import annotations

from pathlib import Path

from glidein.common.monitoring.model import (
    ClientStatus,
    Counts,
    EntryState,
    EntryStatus,
    LogKind,
    PilotRecord,
    PilotState,
)

STEP = 300
# An entry name with characters that must be escaped in HTML and encoded in paths and URLs.
ODD_ENTRY = "odd <b>&'site/../x"
ENTRIES = [
    ("ce_slow", "SiteSlow", EntryState.OK, ""),
    ("ce_flaky", "SiteFlaky", EntryState.DOWNTIME, "kernel upgrade until Monday"),
    ("ce_blackhole", "SiteHole", EntryState.BLOCKED, "9 of 10 pilots failed validation in 15 min"),
    (ODD_ENTRY, "SiteOdd", EntryState.OK, ""),
]
CLIENTS = ["fe1.main", "fe1.gpu"]
# the first entry has feedback figures, the others none yet
FEEDBACK = "pilots=12 valid=0.92 wait=35s jobs/h=4.1 job_fail=0.02"


def counts_at(cycle: int, entry_index: int, client_index: int) -> Counts:
    """Numbers for one (entry, client) at one cycle; counters only grow."""
    base = 1 + entry_index * 3 + client_index
    return Counts(
        pilots_idle=(base + cycle) % 7,
        pilots_running=base * 2 + cycle % 5,
        pilots_held=(cycle + entry_index) % 3,
        pilots_pending=cycle % 2,
        requested_idle=base + 4,
        requested_max=base * 10,
        jobs_idle=base * 5 + cycle,
        jobs_running=base * 2 + cycle % 5,
        pilots_completed=cycle * base,
        validation_failures=cycle * (entry_index % 3),
        waste_seconds=cycle * 60 * (entry_index + 1),
    )


def entries_at(cycle: int) -> list[EntryStatus]:
    return [
        EntryStatus(
            name=name,
            site=site,
            state=state,
            reason=reason,
            clients=tuple(
                ClientStatus(client=c, counts=counts_at(cycle, ei, ci), limit="max_per_cycle" if ci else "")
                for ci, c in enumerate(CLIENTS)
            ),
            feedback=FEEDBACK if ei == 0 else "",
        )
        for ei, (name, site, state, reason) in enumerate(ENTRIES)
    ]


def pilots(now: float, pilots_dir: Path | None = None) -> list[PilotRecord]:
    """Eight pilots in various states; with `pilots_dir`, their three logs are written there."""
    result = []
    states = [PilotState.RUNNING, PilotState.COMPLETED, PilotState.FAILED, PilotState.IDLE]
    for i in range(8):
        name, site, _state, _reason = ENTRIES[i % len(ENTRIES)]
        state = states[i % len(states)]
        failed = state == PilotState.FAILED
        pilot = PilotRecord(
            pilot_id=f"p{i:04d}",
            entry=name,
            client=CLIENTS[i % 2],
            site=site,
            state=state,
            submit_time=now - 3600 + i * 60,
            start_time=None if state == PilotState.IDLE else now - 3000 + i * 60,
            end_time=now - 600 if state in (PilotState.COMPLETED, PilotState.FAILED) else None,
            exit_code={PilotState.COMPLETED: 0, PilotState.FAILED: 2}.get(state),
            validation_ok=None if state == PilotState.IDLE else not failed,
            first_failure="check_network: cannot reach collector <127.0.0.1:9>" if failed else "",
            failure_class="Network" if failed else "",
            jobs_run=None if state == PilotState.IDLE else (0 if failed else i),
            logs=frozenset() if state == PilotState.IDLE else frozenset(LogKind),
        )
        result.append(pilot)
        if pilots_dir is not None and pilot.logs:
            d = pilots_dir / pilot.pilot_id
            d.mkdir(parents=True, exist_ok=True)
            (d / "stdout.txt").write_text(f"stdout of {pilot.pilot_id}\n")
            (d / "stderr.txt").write_text(f"stderr of {pilot.pilot_id}\n")
            (d / "log.txt").write_text(f"streamed log of {pilot.pilot_id} <script>x</script>\n")
    return result
