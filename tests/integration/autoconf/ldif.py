"""LDIF the tests load into their slapd: GLUE 2.0 and GLUE 1.3 CEs, like a site BDII publishes."""

from __future__ import annotations

GLUE2_BASE = "o=glue"
GLUE1_BASE = "mds-vo-name=local,o=grid"
RESOURCE = f"GLUE2GroupID=resource,{GLUE2_BASE}"


def record(dn: str, classes: list[str], attrs: dict[str, str | list[str]]) -> str:
    lines = [f"dn: {dn}"] + [f"objectClass: {cls}" for cls in classes]
    for key, value in attrs.items():
        lines += [f"{key}: {item}" for item in (value if isinstance(value, list) else [value])]
    return "\n".join(lines) + "\n\n"


def glue2_service(site: str, ce: int, queues: int, arc: bool = False) -> str:
    """One computing service: an endpoint (HTCondor-CE or ARC REST), its access policy, an
    execution environment, and `queues` shares with a mapping policy each."""
    svc, ep, env = f"{site}_svc{ce}", f"{site}_ep{ce}", f"{site}_env{ce}"
    host = f"ce{ce}.{site.lower()}.example.org"
    svc_dn = f"GLUE2ServiceID={svc},{RESOURCE}"
    ep_dn = f"GLUE2EndpointID={ep},{svc_dn}"
    text = record(
        svc_dn,
        ["GLUE2Service", "GLUE2ComputingService"],
        {
            "GLUE2ServiceID": svc,
            "GLUE2ServiceType": "org.nordugrid.arex" if arc else "org.opensciencegrid.htcondorce",
            "GLUE2ServiceQualityLevel": "production",
            "GLUE2ServiceAdminDomainForeignKey": site,
        },
    )
    text += record(
        ep_dn,
        ["GLUE2Endpoint", "GLUE2ComputingEndpoint"],
        {
            "GLUE2EndpointID": ep,
            "GLUE2EndpointURL": f"https://{host}:443/arex" if arc else f"condor://{host}:9619",
            "GLUE2EndpointInterfaceName": (
                "org.nordugrid.arcrest" if arc else "org.opensciencegrid.htcondorce"
            ),
            "GLUE2EndpointQualityLevel": "production",
            "GLUE2EndpointHealthState": "ok",
            "GLUE2EndpointServingState": "production",
            "GLUE2EndpointServiceForeignKey": svc,
            "GLUE2ComputingEndpointComputingServiceForeignKey": svc,
        },
    )
    text += record(
        f"GLUE2PolicyID={ep}_ap,{ep_dn}",
        ["GLUE2Policy", "GLUE2AccessPolicy"],
        {
            "GLUE2PolicyID": f"{ep}_ap",
            "GLUE2PolicyScheme": "org.glite.standard",
            "GLUE2PolicyRule": ["VO:cms", "VO:atlas"],
            "GLUE2AccessPolicyEndpointForeignKey": ep,
        },
    )
    text += record(
        f"GLUE2ResourceID={env},{svc_dn}",
        ["GLUE2Resource", "GLUE2ExecutionEnvironment"],
        {
            "GLUE2ResourceID": env,
            "GLUE2ResourceManagerForeignKey": f"{svc}_manager",
            "GLUE2ExecutionEnvironmentPlatform": "amd64",
            "GLUE2ExecutionEnvironmentMainMemorySize": "16000",
            "GLUE2ExecutionEnvironmentLogicalCPUs": "8",
            "GLUE2ExecutionEnvironmentOSFamily": "linux",
            "GLUE2ExecutionEnvironmentConnectivityIn": "FALSE",
            "GLUE2ExecutionEnvironmentConnectivityOut": "TRUE",
        },
    )
    for q in range(queues):
        text += glue2_share(site, ce, q)
    return text


def glue2_share_dn(site: str, ce: int, q: int) -> str:
    return f"GLUE2ShareID={site}_share{ce}_{q},GLUE2ServiceID={site}_svc{ce},{RESOURCE}"


