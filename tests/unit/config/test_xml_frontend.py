"""glideinWMS frontend.xml -> our frontend config: what maps where, what is refused, what is counted."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from glidein.common import crypto
from glidein.common.config.frontend import FrontendConfig
from glidein.common.config.loader import parse_yaml, validate
from glidein.common.config.xml_frontend import (
    PLACEHOLDER_KEY,
    FrontendImport,
    FrontendImportRefused,
    import_frontend_xml,
)
from glidein.common.config.xml_match_expr import combine
from glidein.common.errors import ConfigError, SecurityError
from tests.procs import run_glidein
from tests.unit.config.gwms_match import glideinwms_pairs, our_matches

PLAIN = Path(__file__).resolve().parents[3] / "etc" / "glideinWMS-frontend-example.xml"
ODD = Path(__file__).resolve().parent / "data" / "frontend.odd.xml"


def load(result: FrontendImport) -> FrontendConfig:
    """The YAML as written, loaded the way `glidein config check` loads it."""
    data, lines = parse_yaml(result.to_yaml(), "out.yaml")
    return validate(FrontendConfig, data, "out.yaml", Path("/"), lines)


def test_plain_example_maps_groups_limits_and_expressions() -> None:
    config = load(import_frontend_xml(PLAIN.read_bytes(), "fe.xml"))
    assert config.name == "vofe_example" and config.loop.interval == 90
    assert config.collectors.wms == ["gfactory.example.org:9618"]
    assert config.collectors.user_pool == ["pool.example.org:9618"]  # the secondary range is not a pool
    assert config.security.identity == "vofe_example@gfactory.example.org"
    assert [s.name for s in config.schedds] == ["submit1.example.org", "schedd_jobs2@submit2.example.org"]
    assert not config.discover_schedds and config.schedds[0].type == "htcondor"
    assert (config.limits.idle_vms_total.max, config.limits.idle_vms_total.curb) == (2000, 400)
    assert [(c.name, c.type, c.lifetime) for c in config.credentials] == [("pilot_idtoken", "idtoken", 43200)]
    main, multi = config.groups
    assert main.match_expr == 'identicalMember(TARGET.GLIDEIN_Site, split(MY.DESIRED_Sites, ","))'
    assert main.job_constraint == (
        "((JobUniverse==5)&&(GLIDEIN_Is_Monitor =!= TRUE)&&(JOB_Is_Monitor =!= TRUE))"
        " && (DESIRED_Sites=!=UNDEFINED)"
    )
    assert main.factory_constraint == "(GLIDEIN_Site=!=UNDEFINED)"
    assert main.limits.idle_vms_per_entry.curb == 50 and main.limits.running_glideins_per_entry.max == 50000
    assert main.removal.max_level == "NO" and main.credentials is None
    assert main.params == {"GLIDECLIENT_Rank": "1", "USE_MATCH_AUTH": "True"}
    assert multi.params["GLIDEIN_Start"] == "(TARGET.RequestCpus > 1)"
    assert multi.params["GLIDEIN_Max_Walltime"] == "172800"
    assert (multi.removal.max_level, multi.removal.wait_cycles, multi.removal.margin) == ("IDLE", 3, 5)
    assert multi.limits.running_glideins_per_entry.relative_to_queue == 1.2


def test_odd_example_imports_its_awkward_cases() -> None:
    result = import_frontend_xml(ODD.read_bytes(), "odd.xml")
    config = load(result)
    assert config.name == "F" and config.state_dir == Path("/var/lib/fe_odd")
    assert config.collectors.wms == ["wms1.example.org:9618", "wms2.example.org:9620"]  # no port; ?sock=
    assert config.collectors.user_pool == ["pool.example.org:9618", "pool2.example.org:9619"]
    assert [f.name for f in config.security.trusted_factories] == ["gfactory", "gfactory2"]
    assert config.limits.idle_vms_total.curb == 1000  # curb 3000 above max 1000
    spread, numbers, empty = config.groups
    assert spread.name == "sites_spread" and not numbers.enabled and empty.match_expr == "true"
    assert spread.limits.idle_vms_per_entry.curb == 100 and spread.limits.ramp_up_attenuation == 1.0
    assert numbers.limits.ramp_up_attenuation == 2.5  # the frontend's
    assert spread.params["GLIDEIN_Start"] == '(TARGET.Owner =!= "banned") && (TARGET.RequestMemory <= 4000)'
    assert spread.params["GLIDEIN_Singularity_Use"] == "REQUIRED"  # the group's wins
    assert "ODD_Python_Value" not in numbers.params  # type="expr" is Python
    assert spread.credentials == ["vo_proxy", "vo_proxy_2", "odd-token"]
    assert numbers.credentials == ["vo_proxy", "vo_proxy_2"]  # not the other group's token
    assert [c.lifetime for c in config.credentials][-1] == 7 * 86400
    dropped = "\n".join(result.dropped)
    assert "<match_attr> not needed" in dropped and "(4 times; first at odd.xml:49)" in dropped
    assert config.is_standby and config.high_availability.active == "F"  # published as the active
    assert config.high_availability.check_interval == 60
    assert any("standby of 'F_master', published as 'F'" in n for n in result.notes)
    assert "<glideins_removal requests_tracking=True> not mapped" in dropped
    assert "?sock=... (HTCondor shared port) dropped" in dropped
    assert "<attr type='expr'> not mapped" in dropped
    assert "<schedd> of a group serves every group here" in dropped  # glideinWMS: that group only
    assert (
        "<credential> attribute trust_domain not mapped (3 times; first at odd.xml:27)"
        in result.unmapped_summary
    )
    assert any("secondary collector 'pool.example.org:9618?sock=collector1-40'" in n for n in result.notes)
    assert any("'sites.spread' written as 'sites_spread'" in n for n in result.notes)


@pytest.mark.parametrize("path", [PLAIN, ODD])
def test_translated_groups_match_like_glideinwms(path: Path) -> None:
    """Each group's match_expr as written in the XML (ANDed with the frontend's, as glideinWMS does)
    matches the same job x entry pairs in glideinWMS as the imported config's ClassAd does here."""
    config = load(import_frontend_xml(path.read_bytes(), path.name))
    from glidein.common.config.xml_tree import parse_xml

    root = parse_xml(path.read_bytes(), path.name)
    top = root.child("match")
    top_expr = top.attrs.get("match_expr") if top is not None else None
    groups = root.child("groups")
    assert groups is not None
    for node, group in zip(groups.children_named("group"), config.groups, strict=True):
        match = node.child("match")
        python = " and ".join(
            f"({' '.join(e.split())})"
            for e in (top_expr, match.attrs.get("match_expr") if match else None)
            if e
        )
        want = glideinwms_pairs(python or "True")
        assert our_matches(group.match_expr) == want, group.name
        assert group.match_expr == combine(top_expr, match.attrs.get("match_expr") if match else None)


