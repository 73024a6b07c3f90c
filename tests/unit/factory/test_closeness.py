"""Each entry's row of the bandwidth matrix: in its ad, in its pilots' parameters, in their slots."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from glidein.common import classads
from glidein.common.closeness import Matrix
from glidein.common.config import load_factory_config
from glidein.common.errors import ConfigError
from glidein.factory.ads import published_attrs
from glidein.factory.closeness import MatrixSource, entry_sources, with_bandwidths
from glidein.factory.entry import ClientRequest
from glidein.factory.requests import ValidRequest
from glidein.factory.worker import PilotContext, pilot_argv
from glidein.pilot_wrapper.scripts import startd_setup
from tests.factory_support import local_entry, write_factory

CTX = PilotContext("f1", "g", "python3", "/stage/glidein_startup.py", {})
MATRIX = Matrix({"Site_e1": {"se1.cern.ch": 120.0, "se2": 35.5}, "ce9.example.org": {"se1.cern.ch": 5.0}})


class Loads:
    def __init__(self, *results: Matrix | ConfigError) -> None:
        self.results, self.calls = list(results), 0

    def __call__(self, source: str, timeout: float) -> Matrix:
        self.calls += 1
        result = self.results.pop(0)
        if isinstance(result, ConfigError):
            raise result
        return result


def test_matrix_is_read_when_due_and_kept_when_a_read_fails(caplog: pytest.LogCaptureFixture) -> None:
    now = [1000.0]
    cfg = type("Cfg", (), {"matrix": "http://127.0.0.1:1/bw.yaml", "refresh": 60, "timeout": 5})()
    other = Matrix({"Site_e1": {"se1": 1.0}})
    loads = Loads(MATRIX, ConfigError("http://127.0.0.1:1/bw.yaml: cannot read: refused"), other)
    source = MatrixSource(cfg, lambda: now[0], loads)
    assert source.current() == MATRIX
    now[0] += 59
    assert source.current() == MATRIX and loads.calls == 1  # not due yet
    now[0] += 1
    with caplog.at_level(logging.WARNING):
        assert source.current() == MATRIX  # unreadable: the last good one stays
    assert "keeping the last one read" in caplog.text and "refused" in caplog.text
    now[0] += 60
    assert source.current() == other and loads.calls == 3


def _entries(tmp: Path) -> list[Any]:
    gatekeeper = dict(local_entry("e2"), gatekeeper="ce9.example.org:9619")
    setup = write_factory(tmp, [local_entry("e1"), gatekeeper, local_entry("e3")])
    return load_factory_config(setup.config).all_entries()


def test_entries_publish_their_row_and_pass_it_to_their_pilots(tmp_path: Path) -> None:
    e1, e2, e3 = with_bandwidths(_entries(tmp_path), MATRIX)
    assert entry_sources(e2) == ["e2", "ce9.example.org:9619", "ce9.example.org", "Site_e2"]
    ad = classads.from_dict(published_attrs(e1.attrs))  # as in its glidefactory ad
    assert ad.eval("GLIDEIN_BW_se1_cern_ch") == 120 and ad.eval("GLIDEIN_BW_se2") == 35.5
    assert "GLIDEIN_Startd_Attrs" not in ad  # a pilot parameter, not an ad attribute
    assert classads.from_dict(published_attrs(e2.attrs)).eval("GLIDEIN_BW_se1_cern_ch") == 5  # its CE row
    assert not any(name.startswith("GLIDEIN_BW_") for name in published_attrs(e3.attrs))
    assert with_bandwidths([e1], None) == [e1]


def _params(argv: list[str]) -> dict[str, str]:
    return {argv[i][len("-param_") :]: argv[i + 1] for i in range(len(argv)) if argv[i].startswith("-param_")}


def test_the_pilot_slot_carries_the_bandwidths_in_both_startd_modes(tmp_path: Path) -> None:
    entry = with_bandwidths(_entries(tmp_path), MATRIX)[0]
    client = ClientRequest("fe1.main", "fe1", "frontend", 1, 10)
    req = ValidRequest("e1@g@f1", "e1@g@f1@fe1.main", client, "main", 1, "sig", 0.0, {})
    params = _params(pilot_argv(CTX, entry, req, "p1"))
    assert params["GLIDEIN_Startd_Attrs"] == "GLIDEIN_BW_se1_cern_ch,GLIDEIN_BW_se2"
    config = {**params, "GLIDEIN_Collector": "127.0.0.1:9618", "GLIDEIN_Schedd": "http://127.0.0.1:1"}
    attrs = startd_setup.startd_json(config, str(tmp_path), "host")["attrs"]
    assert (attrs["GLIDEIN_BW_se1_cern_ch"], attrs["GLIDEIN_BW_se2"]) == ("120", "35.5")
    settings = dict(startd_setup.condor_settings(config, str(tmp_path), 0.0, "/opt/condor", None))
    assert settings["GLIDEIN_BW_se2"] == "35.5"
    assert "GLIDEIN_BW_se1_cern_ch" in settings["STARTD_ATTRS"].split()
