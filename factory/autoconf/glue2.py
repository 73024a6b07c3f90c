"""GLUE 2.0 from a BDII: ComputingShare (queue) x ComputingEndpoint (CE contact) -> CEQueue.

A share's endpoints are its `GLUE2ComputingShareComputingEndpointForeignKey`s (or, if it names
none, every computing endpoint of its service); the site is the service's admin domain. The VOs
are the share's MappingPolicy rules (`VO:cms`), else its endpoint's AccessPolicy rules. Memory is
the share's MaxMainMemory, else its ExecutionEnvironment's MainMemorySize; CPUs the environment's
LogicalCPUs. A share or endpoint not in `production` serving state gives its state to the queue.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from urllib.parse import urlsplit

from glidein.common.config.autoconf import InfoSource
from glidein.factory.autoconf import ldap
from glidein.factory.autoconf.ldap import Record, first, number
from glidein.factory.autoconf.queues import PRODUCTION, CEQueue, grid_of, grid_resource

log = logging.getLogger(__name__)
CLASSES = (
    "GLUE2ComputingService",
    "GLUE2ComputingEndpoint",
    "GLUE2ComputingShare",
    "GLUE2ExecutionEnvironment",
    "GLUE2MappingPolicy",
    "GLUE2AccessPolicy",
)


def read(source: InfoSource) -> list[CEQueue]:
    """The queues the BDII at `source.url` publishes in GLUE 2.0."""
    found = {cls: ldap.search(source.url, source.search_base, cls, source.timeout) for cls in CLASSES}
    return parse(found, source.url)


def parse(found: dict[str, list[Record]], server: str) -> list[CEQueue]:
    """CEQueues from records by object class (pure)."""
    services = {first(r, "GLUE2ServiceID"): r for r in found.get("GLUE2ComputingService", [])}
    endpoints = {first(r, "GLUE2EndpointID"): r for r in found.get("GLUE2ComputingEndpoint", [])}
    envs = {first(r, "GLUE2ResourceID"): r for r in found.get("GLUE2ExecutionEnvironment", [])}
    share_vos = _rules(found.get("GLUE2MappingPolicy", []), "GLUE2MappingPolicyShareForeignKey")
    endpoint_vos = _rules(found.get("GLUE2AccessPolicy", []), "GLUE2AccessPolicyEndpointForeignKey")
    by_service: dict[str, list[str]] = defaultdict(list)
    for ident, record in endpoints.items():
        by_service[first(record, "GLUE2EndpointServiceForeignKey")].append(ident)
    queues: list[CEQueue] = []
    for share in found.get("GLUE2ComputingShare", []):
        service_id = first(share, "GLUE2ShareServiceForeignKey")
        linked = share.get("glue2computingsharecomputingendpointforeignkey") or share.get(
            "glue2shareendpointforeignkey"
        )
        for endpoint_id in linked or by_service.get(service_id, []):
            endpoint = endpoints.get(endpoint_id)
            if endpoint is None:
                continue
            vos = share_vos.get(first(share, "GLUE2ShareID")) or endpoint_vos.get(endpoint_id, [])
            env = _env(share, envs)
            queue = _queue(share, endpoint, (services.get(service_id, {}), env), vos, server)
            if queue is not None:
                queues.append(queue)
    return queues


def _queue(
    share: Record, endpoint: Record, service_env: tuple[Record, Record], vos: list[str], server: str
) -> CEQueue | None:
    service, env = service_env
    interface = first(endpoint, "GLUE2EndpointInterfaceName")
    grid = grid_of(interface)
    share_id = first(share, "GLUE2ShareID")
    if grid is None:
        log.debug("share=%s interface=%s: not a grid type the factory submits to", share_id, interface)
        return None
    url = first(endpoint, "GLUE2EndpointURL")
    parts = urlsplit(url if "//" in url else f"//{url}")
    host = parts.hostname or url
    state = first(share, "GLUE2ComputingShareServingState", PRODUCTION)
    if state.lower() == PRODUCTION:
        state = first(endpoint, "GLUE2EndpointServingState", PRODUCTION)
    return CEQueue(
        site=first(service, "GLUE2ServiceAdminDomainForeignKey") or host,
        host=host,
        grid_type=grid,
        grid_resource=grid_resource(grid, host, parts.port or 0, url if grid == "arc" else ""),
        queue=first(share, "GLUE2ComputingShareMappingQueue"),
        state=state,
        max_wall_time=number(share, "GLUE2ComputingShareMaxWallTime"),
        max_cpu_time=number(share, "GLUE2ComputingShareMaxCPUTime"),
        memory_mb=number(share, "GLUE2ComputingShareMaxMainMemory")
        or number(env, "GLUE2ExecutionEnvironmentMainMemorySize"),
        cpus=number(env, "GLUE2ExecutionEnvironmentLogicalCPUs"),
        vos=tuple(vos),
        ref_type="BDII",
        ref_server=server,
        ref_key=share_id,
    )


def _env(share: Record, envs: dict[str, Record]) -> Record:
    keys = share.get("glue2computingshareexecutionenvironmentforeignkey", [])
    return next((envs[key] for key in keys if key in envs), {})


def _rules(policies: list[Record], key: str) -> dict[str, list[str]]:
    """VO names of `VO:<name>` rules, by the policy's foreign key."""
    out: dict[str, list[str]] = defaultdict(list)
    for policy in policies:
        vos = [
            rule.split(":", 1)[1]
            for rule in policy.get("glue2policyrule", [])
            if rule.lower().startswith("vo:")
        ]
        for target in policy.get(key.lower(), []):
            out[target] += [vo for vo in vos if vo not in out[target]]
    return out
