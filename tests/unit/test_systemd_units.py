"""etc/systemd/: complete and true units (issue 16): every daemon restarts on failure, every glidein
command line parses with the real CLI, and `systemd-analyze verify` accepts the units."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from glidein.cli.main import build_parser, parse_words

UNITS = Path(__file__).resolve().parents[2] / "etc" / "systemd"
BINARY = "/opt/glidein/bin/glidein"
SAMPLE_ENV = {"GLIDEIN_COLLECTOR_PORT": "9618", "GLIDEIN_MONITOR_ROOT": "/r", "GLIDEIN_MONITOR_PORT": "8080"}
SAMPLE_ENV["GLIDEIN_PILOTS_DIR"] = "/p"


def settings(unit: Path) -> list[tuple[str, str]]:
    return [
        (key.strip(), value.strip())
        for line in unit.read_text().splitlines()
        if "=" in line and not line.lstrip().startswith(("#", "["))
        for key, value in [line.split("=", 1)]
    ]


def test_every_daemon_has_a_unit_that_restarts_on_failure() -> None:
    units = sorted(p.name for p in UNITS.glob("*.service"))
    for needed in ("glidein-factory.service", "glidein-frontend.service", "glidein-schedd.service"):
        assert needed in units
    for name in units:
        values = dict(settings(UNITS / name))
        assert values.get("Restart") == "on-failure", name
        assert int(values.get("RestartSec", "0")) > 0, name  # no tight restart loop
        assert values.get("ExecStart", "").startswith(BINARY + " "), name


def command_lines() -> list[tuple[str, list[str]]]:
    out = []
    for unit in sorted(UNITS.glob("*.service")):
        instance = "factory" if "monitor" in unit.name else "wms"
        for key, value in settings(unit):
            if key in ("ExecStart", "ExecStartPre") and value.startswith(BINARY):
                text = re.sub(r"\$\{(\w+)\}", lambda m: SAMPLE_ENV[m.group(1)], value.replace("%i", instance))
                out.append((f"{unit.name} {key}", shlex.split(text)[1:]))
    return out


@pytest.mark.parametrize(("where", "words"), command_lines(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_command_line_parses(where: str, words: list[str]) -> None:
    try:
        args = parse_words(build_parser(words), words)
    except SystemExit as exc:
        raise AssertionError(f"{where}: `glidein {' '.join(words)}` does not parse") from exc
    assert getattr(args, "handler", None) is not None, where


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verify_accepts_the_units(tmp_path: Path) -> None:
    glidein = Path(sys.executable).with_name("glidein")
    assert glidein.exists(), glidein
    paths = []
    for unit in sorted(UNITS.glob("*.service")):
        name = unit.name.replace("@.", "@wms.") if "collector" in unit.name else unit.name
        name = name.replace("@.", "@factory.")
        copy = tmp_path / name
        copy.write_text(unit.read_text().replace(BINARY, str(glidein)))
        paths.append(str(copy))
    bad = tmp_path / "typo.service"
    bad.write_text("[Service]\nExecStart=/bin/true\nRestart=on-failur\n")
    run = ["systemd-analyze", "verify", "--man=no"]
    checked = subprocess.run([*run, str(bad)], capture_output=True, text=True, timeout=60, check=False)
    assert "Failed to parse" in checked.stderr  # the check does catch a typo
    result = subprocess.run([*run, *paths], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
