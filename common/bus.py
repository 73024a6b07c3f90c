"""The ClassAd bus client every daemon uses: advertise, invalidate and query over `htcondor2.Collector`.

The same code talks to `glidein collector` and to a real `condor_collector`. Ads of custom MyTypes
(glidefactory, glideclient, ...) travel as generic ads; slot ads (MyType "Machine") and schedd ads
(MyType "Scheduler") use their own commands. Advertising goes to every pool (each must succeed);
a query asks the pools in order and returns the first answer.

The bindings hold the GIL during network calls: never run a server thread in a process that uses
this module (servers get their own process).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import htcondor2

from glidein.common import classads
from glidein.common.errors import BusError

log = logging.getLogger(__name__)
T = TypeVar("T")

# MyType -> (update command, query AdType, invalidate command) for the types with their own tables.
_TYPED = {
    "machine": ("UPDATE_STARTD_AD", htcondor2.AdType.Startd, "INVALIDATE_STARTD_ADS"),
    "scheduler": ("UPDATE_SCHEDD_AD", htcondor2.AdType.Schedd, "INVALIDATE_SCHEDD_ADS"),
    "collector": ("UPDATE_COLLECTOR_AD", htcondor2.AdType.Collector, "INVALIDATE_COLLECTOR_ADS"),
    "negotiator": ("UPDATE_NEGOTIATOR_AD", htcondor2.AdType.Negotiator, "INVALIDATE_NEGOTIATOR_ADS"),
    "daemonmaster": ("UPDATE_MASTER_AD", htcondor2.AdType.Master, "INVALIDATE_MASTER_ADS"),
    "submitter": ("UPDATE_SUBMITTOR_AD", htcondor2.AdType.Submitter, "INVALIDATE_SUBMITTOR_ADS"),
}
_GENERIC = ("UPDATE_AD_GENERIC", htcondor2.AdType.Any, "INVALIDATE_ADS_GENERIC")


def _commands(my_type: str) -> tuple[str, htcondor2.AdType, str]:
    return _TYPED.get(my_type.lower(), _GENERIC)


def _string_attr(ad: classads.ClassAd, name: str) -> str:
    value = classads.eval_attr(ad, name)
    if not isinstance(value, str) or not value:
        raise BusError(f"ad without a string {name}: cannot advertise it")
    return value


class Bus:
    """Client of one or more collectors ("host:port" each)."""

    def __init__(
        self,
        pools: Sequence[str],
        timeout: float = 10.0,
        retries: int = 2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not pools:
            raise BusError("no collector given")
        self.pools = list(pools)
        self.timeout = timeout
        self.retries = retries
        self.sleep = sleep
        htcondor2.param["QUERY_TIMEOUT"] = str(max(1, int(timeout)))
        self._collectors = {pool: htcondor2.Collector(pool) for pool in self.pools}

    def _attempt(self, pool: str, what: str, call: Callable[[], T]) -> T:
        """Run `call` with retries and back-off; BusError naming the pool when all fail."""
        delay = 0.2
        for attempt in range(self.retries + 1):
            try:
                return call()
            except (htcondor2.HTCondorException, OSError, RuntimeError) as exc:
                if attempt == self.retries:
                    raise BusError(f"{what} at collector {pool} failed: {exc}") from exc
                log.debug("collector=%s %s failed (attempt %d): %s", pool, what, attempt + 1, exc)
                self.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    def advertise(self, ads: Sequence[classads.ClassAd]) -> None:
        """Send every ad (each with MyType and Name) to every pool; BusError if any pool fails."""
        groups: dict[str, list[classads.ClassAd]] = {}
        for ad in ads:
            _string_attr(ad, "Name")
            groups.setdefault(_commands(_string_attr(ad, "MyType"))[0], []).append(ad)
        for pool, collector in self._collectors.items():
            for command, group in groups.items():
                call = functools.partial(collector.advertise, group, command)
                self._attempt(pool, f"advertise {len(group)} ads", call)

    def invalidate(self, my_type: str, constraint: str = "true") -> None:
        """Remove the ads of `my_type` matching `constraint` from every pool."""
        classads.parse_expr(constraint)  # ClassAdError names a bad constraint before any I/O
        command = _commands(my_type)[2]
        query = classads.ClassAd({"MyType": "Query", "TargetType": my_type})
        query["Requirements"] = classads.parse_expr(constraint)
        for pool, collector in self._collectors.items():
            call = functools.partial(collector.advertise, [query], command)
            self._attempt(pool, f"invalidate {my_type}", call)

    def query(
        self, my_type: str | None, constraint: str = "true", projection: Sequence[str] = ()
    ) -> list[classads.ClassAd]:
        """Ads of `my_type` (None: any) matching `constraint`, from the first pool that answers."""
        classads.parse_expr(constraint)
        if my_type is None:
            ad_type, full = htcondor2.AdType.Any, constraint
        else:
            ad_type = _commands(my_type)[1]
            full = constraint
            if ad_type == htcondor2.AdType.Any:
                full = f"(MyType == {classads.quote(my_type)}) && ({constraint})"
        errors = []
        for pool, collector in self._collectors.items():
            try:
                call = functools.partial(collector.query, ad_type, full, list(projection))
                return self._attempt(pool, "query", call)
            except BusError as exc:
                errors.append(str(exc))
                if len(errors) < len(self.pools):
                    log.warning("%s; trying the next collector", exc)
        raise BusError("no collector answered: " + "; ".join(errors))
