"""GLUE 1.3 from a BDII: one GlueCE object per CE queue -> CEQueue.

The contact is `GlueCEInfoHostName`:`GlueCEInfoGatekeeperPort`, the grid type comes from
`GlueCEImplementationName` (HTCondorCE, ARC-CE; CREAM and GRAM are gone and skipped), the queue is
`GlueCEName`, the state `GlueCEStateStatus` (Production, Draining, Closed, Queueing), the VOs the
`VO:` rules of `GlueCEAccessControlBaseRule`. GLUE 1.3 times are minutes; memory and CPUs come from
the GlueSubCluster of the CE's cluster (`GlueHostMainMemoryRAMSize`, `GlueHostArchitectureSMPSize`).
"""

from __future__ import annotations

import logging

from glidein.common.config.autoconf import InfoSource
from glidein.factory.autoconf import ldap
from glidein.factory.autoconf.ldap import Record, first, number
from glidein.factory.autoconf.queues import CEQueue, grid_of, grid_resource

log = logging.getLogger(__name__)


def read(source: InfoSource) -> list[CEQueue]:
    """The queues the BDII at `source.url` publishes in GLUE 1.3."""
    ces = ldap.search(source.url, source.search_base, "GlueCE", source.timeout)
    subclusters = ldap.search(source.url, source.search_base, "GlueSubCluster", source.timeout)
    return parse(ces, subclusters, source.url)


def parse(ces: list[Record], subclusters: list[Record], server: str) -> list[CEQueue]:
    """CEQueues from GlueCE and GlueSubCluster records (pure)."""
    by_cluster: dict[str, Record] = {}
    for sub in subclusters:
        for key in sub.get("gluechunkkey", []):
            if key.startswith("GlueClusterUniqueID="):
                by_cluster.setdefault(key.split("=", 1)[1], sub)
    queues = []
    for ce in ces:
        queue = _queue(ce, by_cluster.get(first(ce, "GlueCEHostingCluster"), {}), server)
        if queue is not None:
            queues.append(queue)
    return queues


def _queue(ce: Record, sub: Record, server: str) -> CEQueue | None:
    ident = first(ce, "GlueCEUniqueID")
    grid = grid_of(first(ce, "GlueCEImplementationName"))
    if grid is None:
        log.debug("ce=%s implementation=%s: not submitted to", ident, first(ce, "GlueCEImplementationName"))
        return None
    host = first(ce, "GlueCEInfoHostName") or ident.split(":", 1)[0]
    rules = ce.get("glueceaccesscontrolbaserule", [])
    site = first(ce, "GlueSiteUniqueID") or first(ce, "GlueCEHostingCluster") or host
    return CEQueue(
        site=site,
        host=host,
        grid_type=grid,
        grid_resource=grid_resource(grid, host, number(ce, "GlueCEInfoGatekeeperPort")),
        queue=first(ce, "GlueCEName"),
        state=first(ce, "GlueCEStateStatus", "Production"),
        max_wall_time=60 * number(ce, "GlueCEPolicyMaxWallClockTime"),
        max_cpu_time=60 * number(ce, "GlueCEPolicyMaxCPUTime"),
        memory_mb=number(sub, "GlueHostMainMemoryRAMSize"),
        cpus=number(sub, "GlueHostArchitectureSMPSize"),
        vos=tuple(rule.split(":", 1)[1] for rule in rules if rule.lower().startswith("vo:")),
        ref_type="BDII",
        ref_server=server,
        ref_key=ident,
    )
