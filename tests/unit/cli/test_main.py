from __future__ import annotations

import argparse

import htcondor2

from glidein import __version__
from tests.procs import run_glidein


def test_version_flag_prints_package_version() -> None:
    result = run_glidein(["--version"])
    assert result.returncode == 0
    assert result.stdout.strip() == f"glidein {__version__}"


def test_version_command_names_htcondor_bindings() -> None:
    result = run_glidein(["version"])
    assert result.returncode == 0
    assert htcondor2.version() in result.stdout


def test_unknown_command_exits_2_with_one_line_error() -> None:
    result = run_glidein(["no-such-command"])
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_every_registered_command_module_defines_its_command() -> None:
    from glidein.cli.main import COMMANDS, build_parser

    for name in COMMANDS:
        parser = build_parser([name])
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        command_parser = sub.choices[name]
        has_handler = command_parser.get_default("handler") is not None
        has_subcommands = any(isinstance(a, argparse._SubParsersAction) for a in command_parser._actions)
        assert has_handler or has_subcommands, f"{name}: its module did not register it"


def test_help_lists_every_command_without_importing_them() -> None:
    result = run_glidein(["--help"])
    assert result.returncode == 0
    from glidein.cli.main import COMMANDS

    for name in COMMANDS:
        assert f"    {name}" in result.stdout
