"""`glidein closeness` and the documented example (etc/closeness/): the lines the command prints
are the example submit file's, and the example runs where the example matrix says it should."""

from __future__ import annotations

from pathlib import Path

import htcondor2

from glidein.common import classads
from glidein.common.closeness import load_matrix, se_attr
from tests.procs import run_glidein
from tests.unit.pool.test_queue import Clock, _queue, _slot

EXAMPLES = Path(__file__).resolve().parents[3] / "etc" / "closeness"


def test_submit_lines_resolve_the_dataset_and_are_the_example_files() -> None:
    args = ["closeness", "submit-lines", "--catalogue", str(EXAMPLES / "catalogue.yaml")]
    done = run_glidein([*args, "/store/data/Run2024A"])
    assert done.returncode == 0, done.stderr
    printed = done.stdout.splitlines()
    assert printed[-2:] == ["requirements = GLIDEIN_Data_BW >= 50", "rank = GLIDEIN_Data_BW"]
    example = (EXAMPLES / "job.sub").read_text().splitlines()
    assert all(line in example for line in printed), "etc/closeness/job.sub is out of date"
    missing = run_glidein(["closeness", "submit-lines", "--catalogue", str(EXAMPLES / "nope.yaml"), "x"])
    assert missing.returncode == 2 and "nope.yaml: cannot read" in missing.stderr


def test_show_prints_what_each_source_publishes() -> None:
    done = run_glidein(["closeness", "show", str(EXAMPLES / "bandwidth.yaml")])
    assert done.returncode == 0, done.stderr
    assert "T2_DE_DESY: GLIDEIN_BW_se1_cern_ch=80 GLIDEIN_BW_se2_desy_de=1500" in done.stdout.splitlines()


def test_example_job_runs_on_the_closest_free_slot_and_never_on_a_slow_one(tmp_path: Path) -> None:
    text = (EXAMPLES / "job.sub").read_text()
    htcondor2.Submit(text)  # HTCondor's own submit parser takes it too
    queue = _queue(tmp_path, Clock())
    matrix = load_matrix(str(EXAMPLES / "bandwidth.yaml"))

    def slot(source: str) -> classads.ClassAd:
        row = {se_attr(se): mbps for se, mbps in matrix.rows[source].items()}
        return _slot(Name=source, **row)

    assert queue.claim(slot("ce3.example.edu"), "ce3") is None  # nothing queued yet
    assert queue.claim(slot("T2_DE_DESY"), "desy") is None
    (tmp_path / "analyse.sh").write_text("#!/bin/sh\n")  # the example's executable, in its directory
    queue.submit(text, "job.sub", str(tmp_path), "alice")
    assert queue.claim(slot("ce3.example.edu"), "ce3") is None  # 12 MB/s at best: not enough
    assert queue.claim(slot("T2_CH_CERN"), "cern") is None  # 1200 MB/s, but DESY (1500) is free
    desy = queue.claim(slot("T2_DE_DESY"), "desy")
    assert desy is not None and desy.row.startd == "desy"


def test_transform_prints_the_schedd_config_or_one_line_naming_the_bad_catalogue(tmp_path: Path) -> None:
    done = run_glidein(["closeness", "transform", "--catalogue", str(EXAMPLES / "catalogue.yaml")])
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[1:3] == [
        "JOB_TRANSFORM_NAMES = $(JOB_TRANSFORM_NAMES) GlideinData",
        "JOB_TRANSFORM_GlideinData @=end",
    ]
    assert lines[-1] == "@end" and "/store/mc/Summer24" in done.stdout
    bad = tmp_path / "catalogue.yaml"
    bad.write_text('"/store/x y": [se1]\n')
    refused = run_glidein(["closeness", "transform", "--catalogue", str(bad)])
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.strip().splitlines() == [
        f"glidein closeness: error: {bad}: '/store/x y': a name with spaces, commas, quotes, '$' or '#'"
    ]