def refused_lines(text: str) -> list[str]:
    with pytest.raises(FrontendImportRefused) as caught:
        import_frontend_xml(text.encode(), "fe.xml")
    return caught.value.lines


def test_untranslatable_match_expr_stops_with_one_line_per_group() -> None:
    text = """<frontend frontend_name="fe">
  <groups>
    <group name="subs"><match match_expr='glidein["attrs"]["GLIDEIN_Site"] in job["DESIRED_Sites"]'/></group>
    <group name="ok"><match match_expr="True"/></group>
    <group name="calls">
      <match match_expr='re.match("T2_.*", glidein["attrs"]["GLIDEIN_Site"]) is not None'/>
    </group>
    <group name="bad_query"><match><job query_expr="JobUniverse =="/></match></group>
    <group name="policy"><match policy_file="/etc/gwms-frontend/policy.py"/></group>
  </groups>
</frontend>"""
    lines = refused_lines(text)
    assert len(lines) == 4
    assert lines[0].startswith("fe.xml:3: group 'subs': match_expr '")
    assert 'job["DESIRED_Sites"]' in lines[0] and "tests a substring" in lines[0]
    assert "stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites)" in lines[0]
    assert lines[1].startswith("fe.xml:6: group 'calls': match_expr 're.match(")
    assert "in ClassAd instead" in lines[1]
    assert lines[2] == "fe.xml:8: group 'bad_query': 'JobUniverse ==' is not a valid ClassAd expression"
    assert lines[3].startswith("fe.xml:9: group 'policy': match policy_file '/etc/gwms-frontend/policy.py'")
    assert all("\n" not in line for line in lines)


