"""Imported glideinWMS entries submit what glideinWMS's factory would: the grid resource, the
queue, cores, memory and wall time (recorded from glideinWMS's submit-file code for each grid
type: condor/arc/batch get grid_resource "<gridtype> <gatekeeper>" and every submit_attr as is;
nordugrid gets its rsl as nordugrid_rsl, which we translate to the ARC REST commands)."""

from __future__ import annotations

from pathlib import Path

from glidein.common.config.factory import FactoryConfig
from glidein.common.config.loader import validate
from glidein.common.config.xml_import import import_fragments
from glidein.factory.submitters.base import PilotSpec
from glidein.factory.submitters.htcondor_desc import description
from glidein.factory.worker import entry_cpus

FIXTURES = Path(__file__).resolve().parents[2] / "config" / "gfactory"
RESOURCE_KEYS = {
    "grid_resource",
    "+xcount",
    "+maxMemory",
    "+maxWallTime",
    "+queue",
    "request_cpus",
    "request_memory",
    "batch_queue",
    "arc_resources",
    "arc_rte",
    "nordugrid_rsl",
    "+NodeNumber",
    "+remote_queue",
}
# What glideinWMS's factory writes into these entries' submit files (resource-related lines).
GLIDEINWMS = {
    "EX_T2_US_Alpha_ce1": {
        "grid_resource": "condor ce1.alpha.example.edu ce1.alpha.example.edu:9619",
        "+xcount": "8",
        "+maxMemory": "16000",
        "+maxWallTime": "2880",
        "+queue": '"long"',
    },
    "EX_T2_DE_Beta_arc1": {
        "grid_resource": "arc arc1.beta.example.de",
        "batch_queue": "long",
        "request_cpus": "8",
        "request_memory": "2500",
        "arc_resources": "<WallTime>172800</WallTime>",
        "arc_rte": "ENV/PROXY",
    },
    "EX_T3_US_Delta_hpc": {  # glideinWMS puts its remote user in front of the host; the host is the same
        "grid_resource": "batch slurm pilot@login.delta.example.edu",
        "+NodeNumber": "2",
        "+remote_queue": '"regular"',
    },
}
GAMMA_RSL = (  # glideinWMS: grid_resource "nordugrid arc2.gamma.example.ac.uk", nordugrid_rsl = this
    "(queue=grid)(count=8)(memory=3000)(walltime=2880)(runtimeenvironment=ENV/GLITE)"
    "(runtimeenvironment=ENV/PROXY)(jobtype=single)"
)


def _descriptions(tmp_path: Path) -> dict[str, dict[str, str]]:
    result = import_fragments([(p.read_bytes(), str(p)) for p in sorted(FIXTURES.glob("*.xml"))])
    config = validate(FactoryConfig, result.data, "out.yaml", Path("/"), {})
    out = {}
    for entry in config.all_entries():
        if entry.enabled:
            spec = PilotSpec(
                "p1", entry.name, "fe.main", ["python3", "glidein_startup.py"], cpus=entry_cpus(entry)
            )
            out[entry.name] = description(spec, entry.submitter, tmp_path, None)
    return out


def test_condor_arc_and_batch_entries_submit_what_glideinwms_would(tmp_path: Path) -> None:
    descriptions = _descriptions(tmp_path)
    for name, expected in GLIDEINWMS.items():
        desc = descriptions[name]
        assert {k: v for k, v in desc.items() if k in RESOURCE_KEYS} == expected, name
    assert descriptions["EX_T2_US_Alpha_ce1"]["universe"] == "grid"


def test_a_nordugrid_entry_asks_the_same_ce_for_its_rsl_resources(tmp_path: Path) -> None:
    desc = _descriptions(tmp_path)["EX_T2_UK_Gamma_arc2"]
    assert {k: v for k, v in desc.items() if k in RESOURCE_KEYS} == {
        "grid_resource": "arc arc2.gamma.example.ac.uk",  # same CE, its REST interface
        "batch_queue": "grid",  # (queue=grid)
        "request_cpus": "8",  # (count=8)
        "request_memory": "3000",  # (memory=3000), MB a core in both
        "arc_resources": "<WallTime>172800</WallTime>",  # (walltime=2880) minutes -> ADL seconds
        "arc_rte": "ENV/GLITE,ENV/PROXY",  # the two runtimeenvironment terms
    }
    for term in ("queue=grid", "count=8", "memory=3000", "walltime=2880"):
        assert f"({term})" in GAMMA_RSL
    assert desc["+GlideinSkipIdleRemoval"] == "True"  # all_grid_types="True": glideinWMS submits it
    assert "+WantWholeNode" not in desc  # no all_grid_types: glideinWMS skips it for nordugrid


def test_a_native_entry_still_asks_for_its_glidein_cpus(tmp_path: Path) -> None:
    from glidein.common.config.entry import HTCondorSubmitter

    params = HTCondorSubmitter(grid_resource="condor ce.example.org ce.example.org:9619")
    spec = PilotSpec("p1", "CE", "fe.main", ["python3", "glidein_startup.py"], cpus=4)
    assert description(spec, params, tmp_path, None)["+xcount"] == "4"
    own = HTCondorSubmitter(grid_resource="arc arc.example.org", submit_attrs={"RequestCpus": "2"})
    assert "request_cpus" not in description(spec, own, tmp_path, None)  # the operator's own wins
