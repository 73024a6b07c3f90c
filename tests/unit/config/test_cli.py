"""`glidein config check|schema|import-xml` as an operator runs them (real subprocesses)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.procs import run_glidein

ETC = Path(__file__).resolve().parents[3] / "etc"
XML = ETC / "glideinWMS-factory-example.xml"


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line containing `needle`."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_check_example_configs_exit_0() -> None:
    factory = run_glidein(["config", "check", str(ETC / "factory.yaml")])
    assert factory.returncode == 0, factory.stderr
    assert factory.stdout.strip() == f"{ETC / 'factory.yaml'}: ok (factory, 6 entries)"
    assert factory.stderr == ""  # no warnings either
    frontend = run_glidein(["config", "check", str(ETC / "frontend.yaml")])
    assert frontend.returncode == 0, frontend.stderr
    assert frontend.stdout.strip() == f"{ETC / 'frontend.yaml'}: ok (frontend, 3 groups)"


def test_check_bad_factory_exits_2_one_line_per_error(tmp_path: Path) -> None:
    text = (ETC / "factory.yaml").read_text()
    text = text.replace("      max_idle: 20\n", "      max_idle: -3\n", 1)  # negative limit
    text = text.replace("      slots: 8\n", "      slotz: 8\n", 1)  # misspelled key
    text = text.replace("  interval: 60\n", "  interval: soon\n", 1)  # wrong type
    bad = tmp_path / "factory.yaml"
    bad.write_text(text)
    result = run_glidein(["config", "check", str(bad)])
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines == [
        f"{bad}: loop.interval: must be an integer, got 'soon' (line {line_of(text, 'interval: soon')})",
        f"{bad}: entries[0].submitter.slotz: unknown key (did you mean 'slots'?)"
        f" (line {line_of(text, 'slotz')})",
        f"{bad}: entries[0].limits.max_idle: must be >= 0, got -3 (line {line_of(text, 'max_idle: -3')})",
    ]


def test_check_bad_frontend_names_group_path(tmp_path: Path) -> None:
    text = (ETC / "frontend.yaml").read_text().replace("match_expr: true", "match_expr: 'RequestCpus <='")
    bad = tmp_path / "fe.yaml"
    bad.write_text(text)
    result = run_glidein(["config", "check", "--kind", "frontend", str(bad)])
    assert result.returncode == 2
    line = line_of(text, "RequestCpus <='")
    assert result.stderr.splitlines() == [
        f"{bad}: groups[2].match_expr: invalid ClassAd expression 'RequestCpus <=' (line {line})"
    ]


def test_check_missing_file_exits_2(tmp_path: Path) -> None:
    result = run_glidein(["config", "check", "--kind", "factory", str(tmp_path / "none.yaml")])
    assert result.returncode == 2
    assert f"{tmp_path / 'none.yaml'}: cannot read" in result.stderr


def test_schema_is_json_with_the_fields() -> None:
    for kind, key in (("factory", "entries"), ("frontend", "groups")):
        result = run_glidein(["config", "schema", kind])
        assert result.returncode == 0, result.stderr
        schema = json.loads(result.stdout)
        assert key in schema["properties"]
        assert schema["additionalProperties"] is False


def test_import_xml_round_trip_passes_check_and_lists_unmapped(tmp_path: Path) -> None:
    out = tmp_path / "imported.yaml"
    result = run_glidein(["config", "import-xml", str(XML), "-o", str(out)])
    assert result.returncode == 0, result.stderr
    unmapped = [line for line in result.stderr.splitlines() if line.startswith("not mapped: ")]
    entry_line = line_of(XML.read_text(), '<entry name="OSG_US_Campus_Slurm"')
    entry = "<entry name='OSG_US_Campus_Slurm'>"
    assert not any(entry in line for line in unmapped)  # its rsl is not "not mapped" but explained:
    rsl = "dropped or changed: rsl: no meaning for gridtype batch (glideinWMS does not submit it either)"
    assert f"{rsl} (once; first at {XML}:{entry_line})" in result.stderr.splitlines()
    assert any(":7: <log_retention> element not mapped" in line for line in unmapped)
    assert any("<condor_tarballs> element not mapped" in line for line in unmapped)
    check = run_glidein(["config", "check", str(out)])
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == f"{out}: ok (factory, 5 entries)"
    assert (
        f"{out}: warning: frontends[0].signing_keys: empty: no request of frontend 'uscms_fe'" in check.stderr
    )
    data = yaml.safe_load(out.read_text())
    assert [fe["name"] for fe in data["frontends"]] == ["uscms_fe", "osgvo_fe"]


def test_import_xml_to_stdout_and_bad_xml(tmp_path: Path) -> None:
    result = run_glidein(["config", "import-xml", str(XML)])
    assert result.returncode == 0
    assert yaml.safe_load(result.stdout)["name"] == "osg_example_factory"
    broken = tmp_path / "broken.xml"
    broken.write_text("<glidein>\n  <entries>\n</glidein>\n")
    bad = run_glidein(["config", "import-xml", str(broken)])
    assert bad.returncode == 2
    assert f"{broken}:3: invalid XML" in bad.stderr


def test_import_xml_whose_result_is_invalid_exits_2(tmp_path: Path) -> None:
    source = tmp_path / "neg.xml"
    source.write_text(XML.read_text().replace('idle="400"', 'idle="-4"'))
    out = tmp_path / "neg.yaml"
    result = run_glidein(["config", "import-xml", str(source), "-o", str(out)])
    assert result.returncode == 2
    line = line_of(out.read_text(), "max_idle: -4")
    assert (
        f"{out}: entries[0].limits.max_idle: must be >= 0, got -4 (line {line})" in result.stderr.splitlines()
    )


def test_import_xml_merges_config_d_fragments(tmp_path: Path) -> None:
    main = tmp_path / "glideinWMS.xml"
    main.write_text(XML.read_text())
    (tmp_path / "config.d").mkdir()
    fragment = tmp_path / "config.d" / "20-extra.xml"
    fragment.write_text(
        "<glidein>\n  <entries>\n"
        '    <entry name="EXTRA_CE" gatekeeper="ce.x.org ce:9619" gridtype="condor" verbosity="fast"/>\n'
        '  </entries>\n  <entry_sets>\n    <entry_set alias="SET_X">\n      <entries>\n'
        '        <entry name="SET_X_1" gatekeeper="a.x.org a.x.org:9619" gridtype="condor"/>\n'
        "      </entries>\n    </entry_set>\n  </entry_sets>\n</glidein>\n"
    )
    out = tmp_path / "factory.yaml"
    result = run_glidein(["config", "import-xml", str(main), "-o", str(out)])
    assert result.returncode == 0, result.stderr
    assert "EXTRA_CE" not in result.stderr  # all of it mapped, verbosity too
    data = yaml.safe_load(out.read_text())
    assert data["entries"][-1]["name"] == "EXTRA_CE"
    assert data["entries"][-1]["pilot"] == {"verbosity": "fast"}
    assert [s["name"] for s in data["entry_sets"]] == ["CMS_T2_DE_DESY_set", "SET_X"]
    assert run_glidein(["config", "check", str(out)]).stdout.strip() == f"{out}: ok (factory, 7 entries)"
    alone = run_glidein(["config", "import-xml", "--no-config-d", str(main)])
    assert "EXTRA_CE" not in alone.stdout and alone.returncode == 0


def test_check_several_files_reports_each(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text((ETC / "frontend.yaml").read_text().replace("lifetime: 7200", "lifetime: -1"))
    result = run_glidein(["config", "check", str(ETC / "factory.yaml"), str(bad), str(ETC / "frontend.yaml")])
    assert result.returncode == 2
    assert result.stdout.splitlines() == [
        f"{ETC / 'factory.yaml'}: ok (factory, 6 entries)",
        f"{ETC / 'frontend.yaml'}: ok (frontend, 3 groups)",
    ]
    assert result.stderr.startswith(f"{bad}: credentials[0].lifetime: must be >= 1, got -1 (line ")


def test_check_billion_laughs_and_recursive_alias_exit_2_at_once(tmp_path: Path) -> None:
    laughs = ["name: f1", "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    laughs += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 10)]
    for text, message in [
        ("\n".join(laughs) + "\n", "values once aliases are expanded (line 6)"),
        ("name: f1\nentries: &e [*e]\n", "recursive alias: the anchor at line 2 contains itself"),
    ]:
        bad = tmp_path / "bomb.yaml"
        bad.write_text(text)
        result = run_glidein(["config", "check", "--kind", "factory", str(bad)], timeout=30)
        assert result.returncode == 2 and result.stdout == ""
        assert result.stderr.splitlines() == [
            f"{bad}: more than 100000 {message}" if "values" in message else f"{bad}: {message}"
        ]
