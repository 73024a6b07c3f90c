"""The demo's pure parts: config rendering, job checks, pilot ids, progress line, summary text."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from glidein.common.config import load_factory_config, load_frontend_config
from glidein.common.errors import ConfigError
from glidein.demo.layout import TEMPLATES, expected_output, prepare, render
from glidein.demo.summary import SiteSummary, Summary, check_jobs, first_running, format_summary, pilot_of
from glidein.demo.watch import Sample, blocked_entries, progress_line


def test_render_fills_values_and_names_an_unknown_one() -> None:
    assert render("a: ${x}\nb: $(Process)\n", {"x": "1"}, "t.yaml") == "a: 1\nb: $(Process)\n"
    with pytest.raises(ConfigError, match=r"t.yaml: unknown template value \$\{y\}"):
        render("a: ${y}\n", {}, "t.yaml")


@pytest.mark.parametrize("slurm", [False, True])
def test_prepared_configs_load_and_describe_the_three_sites(tmp_path: Path, slurm: bool) -> None:
    layout = prepare(tmp_path / "demo", 7, slurm)
    factory = load_factory_config(layout.factory_config)
    params = {e.name: e.submitter for e in factory.all_entries()}
    assert params["LOCAL_SlowQueue"].queue_wait > 0
    assert params["LOCAL_Flaky"].failure_rate == pytest.approx(0.1)
    assert params["LOCAL_BlackHole"].black_hole is True
    assert ("SLURM_Local" in params) is slurm
    assert factory.monitoring.step == 10 and factory.loop.interval <= 5
    frontend = load_frontend_config(layout.frontend_config)
    assert frontend.security.trusted_factories[0].name == factory.name
    assert frontend.collectors.wms == factory.collectors
    assert len(set(layout.ports.values())) == len(layout.ports)
    assert (layout.job_dir / "jobs.sub").read_text().rstrip().endswith("queue 7")
    assert (layout.keys / "pool.key").stat().st_mode & 0o077 == 0
    assert yaml.safe_load(layout.factory_config.read_text())["entries"][0]["name"] == "LOCAL_SlowQueue"
    assert "${" not in (TEMPLATES / "job.sh").read_text()


def test_check_jobs_reports_each_kind_of_problem(tmp_path: Path) -> None:
    for proc in (0, 1, 4):
        (tmp_path / f"job.{proc}.out").write_text(expected_output(proc))
    (tmp_path / "job.3.out").write_text("demo job 3: 10\n")
    jobs = [
        {"ProcId": 0, "JobStatus": 4, "ExitCode": 0},
        {"ProcId": 1, "JobStatus": 2},
        {"ProcId": 2, "JobStatus": 4, "ExitCode": 1},
        {"ProcId": 3, "JobStatus": 4, "ExitCode": 0},
    ]
    problems = check_jobs(jobs, {i: expected_output(i) for i in range(5)}, tmp_path)
    assert [p.split(":")[0] for p in problems] == ["job 1", "job 2", "job 3", "job 4"]
    assert "not completed" in problems[0] and "exit code 1" in problems[1]
    assert "expected 'demo job 3: 9\\n'" in problems[2] and "not in the queue" in problems[3]


def test_pilot_of_and_first_running() -> None:
    assert pilot_of("glidein_ab12@host.example") == "ab12"
    assert pilot_of("slot1_3@glidein_ab12@127-0-0-1.localdomain") == "ab12"  # HTCondor slot names
    assert pilot_of("slot1@somehost") == ""
    assert pilot_of("slot1@host") == "" and pilot_of(None) == ""
    jobs = [{"QDate": 100, "JobStartDate": 109}, {"QDate": 101, "JobStartDate": 105.5}, {"QDate": 101}]
    assert first_running(jobs) == pytest.approx(5.5)
    assert first_running([{"QDate": 100}]) is None


def test_progress_line_shows_jobs_and_pilots_per_site() -> None:
    sample = Sample(110.0, jobs_idle=3, jobs_running=2, jobs_done=5)
    sample.pilots = {"e1": {"idle": 1, "running": 2, "completed": 0, "failed": 4}}
    sample.blocked = {"e1": "5 of the last 5 pilots failed"}
    line = progress_line(sample, 100.0, {"e1": "SiteA", "e2": "SiteB"})
    assert line == "[   10s] jobs idle=3 running=2 done=5 | SiteA 1/2/0/4 BLOCKED | SiteB 0/0/0/0"


def test_blocked_entries_from_the_factory_status(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    path.write_text('{"entries": {"a": {"blocked": "why"}, "b": {"blocked": ""}}}')
    assert blocked_entries(path) == {"a": "why"}
    assert blocked_entries(tmp_path / "missing.json") == {}


def test_summary_text_and_verdict() -> None:
    rows = [SiteSummary("LOCAL_BH", "BH", 8, 0, 8, 0, 0, "8 of the last 8 pilots failed")]
    good = Summary(
        4, 4, sites=rows, wasted_seconds=12.4, first_running_seconds=9.0, monitoring_url="http://m/"
    )
    text = format_summary(good)
    assert good.ok and "jobs: 4 of 4 completed with the right output" in text
    assert "LOCAL_BH BLOCKED by the factory: 8 of the last 8" in text and "http://m/" in text
    assert "wasted pilot time (pilots that ran no job): 12 s" in text and text.endswith("result: OK")
    bad = Summary(4, 3, problems=["job 2: exit code 1"])
    assert not bad.ok and format_summary(bad).endswith("result: FAILED")
