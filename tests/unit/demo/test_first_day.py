"""What a newcomer meets first: etc/demo/jobs.sub as a plain submit file, DIR/env.sh, the summary
table's columns, and what `glidein demo --stop` says."""

from __future__ import annotations

import argparse
import shlex
import sqlite3
import subprocess
from pathlib import Path

import pytest

from glidein.cli.demo import register
from glidein.common.errors import ConfigError
from glidein.demo.layout import TEMPLATES, prepare, with_queue_count
from glidein.demo.shell_env import demo_env, export_lines, write_env_file
from glidein.demo.stop import stop_report
from glidein.demo.summary import COLUMNS, SiteSummary, site_table
from glidein.demo.watch import pilot_counts
from glidein.pool.schedd.submit import SubmitContext, parse_submit


def test_the_demo_jobs_file_is_a_plain_submit_description() -> None:
    text = (TEMPLATES / "jobs.sub").read_text()
    cluster = parse_submit(text, SubmitContext("jobs.sub", str(TEMPLATES), 1))
    assert len(cluster.procs) == 20
    assert cluster.common["Cmd"] == f'"{TEMPLATES / "job.sh"}"'


def test_the_demo_sets_the_queue_count_and_refuses_a_file_without_one() -> None:
    assert with_queue_count("executable = a\nqueue 20\n", 7, "j.sub") == "executable = a\nqueue 7\n"
    with pytest.raises(ConfigError, match=r"j.sub: needs exactly one `queue N` line .* found 0"):
        with_queue_count("executable = a\nqueue\n", 7, "j.sub")
    with pytest.raises(ConfigError, match="found 2"):
        with_queue_count("queue 1\nqueue 2\n", 7, "j.sub")


def _sourced(env_file: Path, names: list[str]) -> dict[str, str]:
    prints = " && ".join(f'printf "%s\\n" "${name}"' for name in names)
    script = f". {shlex.quote(str(env_file))} && {prints}"
    out = subprocess.run(
        ["env", "-i", "PATH=/usr/bin:/bin", "bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    ).stdout.splitlines()
    return dict(zip(names, out, strict=True))


def test_env_file_points_plain_commands_at_the_demo(tmp_path: Path) -> None:
    root = tmp_path / "demo dir"  # a space: the values are quoted
    layout = prepare(root, 3, False)
    (layout.schedd_state / "local.secret").write_text("s3cret-value\n")
    env = demo_env(layout, slurm_conf="/x/slurm.conf")
    path = write_env_file(layout.root, env)
    assert path == layout.root / "env.sh" and path.stat().st_mode & 0o777 == 0o644
    assert "s3cret-value" not in path.read_text()  # the secret stays in the schedd's dir (0600)
    seen = _sourced(path, ["GLIDEIN_SCHEDD_DIR", "GLIDEIN_COLLECTOR", "GLIDEIN_WMS_COLLECTOR", "SLURM_CONF"])
    assert seen == {
        "GLIDEIN_SCHEDD_DIR": str(layout.schedd_state),
        "GLIDEIN_COLLECTOR": layout.address("pool"),
        "GLIDEIN_WMS_COLLECTOR": layout.address("wms"),
        "SLURM_CONF": "/x/slurm.conf",
    }
    path_value = _sourced(path, ["PATH"])["PATH"]
    assert path_value.endswith(":/usr/bin:/bin") and (Path(path_value.split(":")[0]) / "glidein").exists()


def test_env_for_real_htcondor_names_its_config_not_a_schedd_dir(tmp_path: Path) -> None:
    layout = prepare(tmp_path / "demo", 3, False)
    condor = {"CONDOR_CONFIG": str(tmp_path / "condor_config"), "_CONDOR_CONDOR_IDS": "65534.65534"}
    lines = export_lines(demo_env(layout, condor))
    assert f"export CONDOR_CONFIG={tmp_path / 'condor_config'}" in lines
    assert "export _CONDOR_CONDOR_IDS=65534.65534" in lines
    assert not [line for line in lines if "GLIDEIN_SCHEDD_DIR" in line]


def test_summary_numbers_stand_under_their_column_names() -> None:
    rows = [
        SiteSummary("LOCAL_BlackHole", "BlackHole", 12, 0, 12, 0, 0, "blocked"),
        SiteSummary("SLURM_Local_with_a_long_name", "Slurm", 2, 2, 0, 0, 1234),
    ]
    header, first, blocked, second = site_table(rows)
    assert "BLOCKED" in blocked
    for name in COLUMNS:
        end = header.index(name) + len(name)
        for row in (first, second):
            assert row[end - 1] != " " and (end == len(row) or row[end] == " "), (name, row)
    assert first.split()[:2] == ["BlackHole", "LOCAL_BlackHole"] and second.split()[-1] == "1234"
    assert header.index("entry") == first.index("LOCAL_BlackHole") == second.index("SLURM_Local")


def test_stop_report_says_what_was_stopped_and_what_is_left() -> None:
    text = stop_report(Path("/d"), {"schedd": 11, "frontend": 12}, 3, ["factory"], [])
    assert text == (
        "stopped the demo in /d: 2 processes (schedd (11), frontend (12)); "
        "removed 3 pilots still at the sites; had to kill: factory"
    )
    assert "STILL RUNNING after 10 s: pilot 7" in stop_report(Path("/d"), {}, 0, [], ["pilot 7"])
    assert stop_report(Path("/d"), {}, 0, [], []).startswith("nothing of the demo in /d was running")


def test_slurm_help_and_demo_md_describe_auto_alike() -> None:
    parser = argparse.ArgumentParser()
    subparsers = parser.add_subparsers()
    register(subparsers)
    assert parser.parse_args(["demo"]).slurm == "auto"
    help_text = " ".join(subparsers.choices["demo"].format_help().split()).replace("- ", "-")
    doc = " ".join((TEMPLATES.parents[1] / "docs" / "DEMO.md").read_text().split())
    for words in ("$SLURM_CONF", "private one-node cluster", "root with slurm-wlm and munge"):
        assert words in help_text and words in doc, words


def test_pilot_counts_of_a_bookkeeping_not_yet_made_are_none(tmp_path: Path) -> None:
    db = tmp_path / "factory.db"
    sqlite3.connect(db).close()  # the factory opened it, its tables are not there yet
    assert pilot_counts(db) == {}
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE pilots (entry TEXT, state TEXT)")
        conn.executemany(
            "INSERT INTO pilots VALUES (?, ?)", [("E", "pending"), ("E", "idle"), ("E", "running")]
        )
    conn.close()
    assert pilot_counts(db) == {"E": {"idle": 2, "running": 1}}
