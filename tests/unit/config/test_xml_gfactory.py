"""A production factory's config.d fragments (own fixtures modelled on a public grid factory):
every entry kept, `config check` clean, what has no meaning here counted once per kind."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

import pytest
from pydantic import ValidationError

from glidein.common.config import ConfigProblems
from glidein.common.config.attrs import Attr
from glidein.common.config.factory import FactoryConfig
from glidein.common.config.loader import validate
from glidein.common.config.xml_import import ImportResult, import_fragments, xml_kind
from glidein.factory.ads import published_attrs

FIXTURES = Path(__file__).resolve().parent / "gfactory"
NAMES = [
    "EX_T2_US_Alpha_ce1",
    "EX_T2_DE_Beta_arc1",
    "EX_T2_UK_Gamma_arc2",
    "EX_T3_US_Delta_hpc",
    "EX_T2_FR_Eps_cream",
    "EX_T3_IT_Zeta_gt5",
    "EX_Cloud_Eta",
]


def imported() -> tuple[ImportResult, FactoryConfig]:
    result = import_fragments([(path.read_bytes(), str(path)) for path in sorted(FIXTURES.glob("*.xml"))])
    return result, validate(FactoryConfig, result.data, "out.yaml", Path("/"), {})


def test_every_entry_is_kept_and_the_later_file_wins() -> None:
    result, config = imported()
    assert [entry.name for entry in config.all_entries()] == NAMES
    beta = config.entry("EX_T2_DE_Beta_arc1")
    assert beta is not None and beta.submitter.type == "htcondor"
    assert beta.submitter.submit_attrs["batch_queue"] == "long"  # 20-example-override.xml's
    where = f"{FIXTURES}/10-example-sites.xml:124: <entry name='EX_Cloud_Eta'>"
    assert result.unmapped_summary == [
        f"{where} attribute vm_id='ami-0123' not mapped",
        f"{where} attribute vm_type='m5.large' not mapped",
    ]


def test_what_has_no_meaning_is_one_counted_line_per_kind() -> None:
    result, _ = imported()
    first = f"first at {FIXTURES}/10-example-sites.xml:12"
    release = "<release> sleep: no meaning here (the factory releases a cycle's pilots in one schedd call)"
    assert f"{release} (4 times; {first})" in result.dropped
    kinds = [line.split(" (", 1)[0] for line in result.dropped]
    assert "rsl: no meaning for gridtype condor" in kinds
    assert "rsl of a gridtype not supported here" in kinds  # cream and gt5: one kind each
    assert "gridtype nordugrid: became an arc entry of the same CE" in kinds
    assert len(kinds) == len(set(result.dropped))


def test_disabled_entries_of_unsupported_grid_types_warn_once_per_type() -> None:
    _, config = imported()
    assert config.problems() == []
    warnings = [text for loc, text in config.warnings() if loc[-1] == "grid_resource"]
    assert warnings == [
        f"entry {name!r}: grid type {kind!r} is not supported (supported: condor, arc, batch);"
        " disabled (enabling one is an error)"
        for name, kind in (
            ("EX_T2_FR_Eps_cream", "cream"),
            ("EX_T3_IT_Zeta_gt5", "gt5"),
            ("EX_Cloud_Eta", "ec2"),
        )
    ]


def test_an_enabled_entry_of_an_unsupported_grid_type_fails_check() -> None:
    result, _ = imported()
    result.data["entries"][4]["enabled"] = True
    result.data["entries"][5]["submitter"]["grid_resource"] = "nordugrid gk.zeta.example.it"
    result.data["entries"][5]["enabled"] = True
    with pytest.raises(ConfigProblems) as info:
        validate(FactoryConfig, result.data, "out.yaml", Path("/"), {})
    assert info.value.lines == [
        "out.yaml: entries[4].submitter.grid_resource: entry 'EX_T2_FR_Eps_cream': grid type 'cream' is not"
        " supported (supported: condor, arc, batch)",
        "out.yaml: entries[5].submitter.grid_resource: entry 'EX_T3_IT_Zeta_gt5': grid type 'nordugrid'"
        " is not supported (supported: condor, arc, batch); the ARC gridftp interface is gone from"
        " HTCondor 23 and ARC 7: use `arc <host>`",
    ]


def test_expr_attrs_are_htcondor_config_values_published_as_text() -> None:
    _, config = imported()
    alpha = config.entry("EX_T2_US_Alpha_ce1")
    beta = config.entry("EX_T2_DE_Beta_arc1")
    assert alpha is not None and beta is not None
    debug = alpha.attrs["STARTD_DEBUG"]
    assert (debug.type, debug.value, debug.publish) == ("config", "$(STARTD_DEBUG) D_SECURITY", False)
    assert alpha.attrs["NETWORK_INTERFACE"].value == "172.18.*"  # no ClassAd expression: fine here
    assert published_attrs(beta.attrs)["IsExampleVO"] == "True"  # text in the entry ad, as glideinWMS


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("$(STARTD_DEBUG D_SECURITY", "unclosed macro"),
        ("D_FULLDEBUG\nSTART = True", "must be one line"),
        ("D_ALL \\", "line continuation"),
        ("$(1st)", "invalid macro"),
    ],
)
def test_bad_htcondor_config_values_are_refused(value: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Attr(value=value, type="config")


def test_pilot_settings_limits_and_kept_records() -> None:
    _, config = imported()
    alpha, delta = config.entry("EX_T2_US_Alpha_ce1"), config.entry("EX_T3_US_Delta_hpc")
    gamma = config.entry("EX_T2_UK_Gamma_arc2")
    assert alpha is not None and delta is not None and gamma is not None
    assert (alpha.pilot.slots_layout, alpha.pilot.work_dir, alpha.pilot.proxy_url) == (
        "partitionable",
        "OSG",
        "OSG",
    )
    assert (delta.pilot.work_dir, delta.pilot.proxy_url) == ("AUTO", "http://squid.delta.example.edu:3128")
    assert (gamma.pilot.verbosity, gamma.pilot.work_dir, gamma.pilot.slots_layout) == ("fast", ".", "fixed")
    # num_factories="2": each of two factories gets half, as in glideinWMS
    assert (alpha.limits.max_glideins, alpha.limits.max_idle, alpha.limits.max_held) == (1000, 200, 50)
    assert alpha.limits.per_frontend["ExampleVO:pilot"].max_idle == 25
    assert alpha.comment == (
        "Moved to HTCondor-CE 2021-03-02 --Ana; attrs.STARTD_DEBUG: debugging auth at the site;"
        " per_entry: site asked for at most 2000"
    )
    assert [(r.type, r.server, r.ref) for r in alpha.infosys_refs] == [
        ("OSG_CE_collector", "collector.example.org", "ce1.alpha.example.edu")
    ]
    assert alpha.monitor_groups == ["ALPHA"]
    assert config.frontends[0].name == "ExampleVO"  # named by a per_frontend limit, declared


def test_factory_and_frontend_xml_are_told_apart() -> None:
    assert xml_kind(b"<glidein><entries/></glidein>", "a.xml") == "factory"
    assert xml_kind(b'<frontend frontend_name="fe"/>', "b.xml") == "frontend"


def test_short_attrs_and_attr_flags_keep_every_flag_of_the_xml() -> None:
    result, config = imported()
    assert result.data["attr_flags"]["GLIDEIN_Site"] == {"glidein_publish": True, "job_publish": True}
    assert result.data["entries"][0]["attrs"]["GLIDEIN_Site"] == "Alpha"  # the flags come from attr_flags
    expected: dict[tuple[str, str], dict[str, object]] = {}
    for path in sorted(FIXTURES.glob("*.xml")):
        for entry in ElementTree.parse(path).getroot().iter("entry"):
            for attr in entry.iter("attr"):
                flags = {k: attr.get(k) == "True" for k in ("publish", "parameter", "const")}
                flags |= {k: attr.get(k) == "True" for k in ("glidein_publish", "job_publish")}
                kind = {"expr": "config"}.get(attr.get("type", ""), attr.get("type"))
                expected[(entry.get("name", ""), attr.get("name", ""))] = {**flags, "type": kind}
    found = {
        (entry.name, name): {**attr.model_dump(include={"publish", "parameter", "const"}), "type": attr.type}
        | attr.model_dump(include={"glidein_publish", "job_publish"})
        for entry in config.all_entries()
        for name, attr in entry.attrs.items()
        if name != "GLIDEIN_TrustDomain"
    }
    assert found == expected
