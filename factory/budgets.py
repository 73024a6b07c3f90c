"""Pure: factory-wide per-frontend and per-security-class limits shared out among entries.

`frontends[].limits` and `frontends[].security_classes[].limits` cap a frontend's (or one of its
security classes') pilots over the WHOLE factory. Before the entry workers decide (in parallel),
the cycle counts every entry's pilots per key, computes how many new pilots each key still
allows, and gives every entry a share of it: water-filling over the entries' demands, in entry
name order, so shares are deterministic and never add up to more than what is left. An entry
then submits at most its share for that key (`EntryInputs.shared_budgets`).

Keys: `fe:<frontend>` and `sc:<frontend>:<security class>` (the same keys as entry.py counts).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from glidein.factory.entry import ClientRequest, Limits
from glidein.factory.pilot_states import IDLE_STATES, PilotState

S = PilotState


@dataclass
class KeyCounts:
    """Pilots (not ended) of one key over all entries."""

    idle: int = 0
    held: int = 0
    total: int = 0


def remaining(limits: Limits, counts: KeyCounts) -> int | None:
    """New pilots the limits still allow (None: unlimited); 0 once held pilots reach max_held."""
    if limits.max_held is not None and counts.held >= limits.max_held:
        return 0
    left = [
        lim - have
        for lim, have in ((limits.max_idle, counts.idle), (limits.max_total, counts.total))
        if lim is not None
    ]
    return max(0, min(left)) if left else None


def water_fill(total: int, demands: Mapping[str, int]) -> dict[str, int]:
    """Share `total` among demands: equal shares, unused shares go round again; names order ties."""
    given = dict.fromkeys(demands, 0)
    left = max(0, total)
    while left > 0:
        hungry = sorted(name for name, want in demands.items() if given[name] < want)
        if not hungry:
            break
        share, extra = divmod(left, len(hungry))
        for index, name in enumerate(hungry):
            take = min(demands[name] - given[name], share + (1 if index < extra else 0))
            given[name] += take
            left -= take
    return given


def share_budgets(
    limits: Mapping[str, Limits],
    counts: Mapping[str, KeyCounts],
    demands: Mapping[str, Mapping[str, int]],
    entries: Sequence[str],
) -> dict[str, dict[str, int]]:
    """entry -> key -> new pilots allowed this cycle, for every limited key (0 if no share)."""
    out: dict[str, dict[str, int]] = {entry: {} for entry in entries}
    for key, lim in sorted(limits.items()):
        left = remaining(lim, counts.get(key, KeyCounts()))
        if left is None:
            continue
        shares = water_fill(left, {e: demands.get(e, {}).get(key, 0) for e in entries})
        for entry in entries:
            out[entry][key] = shares.get(entry, 0)
    return out


def per_entry_clients(
    rows: Sequence[tuple[str, str, str, PilotState, int]],
) -> tuple[dict[str, Counter[str]], dict[str, Counter[str]]]:
    """Idle and running pilots per entry and client, from (entry, client, sec, state, n) rows."""
    idle: dict[str, Counter[str]] = {}
    running: dict[str, Counter[str]] = {}
    for entry, client, _sec, state, n in rows:
        if state in IDLE_STATES:
            idle.setdefault(entry, Counter())[client] += n
        elif state == PilotState.RUNNING:
            running.setdefault(entry, Counter())[client] += n
    return idle, running


def count_keys(rows: Sequence[tuple[str, str, str, PilotState, int]]) -> dict[str, KeyCounts]:
    """Factory-wide counts per key from (entry, client, security class, state, count) rows."""
    out: dict[str, KeyCounts] = {}
    for _entry, client, sec, state, n in rows:
        frontend = client.split(".", 1)[0]
        for key in (f"fe:{frontend}", f"sc:{frontend}:{sec}"):
            kc = out.setdefault(key, KeyCounts())
            kc.total += n
            kc.idle += n if state in IDLE_STATES else 0
            kc.held += n if state == S.HELD else 0
    return out


def entry_demands(
    requests: Sequence[ClientRequest],
    idle: Mapping[str, int],
    running: Mapping[str, int],
    cap: int | None = None,
) -> dict[str, int]:
    """key -> pilots an entry's clients would submit if only their requests (and `cap`, the entry's
    own per-cycle allowance) bound them."""
    out: dict[str, int] = {}
    for req in requests:
        have = idle.get(req.client, 0)
        want = max(0, min(req.req_idle - have, req.req_max - have - running.get(req.client, 0)))
        for key in (f"fe:{req.frontend}", f"sc:{req.frontend}:{req.security_class}"):
            out[key] = out.get(key, 0) + want
    return {key: want if cap is None else min(want, max(0, cap)) for key, want in out.items()}
