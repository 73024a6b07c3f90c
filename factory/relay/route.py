"""Pilots of an entry with a relay (in the entry worker): through the relay while it is live;
otherwise none (the entry is blocked with the reason, said in the log), or through the entry's
normal route when the relay's `fallback` is on."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from glidein.factory.relay import state as store
from glidein.factory.relay.kinds import Route, relay_kind
from glidein.factory.relay.state import Phase
from glidein.factory.submitters.base import PilotSpec


class ViaRelay:
    """The entry's submitter, its submissions sent through `route`; the rest unchanged (status,
    removal and release act on the jobs at the factory's schedd, which Condor-C keeps in step
    with the relay). `on_submitted` records which relay the accepted pilots went through."""

    def __init__(self, inner: Any, route: Route, on_submitted: Callable[[Sequence[str], str], None]) -> None:
        self.inner, self.route, self.on_submitted = inner, route, on_submitted

    def submit(self, pilots: Sequence[PilotSpec]) -> dict[str, str]:
        accepted: dict[str, str] = self.inner.submit(pilots, route=self.route.submit)
        if accepted:
            self.on_submitted(sorted(accepted), self.route.relay)
        return accepted

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def relay_route(
    entry: Any, factory: str, state_dir: str, submitter: Any, store_pilots: Any
) -> tuple[Any, str]:
    """(the submitter to use, why nothing may be submitted: "" when pilots may go)."""
    relay = getattr(entry, "relay", None)
    if relay is None or not relay.enabled:
        return submitter, ""
    found = store.load(Path(state_dir), entry.name, relay.kind)
    own = relay.kind == "glidein"  # kind glidein takes every pilot call itself (pool/schedd/relay_kind.py)
    if found.phase == Phase.LIVE and found.name:
        kind = relay_kind(entry, factory, Path(state_dir))
        inner = kind.submitter(found.name) if own else submitter  # type: ignore[attr-defined]
        return ViaRelay(inner, kind.route(found.name), store_pilots.set_relay), ""
    if relay.fallback:
        return submitter, ""
    why = f"no live relay ({found.phase.value}{': ' + found.reason if found.reason else ''})"
    if own:  # status through whichever relay is advertised, else none (fail closed: nothing marked lost)
        return relay_kind(entry, factory, Path(state_dir)).submitter(""), why  # type: ignore[attr-defined]
    return submitter, why
