"""Monitoring numbers from the factory's ads (docs/INTERFACES.md section 8), pure.

The frontend (and tests that check "RRD == ads") turn `glidefactory` + `glidefactoryclient`
ads, as dicts (`classads.to_dict`), into the monitoring model with `entries_from_ads`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from glidein.common.errors import GlideinError
from glidein.common.monitoring.model import ClientStatus, Counts, EntryState, EntryStatus

# glidefactoryclient attribute -> Counts field
CLIENT_AD_COUNTS: dict[str, str] = {
    "GlideinMonitorStatusIdle": "pilots_idle",
    "GlideinMonitorStatusRunning": "pilots_running",
    "GlideinMonitorStatusHeld": "pilots_held",
    "GlideinMonitorRequestedIdle": "requested_idle",
    "GlideinMonitorRequestedMaxGlideins": "requested_max",
}
# optional (a factory older than them leaves them out): the client's jobs as its request said,
# and the pilot counters since the factory's bookkeeping began
CLIENT_AD_OPTIONAL: dict[str, str] = {
    "GlideinMonitorClientIdle": "jobs_idle",
    "GlideinMonitorClientRunning": "jobs_running",
    "GlideinMonitorPilotsCompleted": "pilots_completed",
    "GlideinMonitorValidationFailures": "validation_failures",
    "GlideinMonitorWasteSeconds": "waste_seconds",
}


def counts_from_client_ad(ad: Mapping[str, object], **extra: int) -> Counts:
    """The Counts a glidefactoryclient ad shows; `extra` adds what the ad does not carry (jobs_idle...).

    A missing or malformed count is a GlideinError naming the ad and the attribute.
    """
    values: dict[str, int] = {}
    for attr, name in [*CLIENT_AD_COUNTS.items(), *CLIENT_AD_OPTIONAL.items()]:
        value = ad.get(attr, 0 if attr in CLIENT_AD_OPTIONAL else None)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise GlideinError(f"ad {ad.get('Name')!r}: {attr} must be an integer >= 0, got {value!r}")
        values[name] = value
    values.update(extra)
    return Counts(**values)


def entry_state_from_ad(ad: Mapping[str, object]) -> tuple[EntryState, str, float | None]:
    """(state, reason, until) of a glidefactory ad: blocked wins over downtime; `until` is
    GLIDEIN_BlockedUntil of a blocked entry (None when absent or 0)."""
    if ad.get("GLIDEIN_Blocked") is True:
        until = ad.get("GLIDEIN_BlockedUntil")
        stamp = float(until) if isinstance(until, int | float) and not isinstance(until, bool) else 0.0
        return EntryState.BLOCKED, str(ad.get("GLIDEIN_BlockedReason") or "blocked"), stamp or None
    if ad.get("GLIDEIN_In_Downtime") is True:
        return EntryState.DOWNTIME, str(ad.get("GLIDEIN_DowntimeComment") or ""), None
    return EntryState.OK, "", None


def entries_from_ads(
    entry_ads: Sequence[Mapping[str, object]],
    client_ads: Sequence[Mapping[str, object]],
    jobs: Mapping[tuple[str, str], tuple[int, int]] | None = None,
) -> list[EntryStatus]:
    """One EntryStatus per glidefactory ad, with a ClientStatus per matching glidefactoryclient ad.

    A client ad belongs to the entry ad whose Name prefixes its own (`<entry Name>@<client>`).
    `jobs` optionally gives (jobs_idle, jobs_running) per (EntryName, client), instead of what
    the client ad says the request carried (GlideinMonitorClientIdle/Running).
    """
    by_entry: dict[str, list[Mapping[str, object]]] = {}
    for ad in client_ads:
        client = str(ad.get("ReqClientName", ""))
        owner = str(ad.get("Name", "")).removesuffix(f"@{client}")
        by_entry.setdefault(owner, []).append(ad)
    result = []
    for ad in sorted(entry_ads, key=lambda a: str(a.get("Name", ""))):
        name = str(ad.get("EntryName") or ad.get("Name", ""))
        state, reason, until = entry_state_from_ad(ad)
        clients = []
        for cad in sorted(
            by_entry.get(str(ad.get("Name", "")), []), key=lambda a: str(a.get("ReqClientName"))
        ):
            client = str(cad.get("ReqClientName", ""))
            own = (jobs or {}).get((name, client))
            extra = {} if own is None else {"jobs_idle": own[0], "jobs_running": own[1]}
            counts = counts_from_client_ad(cad, **extra)
            clients.append(ClientStatus(client, counts, str(cad.get("GlideinMonitorLimit") or "")))
        site = str(ad.get("GLIDEIN_Site") or name)
        result.append(EntryStatus(name, site, state, reason, tuple(clients), until=until))
    return result
