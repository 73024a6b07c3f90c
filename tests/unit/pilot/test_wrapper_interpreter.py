"""The wrapper finds its own interpreter when python3 was started with no PATH (HTCondor's local
universe starts `#!/usr/bin/env python3` jobs so): scripts and the startd are started with it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from glidein.factory.staging import PACKAGE_ROOT

WRAPPER = PACKAGE_ROOT / "pilot_wrapper" / "glidein_startup.py"
PROBE = (
    "import sys, importlib.util\n"
    "spec = importlib.util.spec_from_file_location('gs', sys.argv[1])\n"
    "gs = importlib.util.module_from_spec(spec); spec.loader.exec_module(gs)\n"
    "print(repr(sys.executable)); print(gs.own_interpreter())\n"
)


def test_own_interpreter_without_path_is_a_real_python() -> None:
    python = shutil.which("python3", path="/usr/bin:/bin")
    if python is None:
        pytest.skip("no system python3 in /usr/bin or /bin")
    run = subprocess.run(
        ["python3", "-S", "-c", PROBE, str(WRAPPER)],
        executable=python,
        env={},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    before, found = run.stdout.splitlines()
    assert before == "''"  # the situation: no sys.executable at all
    assert Path(found).is_file() and os.access(found, os.X_OK), found
    check = subprocess.run(
        [found, "-c", "print(6 * 7)"], check=True, capture_output=True, text=True, timeout=60
    )
    assert check.stdout.strip() == "42"