def glue2_share(site: str, ce: int, q: int) -> str:
    share, dn = f"{site}_share{ce}_{q}", glue2_share_dn(site, ce, q)
    text = record(
        dn,
        ["GLUE2Share", "GLUE2ComputingShare"],
        {
            "GLUE2ShareID": share,
            "GLUE2ShareServiceForeignKey": f"{site}_svc{ce}",
            "GLUE2ComputingShareServingState": "production",
            "GLUE2ComputingShareMappingQueue": f"queue{q}",
            "GLUE2ComputingShareMaxWallTime": str(3600 * (q + 1)),
            "GLUE2ComputingShareMaxCPUTime": str(3600 * (q + 1)),
            "GLUE2ComputingShareMaxMainMemory": str(2000 * (q + 1)),
            "GLUE2ComputingShareComputingEndpointForeignKey": f"{site}_ep{ce}",
            "GLUE2ComputingShareExecutionEnvironmentForeignKey": f"{site}_env{ce}",
        },
    )
    return text + record(
        f"GLUE2PolicyID={share}_mp,{dn}",
        ["GLUE2Policy", "GLUE2MappingPolicy"],
        {
            "GLUE2PolicyID": f"{share}_mp",
            "GLUE2PolicyScheme": "org.glite.standard",
            "GLUE2PolicyRule": "VO:cms" if q % 2 == 0 else "VO:atlas",
            "GLUE2MappingPolicyShareForeignKey": share,
        },
    )


def glue2_tree(sites: int, ces: int, queues: int) -> str:
    """sites x ces x queues shares; every third CE is an ARC-CE."""
    text = record(GLUE2_BASE, ["organization"], {"o": "glue"})
    text += record(RESOURCE, ["GLUE2Group"], {"GLUE2GroupID": "resource"})
    for s in range(sites):
        for c in range(ces):
            text += glue2_service(f"SITE{s}", c, queues, arc=(s * ces + c) % 3 == 2)
    return text


def glue1_ce_dn(host: str, queue: str) -> str:
    return f"GlueCEUniqueID={host}:9619/htcondorce-condor-{queue},{GLUE1_BASE}"


def glue1_tree(sites: int, queues: int) -> str:
    """One HTCondor-CE per site with `queues` GlueCE queues, and its GlueSubCluster."""
    text = record("o=grid", ["organization"], {"o": "grid"})
    text += record(GLUE1_BASE, ["MDS"], {"Mds-Vo-name": "local"})
    for s in range(sites):
        host, cluster = f"ce.site{s}.example.org", f"cluster{s}"
        text += record(
            f"GlueSubClusterUniqueID={cluster}-sub,{GLUE1_BASE}",
            ["GlueClusterTop", "GlueSubCluster", "GlueHostMainMemory", "GlueHostArchitecture", "GlueKey"],
            {
                "GlueSubClusterUniqueID": f"{cluster}-sub",
                "GlueChunkKey": f"GlueClusterUniqueID={cluster}",
                "GlueHostMainMemoryRAMSize": "24000",
                "GlueHostArchitectureSMPSize": "12",
            },
        )
        for q in range(queues):
            text += record(
                glue1_ce_dn(host, f"q{q}"),
                ["GlueCETop", "GlueCE"],
                {
                    "GlueCEUniqueID": f"{host}:9619/htcondorce-condor-q{q}",
                    "GlueCEName": f"q{q}",
                    "GlueCEImplementationName": "HTCondorCE",
                    "GlueCEInfoHostName": host,
                    "GlueCEInfoGatekeeperPort": "9619",
                    "GlueCEStateStatus": "Production",
                    "GlueCEPolicyMaxWallClockTime": str(60 * (q + 1)),
                    "GlueCEPolicyMaxCPUTime": str(60 * (q + 1)),
                    "GlueCEAccessControlBaseRule": ["VO:cms", "VOMS:/cms/Role=pilot"],
                    "GlueCEHostingCluster": cluster,
                    "GlueSiteUniqueID": f"GLUE1_SITE{s}",
                },
            )
    return text
