"""glideinWMS XML -> our factory config: what maps where, and nothing dropped silently."""

from __future__ import annotations

from pathlib import Path

import pytest

from glidein.common.config.factory import FactoryConfig
from glidein.common.config.loader import validate
from glidein.common.config.xml_import import import_xml
from glidein.common.errors import ConfigError

XML = Path(__file__).resolve().parents[3] / "etc" / "glideinWMS-factory-example.xml"


def convert(text: str) -> tuple[FactoryConfig, list[str]]:
    result = import_xml(text.encode(), "g.xml")
    return validate(FactoryConfig, result.data, "out.yaml", Path("/"), {}), result.unmapped


def test_example_maps_entries_sets_frontends_and_limits() -> None:
    result = import_xml(XML.read_bytes(), "g.xml")
    config = validate(FactoryConfig, result.data, "out.yaml", Path("/"), {})
    assert config.name == "osg_example_factory" and config.glidein_name == "v3_10"
    assert config.collectors == ["gfactory.example.org:9618"]
    assert config.loop.interval == 90
    assert [fe.name for fe in config.frontends] == ["uscms_fe", "osgvo_fe"]
    assert config.frontends[0].security_classes[1].username == "cmsuser01"
    red = config.entry("CMS_T2_US_Nebraska_Red")
    assert red is not None and red.submitter.type == "htcondor"
    assert red.submitter.grid_resource == "condor red-ce1.example.edu red-ce1.example.edu:9619"
    assert red.submitter.schedd == "schedd_glideins2@gfactory.example.org"
    assert red.submitter.submit_attrs["+maxMemory"] == "16000"
    assert (red.limits.max_glideins, red.limits.max_idle, red.limits.max_held) == (4000, 400, 200)
    assert red.limits.per_frontend["uscms_fe:cmspilot"].max_idle == 300
    assert red.limits.submit_rate == 20.0  # cluster_size 10 every 0.5 s
    assert red.attrs["GLIDEIN_CPUS"].value == 8
    assert red.allow_frontends[0].security_class == "cmspilot"
    slurm = config.entry("OSG_US_Campus_Slurm")
    assert slurm is not None and slurm.submitter.type == "htcondor"
    assert slurm.submitter.grid_resource == "batch slurm hpc-login.campus.example.edu"
    arc = config.entry("OSG_EU_ARC_Test")
    assert arc is not None and not arc.enabled and arc.auth_methods == ["grid_proxy"]
    member = config.entry("CMS_T2_DE_DESY_ce2")
    assert member is not None and member.entry_set == "CMS_T2_DE_DESY_set"
    assert member.limits.max_idle == 100  # from the set's <config>
    assert member.submitter.submit_attrs == {"+maxWallTime": "1440"}
    assert member.attrs["GLIDEIN_Site"].value == "DESY"
    assert any("signing_keys" in note for note in result.notes)


def test_unknown_elements_and_attributes_are_listed_with_lines() -> None:
    text = """<glidein factory_name="f" factory_collector="127.0.0.1:9618" schedd_name="s1@h,s9@h">
  <stage base_dir="/s" web_base_url="http://h/stage" use_symlink="True"/>
  <entries>
    <entry name="e1" gatekeeper="ce ce:9619" gridtype="condor" vm_id="ami-1" schedd_name="s2@h">
      <config><max_jobs><per_entry idle="ten" glideins="5"/></max_jobs></config>
      <files/>
      <mystery><deep/></mystery>
    </entry>
  </entries>
</glidein>"""
    config, unmapped = convert(text)
    assert config.entries[0].limits.max_glideins == 5
    assert config.entries[0].limits.max_idle == 2000  # bad value not used: listed instead
    assert unmapped == [
        "g.xml:2: <stage> attribute use_symlink='True' not mapped",
        "g.xml:4: <entry name='e1'> attribute vm_id='ami-1' not mapped",
        "g.xml:5: <per_entry> attribute idle='ten': not an integer",
        "g.xml:7: <mystery> element not mapped (and 1 element(s) inside)",
    ]
    submitter = config.entries[0].submitter
    assert submitter.type == "htcondor" and submitter.schedd == "s2@h"  # the entry's own schedd wins


def test_not_a_factory_config_or_not_xml() -> None:
    with pytest.raises(ConfigError, match=r"g.xml:1: expected a <glidein> factory config, found <frontend>"):
        import_xml(b"<frontend/>", "g.xml")
    with pytest.raises(ConfigError, match=r"g.xml:1: invalid XML"):
        import_xml(b"<glidein", "g.xml")


def test_entity_expansion_is_refused() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE g [<!ENTITY a "aaaa">]><glidein factory_name="&a;"/>'
    with pytest.raises(ConfigError, match="refused XML"):
        import_xml(bomb, "g.xml")


def test_sequential_glideinwms_workers_stay_sequential() -> None:
    config, _ = convert(
        '<glidein factory_name="f" factory_collector="h:9618" entry_parallel_workers="0" loop_delay="30"/>'
    )
    assert (config.loop.workers, config.loop.interval) == (1, 30)
    assert config.entries == [] and config.frontends == []


def test_setup_files_map_and_data_files_are_listed() -> None:
    result = import_xml(XML.read_bytes(), "g.xml")
    config = validate(FactoryConfig, result.data, "out.yaml", Path("/"), {})
    files = [(str(f.path), f.kind, f.period, f.untar_dir) for f in config.staging.files]
    assert files == [
        ("/etc/gwms-factory/files/site_tools.tar.gz", "untar", 0, "site_tools"),
        ("/etc/gwms-factory/files/cvmfs_check.sh", "exec", 3600, None),
    ]
    red = config.entry("CMS_T2_US_Nebraska_Red")
    assert red is not None and [f.kind for f in red.files] == ["exec"]
    text = XML.read_text()
    data_line = next(n for n, line in enumerate(text.splitlines(), 1) if "blacklist.txt" in line)
    assert f"g.xml:{data_line}: <file> element not mapped" in result.unmapped
    assert any("<untar_options> attribute cond_attr='TRUE' not mapped" in line for line in result.unmapped)
