"""High availability: an active and a standby frontend for the same groups (glideinWMS's HA mode).

Both publish under the same FrontendName, with the same identity and signing key (or keys the
factories list for that name), so a request from either is the same client's: the factories key
requests by Name (`entry@frontend.group`) and never count pilots twice. Every glideclient and
glideresource ad says who sent it (`FrontendHAMode` / `GlideFrontendHAMode`: active or standby).

The standby publishes nothing while the active's ads are on the WMS collectors: its
glideclientglobal ads, or glideclient ads not marked standby. It never publishes glideclientglobal
ads itself, so it can never overwrite the ones that tell it the active is alive. When they vanish
(withdrawn at a graceful stop, or expired after ClassAdLifetime when the active died) it takes
over at its next check; it checks again right before each advertise, and when the active is back
it withdraws its own (standby-marked) ads and stands by. The active always wins: it publishes
without looking. A query that fails keeps the last state (a standby that cannot read the
collectors cannot publish to them either).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from glidein.common import classads
from glidein.common.classads import ClassAd
from glidein.common.errors import GlideinError

log = logging.getLogger(__name__)
ACTIVE, STANDBY = "active", "standby"
MODE_ATTR = "FrontendHAMode"  # glideclient / glideclientglobal ads (glideinWMS's name)
RESOURCE_MODE_ATTR = "GlideFrontendHAMode"  # glideresource ads (glideinWMS's name)


class BusLike(Protocol):
    def query(
        self, my_type: str | None, constraint: str = ..., projection: Sequence[str] = ...
    ) -> list[ClassAd]: ...

    def invalidate(self, my_type: str, constraint: str = ...) -> None: ...


def active_constraint(name: str) -> str:
    """The active frontend's ads on the WMS collectors: its globals, its requests not marked standby."""
    return (
        f'(FrontendName == {classads.quote(name)}) && (MyType == "glideclientglobal" || '
        f'(MyType == "glideclient" && {MODE_ATTR} =!= "{STANDBY}"))'
    )


def own_constraint(attr: str, name: str, mode: str) -> str:
    """Ads of frontend `name` published in `mode` (the active's also match ads without the mark)."""
    test = f'{MODE_ATTR} == "{STANDBY}"' if mode == STANDBY else f'{MODE_ATTR} =!= "{STANDBY}"'
    if attr != "FrontendName":
        test = test.replace(MODE_ATTR, RESOURCE_MODE_ATTR)
    return f"({attr} == {classads.quote(name)}) && ({test})"


@dataclass
class Standby:
    """A standby's view of the active frontend and whether it serves now."""

    wms: BusLike
    pool: BusLike
    active: str
    clock: Callable[[], float] = time.time
    serving: bool = False
    vanished_at: float | None = None  # when the active was first seen gone
    took_over_at: float | None = None
    known: bool = False  # whether any check answered yet

    def active_present(self) -> bool | None:
        """True/False from the WMS collectors; None when none answered."""
        try:
            return bool(self.wms.query(None, active_constraint(self.active), ["Name"]))
        except GlideinError as exc:
            log.warning(
                "ha: cannot tell whether frontend=%s is active, keeping my state: %s", self.active, exc
            )
            return None

    def may_serve(self) -> bool:
        """Check the bus and act: take over, step back or stay; True while this standby serves."""
        present = self.active_present()
        if present is None:
            return self.serving
        first = not self.known
        self.known = True
        if present and self.serving:
            self.serving, self.vanished_at = False, None
            log.warning("ha: active frontend=%s is back: withdrawing my requests, standing by", self.active)
            self.withdraw()
        elif present and first:
            log.info("ha: active frontend=%s is on the bus: standing by", self.active)
        elif not present and not self.serving:
            now = self.clock()
            self.serving, self.took_over_at = True, now
            log.warning("ha: active frontend=%s has no ads on the bus: taking over its requests", self.active)
        return self.serving

    def withdraw(self) -> None:
        """Remove this standby's own ads (never the active's: they carry another mark)."""
        targets = (
            (self.wms, "glideclient", "FrontendName"),
            (self.pool, "glideresource", "GlideFrontendName"),
        )
        for bus, my_type, attr in targets:
            try:
                bus.invalidate(my_type, own_constraint(attr, self.active, STANDBY))
            except GlideinError as exc:
                log.warning("ha: could not withdraw my %s ads: %s", my_type, exc)


def mark(ads: list[ClassAd], attr: str, mode: str) -> list[ClassAd]:
    """Set the HA mark on ads (outside their signature: it only selects ads in the collector)."""
    for ad in ads:
        ad[attr] = mode
    return ads
