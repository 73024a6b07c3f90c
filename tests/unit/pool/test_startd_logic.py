"""Startd decisions and parsing: lifetimes, arguments, environment, config, slot ad."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from glidein.pool.startd import lifetime
from glidein.pool.startd.config import ConfigProblem, parse_config
from glidein.pool.startd.jobs import parse_env, split_args
from glidein.pool.startd.slot import Free, slot_ad
from tests.integration.pool.pool_helpers import REPO, make_bundle

BASE = {"name": "s", "schedd_url": "http://127.0.0.1:1", "token_file": "t", "work_dir": "w"}


def _config(**values: object) -> object:
    return parse_config({**BASE, **values})


@pytest.mark.parametrize(
    ("times", "activity", "now", "expected"),
    [
        ({"die_time": 100}, (0, 1, 1, None), 99, None),
        ({"die_time": 100}, (0, 1, 1, None), 100, lifetime.DIE),
        ({"retire_time": 50}, (0, 1, 1, None), 60, None),  # running: retire waits for the job
        ({"retire_time": 50}, (0, 1, 0, 55.0), 60, lifetime.RETIRE),
        ({"max_idle_time": 30}, (0, 0, 0, None), 29, None),
        ({"max_idle_time": 30}, (0, 0, 0, None), 30, lifetime.MAX_IDLE),
        ({"max_idle_time": 30}, (0, 1, 0, 10.0), 35, None),  # ran a job: idle time no longer applies
        ({"max_tail_time": 20}, (0, 1, 0, 10.0), 29, None),
        ({"max_tail_time": 20}, (0, 1, 0, 10.0), 30, lifetime.MAX_TAIL),
        ({}, (0, 0, 0, None), 10**9, None),  # no lifetimes: runs forever
    ],
)
def test_lifetime_decisions(
    times: dict[str, float], activity: tuple, now: float, expected: str | None
) -> None:
    config = parse_config({**BASE, **times})
    assert lifetime.decide(config, lifetime.Activity(*activity), now) == expected


@pytest.mark.parametrize(
    ("args", "argv"),
    [
        ("a b  c", ["a", "b", "c"]),
        ("\"one 'two three' four\"", ["one", "two three", "four"]),
        ('"say ""hi"""', ["say", '"hi"']),
        ("", []),
    ],
)
def test_arguments(args: str, argv: list[str]) -> None:
    assert split_args(args) == argv


def test_environment_both_syntaxes() -> None:
    assert parse_env("A=1;B=two") == {"A": "1", "B": "two"}
    assert parse_env("\"A=1 B='x y' C=\"") == {"A": "1", "B": "x y", "C": ""}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"name": ""}, "name: required string"),
        ({"cpus": 0}, "cpus: must be >= 1"),
        ({"die_time": "soon"}, "die_time: must be a number >= 0"),
        ({"colector": "x"}, "colector: unknown key"),
        ({"attrs": {"A": 1}}, "attrs: must map"),
    ],
)
def test_config_errors_name_the_key(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigProblem, match=message):
        parse_config({**BASE, **values}, "startd.json")


def test_slot_ad_carries_resources_lifetimes_and_attrs() -> None:
    config = parse_config(
        {
            **BASE,
            "retire_time": 100,
            "die_time": 200,
            "attrs": {"GLIDEIN_Site": '"SiteA"'},
            "start_expr": "x > 1",
        }
    )
    ad = dict(slot_ad(config, Free(2, 1000, 10, 0), 1000.0, (1, 3, False)))
    assert (ad["Cpus"], ad["Memory"], ad["Disk"], ad["State"]) == ("2", "1000", "10240", '"Claimed"')
    assert (ad["GLIDEIN_ToRetire"], ad["GLIDEIN_ToDie"], ad["GLIDEIN_Site"]) == ("1100", "1200", '"SiteA"')
    assert (ad["START"], ad["Requirements"], ad["MyType"]) == ("(x > 1)", "START", '"Machine"')
    retiring = dict(slot_ad(config, Free(2, 1000, 10, 0), 1000.0, (0, 3, True)))
    assert retiring["START"] == "false"


def _bundle_sources() -> list[Path]:
    return [
        REPO / "pool" / "cedar.py",
        REPO / "__init__.py",
        *sorted((REPO / "pool" / "startd").glob("*.py")),
    ]


@pytest.mark.parametrize("path", _bundle_sources(), ids=lambda p: str(p.relative_to(REPO)))
def test_bundle_parses_as_python_3_6(path: Path) -> None:
    tree = ast.parse(path.read_text(), feature_version=(3, 6))
    future = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "__future__"]
    assert not future, "no __future__ imports in worker-node files"


def test_bundle_imports_with_the_standard_library_only(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path)
    modules = ["glidein.pool.cedar"] + [
        f"glidein.pool.startd.{p.stem}"
        for p in (REPO / "pool" / "startd").glob("*.py")
        if p.stem != "__main__"
    ]
    code = (
        f"import sys; sys.path.insert(0, {str(bundle)!r})\n"
        + "".join(f"import {m}\n" for m in modules)
        + "import glidein; assert glidein.__file__.startswith(sys.path[0]), glidein.__file__\n"
        + "third = ('classad2', 'htcondor2', 'pydantic', 'yaml')\n"
        + "bad = [m for m in sys.modules if m.split('.')[0] in third]\n"
        + "assert not bad, bad\n"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    run_main = (
        f"import sys, runpy; sys.path.insert(0, {str(bundle)!r}); "
        "sys.argv = ['startd', '--config', '/nonexistent.json']; "
        "runpy.run_module('glidein.pool.startd', run_name='__main__')"
    )
    usage = subprocess.run(
        [sys.executable, "-I", "-S", "-c", run_main], capture_output=True, text=True, check=False
    )
    assert usage.returncode == 2
    assert "/nonexistent.json: cannot read" in usage.stderr


def test_v2_words_round_trip_as_condor_submit_writes_them() -> None:
    from glidein.pool.startd.jobs import split_args
    from glidein.pool.startd.v2args import join_v2, split_v2

    assert split_v2("a 'b c' 'it''s' ''") == ["a", "b c", "it's", ""]
    assert join_v2(["a", "b c", "it's", ""]) == "a b' 'c it''''s ''"
    for words in (["x"], ["two  spaces", "'"], ["tab\there", 'q"uote']):
        assert split_v2(join_v2(words)) == words
    assert split_args('"a b\' \'c ""q"""') == ["a", "b c", '"q"']
    with pytest.raises(ValueError, match="unterminated"):
        split_v2("a 'b")
