"""frontend.yaml `high_availability` (issue 16): a standby publishes under the active's name."""

from __future__ import annotations

from pathlib import Path

import pytest

from glidein.common.config import ConfigProblems, load_frontend_config
from tests.unit.config.test_schema_rules import ETC, edited


def test_standby_defaults_and_check_interval(tmp_path: Path) -> None:
    path = edited(tmp_path, "frontend.yaml", {"high_availability": {"role": "standby", "check_interval": 7}})
    config = load_frontend_config(path)
    assert config.is_standby and config.high_availability.check_interval == 7
    assert not load_frontend_config(ETC / "frontend.yaml").is_standby  # active unless said


def test_standby_of_another_name_is_refused_with_its_path(tmp_path: Path) -> None:
    name = load_frontend_config(ETC / "frontend.yaml").name
    path = edited(tmp_path, "frontend.yaml", {"high_availability": {"role": "standby", "active": "other"}})
    with pytest.raises(ConfigProblems) as info:
        load_frontend_config(path)
    (line,) = info.value.lines
    assert "high_availability.active: the standby publishes as the active frontend" in line
    assert f"not {name!r}" in line and str(path) in line


def test_unknown_role_and_key_are_refused(tmp_path: Path) -> None:
    for bad in ({"role": "backup"}, {"role": "standby", "interval": 3}):
        path = edited(tmp_path, "frontend.yaml", {"high_availability": bad})
        with pytest.raises(ConfigProblems, match="high_availability"):
            load_frontend_config(path)
