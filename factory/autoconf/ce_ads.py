"""HTCondor-CE ads on a collector (how OSG publishes its CEs) -> CEQueue.

An HTCondor-CE's schedd ad, forwarded to the CE collector, carries `OSG_Resource` (the resource
name), `OSG_ResourceGroup` (the site), `OSG_BatchSystems` and `OSG_ResourceCatalog`: a list of
ClassAds, one per kind of slot the CE offers, with `Name`, `CPUs`, `Memory` (MB), `MaxWallTime`
(minutes), `AllowedVOs` (a list) and, from osg-configure 4.2, `Queue`. Each catalog item is one
CEQueue. OSG's catalog has no serving state: a CE that stops advertising vanishes (its entries are
disabled). glidein also reads an optional `ServingState` in a catalog item (GLUE 2.0's values:
`production`, `draining`, `closed`, `queueing`), which a site can add to drain one queue.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from glidein.common.config.autoconf import InfoSource
from glidein.common.errors import BusError
from glidein.factory.autoconf.ldap import InfoSysError
from glidein.factory.autoconf.queues import PRODUCTION, CEQueue

CONSTRAINT = "OSG_ResourceCatalog =!= undefined"
PROJECTION = (
    "Name",
    "Machine",
    "OSG_Resource",
    "OSG_ResourceGroup",
    "OSG_BatchSystems",
    "OSG_ResourceCatalog",
    "grid_resource",
)


def read(source: InfoSource) -> list[CEQueue]:
    """The queues of the CE ads on the collector `source.url` (host:port)."""
    from glidein.common.bus import Bus

    try:
        ads = Bus([source.url], timeout=float(source.timeout), retries=1).query(
            "Scheduler", CONSTRAINT, PROJECTION
        )
    except BusError as exc:
        raise InfoSysError(str(exc)) from None
    return parse([plain(ad) for ad in ads], source.url)


def plain(value: Any) -> Any:
    """A ClassAd (or its lists) as plain dicts and lists, expressions evaluated."""
    if isinstance(value, Mapping):
        return {str(key): plain(value.eval(key) if hasattr(value, "eval") else value[key]) for key in value}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def parse(ads: list[dict[str, Any]], server: str) -> list[CEQueue]:
    """CEQueues from CE ads as plain dicts (pure)."""
    queues = []
    for ad in ads:
        host = str(ad.get("Machine") or ad.get("Name", "")).split("@")[-1]
        contact = ad.get("grid_resource")
        resource = contact if isinstance(contact, str) else f"condor {host} {host}:9619"
        site = str(ad.get("OSG_ResourceGroup") or ad.get("OSG_Resource") or host)
        catalog = ad.get("OSG_ResourceCatalog")
        for item in catalog if isinstance(catalog, list) else []:
            if isinstance(item, dict):
                queues.append(_queue(item, host, resource, site, server))
    return queues


def _queue(item: dict[str, Any], host: str, resource: str, site: str, server: str) -> CEQueue:
    vos = item.get("AllowedVOs")
    queue = str(item.get("Queue") or item.get("Name") or "")
    return CEQueue(
        site=site,
        host=host,
        grid_type="condor",
        grid_resource=resource,
        queue=queue,
        state=str(item.get("ServingState") or PRODUCTION),
        max_wall_time=60 * _int(item.get("MaxWallTime")),
        memory_mb=_int(item.get("Memory")),
        cpus=_int(item.get("CPUs")),
        vos=tuple(str(vo) for vo in vos) if isinstance(vos, list) else (),
        ref_type="OSG_CE_collector",
        ref_server=server,
        ref_key=f"{host}#{item.get('Name', queue)}",
    )


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0
