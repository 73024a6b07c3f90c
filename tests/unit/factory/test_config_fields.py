"""Entry config fields the factory reads (and one it deliberately does not offer)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from glidein.common.config.factory import FactoryConfig
from glidein.common.config.loader import validate
from glidein.common.config.xml_import import import_xml
from glidein.common.errors import ConfigError


def factory_data(**entry: Any) -> dict[str, Any]:
    return {
        "name": "f",
        "glidein_name": "g",
        "collectors": ["127.0.0.1:9618"],
        "state_dir": "/tmp/f",
        "staging": {"dir": "/tmp/s", "url": "http://127.0.0.1:1/stage"},
        "security": {"signing_key": "/tmp/k1", "encryption_key": "/tmp/k2"},
        "entries": [{"name": "e1", "gatekeeper": "local", "submitter": {"type": "fake"}, **entry}],
    }


def test_stale_unclaimed_is_refused_with_its_path() -> None:
    """The factory cannot see whether a startd was claimed, so the setting does not exist."""
    with pytest.raises(ConfigError, match=r"entries\[0\]\.stale_age\.unclaimed"):
        validate(FactoryConfig, factory_data(stale_age={"unclaimed": 7200}), "f.yaml", Path("/"), {})
    ok = validate(FactoryConfig, factory_data(stale_age={"idle": 10}), "f.yaml", Path("/"), {})
    assert ok.entries[0].stale_age.idle == 10


def test_xml_import_lists_unclaimed_as_not_mapped() -> None:
    text = """<glidein factory_name="f" factory_collector="127.0.0.1:9618" schedd_name="s1@h">
  <entries>
    <entry name="e1" gatekeeper="ce ce:9619" gridtype="condor">
      <config><stale_age idle="100" unclaimed="7200"/></config>
    </entry>
  </entries>
</glidein>"""
    result = import_xml(text.encode(), "g.xml")
    assert result.data["entries"][0]["stale_age"] == {"idle": 100}
    assert any("unclaimed='7200' not mapped" in line for line in result.unmapped)
