"""The YAML loader: examples load; every problem is one line naming file, path and line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from glidein.common.config import ConfigProblems, load_config, load_factory_config, load_frontend_config
from glidein.common.config.loader import parse_yaml
from glidein.common.errors import ConfigError

ETC = Path(__file__).resolve().parents[3] / "etc"


def write(tmp_path: Path, text: str, name: str = "factory.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def factory_text(entry_extra: str = "", top_extra: str = "") -> str:
    return f"""\
name: f1
collectors: [127.0.0.1:9618]
state_dir: state
staging: {{dir: stage, url: "http://127.0.0.1:8319/stage"}}
security: {{signing_key: keys/sign.key, encryption_key: keys/box.key}}
frontends:
  - name: fe1
    identity: fe1@localhost
    security_classes: [{{name: main}}]
{top_extra}entries:
  - name: e1
    gatekeeper: local
    submitter: {{type: local}}
  - name: e2
    gatekeeper: local
    submitter: {{type: local}}
{entry_extra}"""


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigProblems) as info:
        load_factory_config(path)
    return info.value.lines


def test_example_factory_config_loads_with_all_entries() -> None:
    config = load_factory_config(ETC / "factory.yaml")
    kinds = {entry.submitter.type for entry in config.all_entries()}
    assert {"local", "slurm", "htcondor"} <= kinds
    assert len(config.frontends) == 2
    member = config.entry("ARC_Nordic_ce1")
    assert member is not None and member.entry_set == "ARC_Nordic"
    assert member.attrs["GLIDEIN_Site"].value == "NDGF"  # from the set
    assert "GLIDEIN_Max_Idle" in member.attrs  # from the factory


def test_example_frontend_config_loads() -> None:
    config = load_frontend_config(ETC / "frontend.yaml")
    assert [group.name for group in config.groups] == ["main", "analysis", "opportunistic"]
    main = config.groups[0]
    assert [cred.name for cred in config.group_credentials(main)] == ["pool_token"]
    assert config.groups[2].match_expr == "true"  # YAML `true` read as the expression text


def test_defaults_and_relative_paths(tmp_path: Path) -> None:
    config = load_factory_config(write(tmp_path, factory_text()))
    assert config.staging.hash_algorithm == "sha256"
    assert config.state_dir == tmp_path / "state"
    assert config.security.signing_key == tmp_path / "keys" / "sign.key"
    assert config.entries[0].limits.max_idle == 2000


def test_negative_limit_names_file_path_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, factory_text("    limits:\n      max_idle: -1\n"))
    assert problems_of(path) == [f"{path}: entries[1].limits.max_idle: must be >= 0, got -1 (line 18)"]


def test_misspelled_key_suggests_the_right_one(tmp_path: Path) -> None:
    path = write(tmp_path, factory_text("    limits: {max_idel: 5}\n"))
    assert problems_of(path) == [
        f"{path}: entries[1].limits.max_idel: unknown key (did you mean 'max_idle'?) (line 17)"
    ]


def test_all_problems_are_listed_one_per_line(tmp_path: Path) -> None:
    text = factory_text().replace('stage"}', 'stage", hash_algorithm: md5}')
    text = text.replace("    submitter: {type: local}\n", "", 1)  # e1 loses its submitter
    text = text.replace("submitter: {type: local}", "submitter: {type: local, slots: many}\n    colour: red")
    lines = problems_of(write(tmp_path, text))
    assert [line.split(": ")[1] for line in lines] == [
        "staging.hash_algorithm",
        "entries[0].submitter",
        "entries[1].submitter.slots",
        "entries[1].colour",
    ]
    assert all(line.startswith(f"{tmp_path / 'factory.yaml'}: ") for line in lines)
    assert "required key missing (line 11)" in lines[1]


def test_submitter_parameters_belong_to_their_type(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        factory_text("    submitter: {type: local, partition: debug}\n").replace(
            "  - name: e2\n    gatekeeper: local\n    submitter: {type: local}\n",
            "  - name: e2\n    gatekeeper: local\n",
        ),
    )
    assert problems_of(path) == [
        f"{path}: entries[1].submitter.partition: unknown key (allowed: black_hole, failure_rate, "
        "queue_wait, slots, type, work_dir) (line 16)"
    ]


def test_unknown_submitter_type(tmp_path: Path) -> None:
    text = factory_text().replace(
        "  - name: e2\n    gatekeeper: local\n    submitter: {type: local}\n",
        "  - name: e2\n    gatekeeper: local\n    submitter: {type: pbs}\n",
    )
    (line,) = problems_of(write(tmp_path, text))
    assert "entries[1].submitter.type: unknown 'type' 'pbs'" in line


def test_cross_field_problems_have_paths(tmp_path: Path) -> None:
    text = factory_text(
        "    allow_frontends: [{frontend: nobody}]\n"
        "  - name: e1\n    gatekeeper: x\n    submitter: {type: fake}\n"
    )
    lines = problems_of(write(tmp_path, text))
    assert any("entries[2].name: duplicate entry name 'e1'" in line for line in lines)
    assert any("entries[1].allow_frontends[0].frontend: unknown frontend 'nobody'" in line for line in lines)


def test_bad_classad_expression_is_a_config_error(tmp_path: Path) -> None:
    text = factory_text("    requirements: 'Memory >= '\n")
    (line,) = problems_of(write(tmp_path, text))
    assert "entries[1].requirements: invalid ClassAd expression" in line


def test_int_attr_value_checked(tmp_path: Path) -> None:
    text = factory_text("    attrs:\n      GLIDEIN_CPUS: {value: four, type: int}\n")
    (line,) = problems_of(write(tmp_path, text))
    assert "entries[1].attrs.GLIDEIN_CPUS: value 'four' is not an integer" in line


def test_yaml_syntax_and_duplicate_keys(tmp_path: Path) -> None:
    bad = write(tmp_path, "name: [unclosed\n", "a.yaml")
    with pytest.raises(ConfigError, match=r"a.yaml: invalid YAML: .*line"):
        load_factory_config(bad)
    dup = write(tmp_path, factory_text().replace("name: f1\n", "name: f1\nname: f2\n"), "b.yaml")
    assert problems_of(dup) == [f"{dup}: name: duplicate key (line 2)"]


def _laughs(levels: int = 9) -> str:
    lines = ["name: f1", "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_laughs(), r"c.yaml: more than 100000 values once aliases are expanded \(line 6\)"),
        ("name: f1\na: &a [1, *a]\n", r"c.yaml: recursive alias: the anchor at line 2 contains itself"),
        ("name: f1\na: &a {b: *a}\n", r"c.yaml: recursive alias: the anchor at line 2 contains itself"),
        ("a:\n" + "".join(f"{'  ' * i}- \n" for i in range(1, 80)), r"c.yaml: nested deeper than 64 levels"),
    ],
)
def test_alias_bombs_and_recursion_are_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigProblems) as info:
        load_factory_config(write(tmp_path, text, "c.yaml"))
    assert len(info.value.lines) == 1
    assert re.search(message, info.value.lines[0]), info.value.lines


def test_a_large_document_without_aliases_is_not_a_bomb() -> None:
    # a real factory of 1,059 entries writes about 300,000 values out in full: only alias copies count
    text = "entries:\n" + "".join(f"  - [{i}, {i}, {i}, {i}, {i}]\n" for i in range(30_000))
    data, _ = parse_yaml(text, "big.yaml")
    assert isinstance(data, dict) and len(data["entries"]) == 30_000


def test_aliases_within_the_bound_still_work(tmp_path: Path) -> None:
    text = factory_text().replace(
        "  - name: e2\n    gatekeeper: local\n", "  - name: e2\n    gatekeeper: local\n"
    )
    text = text.replace("submitter: {type: local}", "submitter: &local {type: local}", 1)
    text = text.replace("submitter: {type: local}", "submitter: *local")
    assert [e.submitter.type for e in load_factory_config(write(tmp_path, text)).entries] == [
        "local",
        "local",
    ]


def test_kind_detection(tmp_path: Path) -> None:
    assert load_config(ETC / "frontend.yaml").name == "vofe_cms"
    with pytest.raises(ConfigError, match="cannot tell factory from frontend"):
        load_config(write(tmp_path, "name: x\n"))


def test_yaml_numbers_accepted_as_text(tmp_path: Path) -> None:
    text = factory_text().replace(
        "    submitter: {type: local}\n",
        "    submitter: {type: htcondor, grid_resource: condor ce ce:9619, submit_attrs: {+xcount: 8}}\n",
        1,
    )
    config = load_factory_config(write(tmp_path, text))
    submitter = config.entries[0].submitter
    assert submitter.type == "htcondor" and submitter.submit_attrs == {"+xcount": "8"}


def test_non_text_key_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, factory_text().replace("name: f1\n", "name: f1\n7: seven\n"))
    assert problems_of(path) == [f"{path}: 7: keys must be text (line 2)"]


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\nb: [true, null, 1.5, '2', 2024-01-02, 0x1f]\nc: {d: e}\n",
        "base: &b {x: 1, y: [1, 2]}\nuse: *b\nagain: [*b, *b]\n",
        "base: &b {x: 1}\nmerged: {<<: *b, y: 2}\n",  # a merge key: PyYAML's own constructor
        "s: !!set {a, b}\n",
        "1: one\ntrue: yes\n",
    ],
)
def test_parsed_data_is_what_safe_load_builds(text: str) -> None:
    data, lines = parse_yaml(text, "x.yaml")
    assert data == yaml.safe_load(text)
    assert lines[()] == 1
