"""New generated entries from the queues read and the entries generated last time (pure).

A queue read becomes its entry (`CEQueue.entry`). A previously generated entry whose queue is no
longer published is kept disabled, never deleted; one whose source could not be read is kept as it
was. Each difference is one operator line (`entry=... reason`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from glidein.factory.autoconf.queues import DOWNTIME_COMMENT, CEQueue

VANISHED = "vanished from the information system; disabled by glidein factory autoconf"


@dataclass(frozen=True)
class Generated:
    entries: list[dict[str, Any]]
    changes: list[str]


def generate(queues: Iterable[CEQueue], previous: list[dict[str, Any]], unread: set[str]) -> Generated:
    """Entries for `queues`, previous ones kept (disabled when vanished, as-is when from `unread`)."""
    new: dict[str, dict[str, Any]] = {}
    changes: list[str] = []
    for queue in queues:
        if queue.name in new:
            changes.append(f"entry={queue.name} published twice ({queue.ref_key}); the first one kept")
            continue
        new[queue.name] = queue.entry()
    old = {str(entry.get("name")): entry for entry in previous}
    for name, entry in old.items():
        if name in new:
            continue
        if _server(entry) in unread or entry.get("enabled") is False:
            new[name] = entry
        else:
            new[name] = {**entry, "enabled": False, "comment": VANISHED}
    for name in sorted(new):
        changes += _changes(name, old.get(name), new[name])
    return Generated([new[name] for name in sorted(new)], changes)


def _server(entry: dict[str, Any]) -> str:
    refs = entry.get("infosys_refs") or [{}]
    return str(refs[0].get("server", ""))


def infosys_state(entry: dict[str, Any]) -> str:
    """`production`, or the state of the downtime autoconf put on the entry."""
    for downtime in entry.get("downtimes") or []:
        comment = str(downtime.get("comment", ""))
        if comment.startswith(DOWNTIME_COMMENT):
            return comment[len(DOWNTIME_COMMENT) :]
    return "production"


def _changes(name: str, old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    prefix = f"entry={name}"
    if old is None:
        return [f"{prefix} added from {_server(new)} (queue {infosys_state(new)})"]
    if old == new:
        return []
    if new.get("enabled") is False and old.get("enabled") is not False:
        return [f"{prefix} vanished from {_server(old)}: disabled"]
    lines = []
    if old.get("enabled") is False and new.get("enabled") is not False:
        lines.append(f"{prefix} published again by {_server(new)}: enabled")
    before, after = infosys_state(old), infosys_state(new)
    if before != after:
        what = "downtime ended" if after == "production" else "in downtime"
        lines.append(f"{prefix} queue {before} -> {after}: {what}")
    fields = sorted(_diff_keys(old, new) - {"enabled", "downtimes", "comment"})
    if fields:
        lines.append(f"{prefix} updated: {', '.join(fields)}")
    return lines


def _diff_keys(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for key in set(old) | set(new):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            keys |= _diff_keys(a, b, f"{prefix}{key}.")
        elif a != b:
            keys.add(f"{prefix}{key}")
    return keys