def test_the_global_match_expr_is_part_of_every_group() -> None:
    text = """<frontend frontend_name="fe">
  <match match_expr='job["A"] in glidein["attrs"]["B"]'/>
  <groups><group name="g1"/><group name="g2"/></groups>
</frontend>"""
    lines = refused_lines(text)
    assert [line.split(":")[1] for line in lines] == ["3", "3"]
    assert 'group \'g1\': match_expr \'job["A"] in glidein["attrs"]["B"]\' not translated' in lines[0]


def test_placeholder_key_verifies_nothing() -> None:
    """Not a point of Ed25519's curve: no private key signs for it; replacing it is the operator's job."""
    raw = base64.b64decode(PLACEHOLDER_KEY, validate=True)
    assert len(raw) == 32
    p = 2**255 - 19
    d = -121665 * pow(121666, p - 2, p) % p
    y = int.from_bytes(raw, "little") & ((1 << 255) - 1)
    x2 = (y * y - 1) * pow(d * y * y + 1, p - 2, p) % p
    assert x2 != 0 and pow(x2, (p - 1) // 2, p) != 1  # no square root: no x for this y
    ad = crypto.sign_ad({"MyType": "glidefactory", "Name": "e@g@f"}, Ed25519PrivateKey.generate())
    with pytest.raises(SecurityError):
        crypto.verify_ad(ad, PLACEHOLDER_KEY)


def test_not_a_frontend_config() -> None:
    with pytest.raises(ConfigError, match=r"g.xml:1: expected a <frontend> config, found <glidein>"):
        import_frontend_xml(b"<glidein/>", "g.xml")


@pytest.mark.parametrize(("path", "groups"), [(PLAIN, 2), (ODD, 3)])
def test_cli_imports_a_frontend_xml_that_config_check_accepts(
    tmp_path: Path, path: Path, groups: int
) -> None:
    out = tmp_path / "frontend.yaml"
    result = run_glidein(["config", "import-xml", str(path), "-o", str(out)])
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[-1] == f"{out}: ok (frontend, {groups} groups)"
    assert any(
        line.startswith("dropped or changed: <match_attr> not needed") for line in result.stderr.splitlines()
    )
    check = run_glidein(["config", "check", str(out)])
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == f"{out}: ok (frontend, {groups} groups)"


def test_cli_refused_match_expr_exits_2_with_its_line(tmp_path: Path) -> None:
    xml = tmp_path / "frontend.xml"
    xml.write_text(
        '<frontend frontend_name="fe"><groups><group name="main">'
        '<match match_expr=\'job["Sites"].count(glidein["attrs"]["GLIDEIN_Site"]) &gt; 0\'/>'
        "</group></groups></frontend>"
    )
    out = tmp_path / "frontend.yaml"
    result = run_glidein(["config", "import-xml", str(xml), "-o", str(out)])
    assert result.returncode == 2 and not out.exists()
    expr = 'job["Sites"].count(glidein["attrs"]["GLIDEIN_Site"]) > 0'
    assert result.stderr.splitlines() == [
        f"{xml}:1: group 'main': match_expr {expr!r} not translated: "
        "call `job['Sites'].count(glidein['attrs']['GLIDEIN_Site'])` (only .get(), .split(), int() and "
        "float() translate); write the group's `match_expr` in ClassAd instead (MY = job, TARGET = entry), "
        "e.g. `stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites) && RequestCpus <= TARGET.GLIDEIN_CPUS`"
    ]


def test_config_reference_has_the_frontend_migration_section() -> None:
    text = (PLAIN.parents[1] / "docs" / "CONFIG.md").read_text()
    section = text.split("## Migrating a glideinWMS frontend", 1)[1]
    assert "`<groups><group name enabled>` -> `groups`" in section
    assert "### `match_expr`: Python to ClassAd" in section and PLACEHOLDER_KEY in section
