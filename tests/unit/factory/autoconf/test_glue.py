"""GLUE 2.0 and 1.3 records (as ldap.search returns them: lower-case names, lists of strings)."""

from __future__ import annotations

from glidein.factory.autoconf import glue1, glue2

SERVER = "ldap://bdii.example.org:2170"


def glue2_records(endpoint_state: str = "production") -> dict[str, list[dict[str, list[str]]]]:
    return {
        "GLUE2ComputingService": [
            {"glue2serviceid": ["svc"], "glue2serviceadmindomainforeignkey": ["T2_XX_Site"]}
        ],
        "GLUE2ComputingEndpoint": [
            {
                "glue2endpointid": ["ep-ce"],
                "glue2endpointurl": ["ce.site.org:9619"],
                "glue2endpointinterfacename": ["org.opensciencegrid.htcondorce"],
                "glue2endpointservingstate": [endpoint_state],
                "glue2endpointserviceforeignkey": ["svc"],
            },
            {
                "glue2endpointid": ["ep-cream"],
                "glue2endpointurl": ["https://cream.site.org:8443/ce-cream/services"],
                "glue2endpointinterfacename": ["org.glite.ce.CREAM"],
                "glue2endpointserviceforeignkey": ["svc"],
            },
        ],
        "GLUE2ComputingShare": [
            {
                "glue2shareid": ["share-long"],
                "glue2shareserviceforeignkey": ["svc"],
                "glue2computingsharemappingqueue": ["long"],
                "glue2computingshareservingstate": ["production"],
                "glue2computingsharemaxwalltime": ["172800"],
                "glue2computingshareexecutionenvironmentforeignkey": ["env"],
            }
        ],
        "GLUE2ExecutionEnvironment": [
            {
                "glue2resourceid": ["env"],
                "glue2executionenvironmentmainmemorysize": ["32000"],
                "glue2executionenvironmentlogicalcpus": ["16"],
            }
        ],
        "GLUE2AccessPolicy": [
            {"glue2policyrule": ["VO:atlas", "VO:cms"], "glue2accesspolicyendpointforeignkey": ["ep-ce"]}
        ],
    }


def test_glue2_share_without_endpoint_keys_uses_its_services_supported_endpoints() -> None:
    (queue,) = glue2.parse(glue2_records(), SERVER)  # the CREAM endpoint is not submitted to
    assert queue.name == "T2_XX_Site_ce.site.org_long"
    assert queue.grid_resource == "condor ce.site.org ce.site.org:9619"
    assert (queue.max_wall_time, queue.memory_mb, queue.cpus) == (172800, 32000, 16)
    assert queue.vos == ("atlas", "cms") and queue.open  # the endpoint's access policy
    assert (queue.ref_server, queue.ref_key) == (SERVER, "share-long")


def test_glue2_a_draining_endpoint_drains_its_shares() -> None:
    (queue,) = glue2.parse(glue2_records("draining"), SERVER)
    assert queue.state == "draining" and not queue.open
    assert queue.entry()["downtimes"] == [{"comment": "infosys: queue is draining"}]


def test_glue1_ces_with_subcluster_memory_and_minutes() -> None:
    ces = [
        {
            "glueceuniqueid": ["arc.site.org:2811/nordugrid-slurm-short"],
            "gluecename": ["short"],
            "glueceimplementationname": ["ARC-CE"],
            "glueceinfohostname": ["arc.site.org"],
            "gluecestatestatus": ["Closed"],
            "gluecepolicymaxwallclocktime": ["120"],
            "glueceaccesscontrolbaserule": ["VO:dteam", "VOMS:/dteam/Role=lcgadmin"],
            "gluecehostingcluster": ["arc.site.org"],
            "gluesiteuniqueid": ["SITE-X"],
        },
        {"glueceuniqueid": ["old.site.org:8443/cream-pbs-long"], "glueceimplementationname": ["CREAM"]},
    ]
    subclusters = [
        {"gluechunkkey": ["GlueClusterUniqueID=arc.site.org"], "gluehostmainmemoryramsize": ["4000"]}
    ]
    (queue,) = glue1.parse(ces, subclusters, SERVER)
    assert (queue.grid_resource, queue.queue, queue.max_wall_time) == ("arc arc.site.org", "short", 7200)
    assert queue.memory_mb == 4000 and queue.vos == ("dteam",) and not queue.open
    assert queue.entry()["submitter"]["submit_attrs"] == {"batch_queue": "short"}
