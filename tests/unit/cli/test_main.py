from __future__ import annotations

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
