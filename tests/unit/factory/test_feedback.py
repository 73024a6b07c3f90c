"""Per-entry feedback figures: validation rate, median queue wait, jobs per pilot-hour."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from glidein.factory.feedback import FeedbackBook, PilotSample, figures, queue_wait_median
from glidein.factory.pilot_states import PilotState
from glidein.factory.state import NewPilot, PilotStore

NOW = 100_000.0


def ended(
    pid: str, wait: float, run: float, *, ok: bool = True, jobs: int | None = 3, failed: int | None = None
) -> PilotSample:
    submit = NOW - 1000
    start = submit + wait
    status, klass = ("success", None) if ok else ("failure", "WN_Resource")
    state = "completed" if ok else "failed"
    return PilotSample(pid, state, submit, start, start + run, 0 if ok else 1, status, klass, jobs, failed)


def test_figures_of_a_good_and_a_bad_mix() -> None:
    samples = [
        ended("a", 10, 600, jobs=4),
        ended("b", 20, 600, jobs=2),
        ended("c", 30, 1200, jobs=6),
        ended("d", 40, 5, ok=False, jobs=None),
    ]
    fb = figures(samples, NOW, window=3600)
    assert fb.pilots == 4
    assert fb.validation_rate == pytest.approx(0.75)
    assert fb.queue_wait_median == pytest.approx(25.0)
    # 12 jobs in 2400 s of the reported pilots (the failed one sent no jobs_run)
    assert fb.jobs_per_pilot_hour == pytest.approx(12 / (2400 / 3600))
    attrs = fb.ad_attrs()
    assert attrs["GLIDEIN_Feedback_Pilots"] == 4
    assert attrs["GLIDEIN_Feedback_ValidationRate"] == pytest.approx(0.75)
    assert attrs["GLIDEIN_Feedback_Window"] == 3600
    assert "GLIDEIN_Feedback_JobFailureRate" not in attrs  # no report counted failed jobs


def test_job_failure_rate_from_reports_that_count_failed_jobs() -> None:
    samples = [
        ended("a", 10, 600, jobs=4, failed=1),
        ended("b", 10, 600, jobs=6, failed=0),
        ended("c", 10, 60),
    ]
    fb = figures(samples, NOW, window=3600)
    assert fb.job_failure_rate == pytest.approx(0.1)  # 1 of 10 (pilot c's report has no jobs_failed)
    assert fb.ad_attrs()["GLIDEIN_Feedback_JobFailureRate"] == pytest.approx(0.1)
    assert fb.text() == "pilots=3 valid=1.00 wait=10s jobs/h=37.1 job_fail=0.10"  # 13 jobs in 21 min


def test_killed_and_never_started_pilots_are_not_judged() -> None:
    killed = PilotSample("k", "failed", NOW - 500, NOW - 400, NOW - 390, 6, "failure", "Killed", 0)
    removed_idle = PilotSample("r", "removed", NOW - 500, None, NOW - 100)
    fb = figures([killed, removed_idle, ended("a", 5, 100)], NOW, window=3600)
    assert fb.pilots == 1 and fb.validation_rate == 1.0


def test_old_ends_fall_out_of_the_window_and_a_new_entry_has_no_figures() -> None:
    old = ended("a", 10, 100)
    fb = figures([old], NOW + 10_000, window=3600)
    assert fb.pilots == 0 and fb.validation_rate is None and fb.jobs_per_pilot_hour is None
    assert set(fb.ad_attrs()) == {"GLIDEIN_Feedback_Window", "GLIDEIN_Feedback_Pilots"}


def test_pilots_still_queued_longer_than_the_median_raise_it() -> None:
    started = [ended("a", 10, 100), ended("b", 20, 100)]
    queued = [PilotSample(f"q{i}", "idle", NOW - 900) for i in range(3)]
    assert queue_wait_median(started, NOW, NOW - 3600) == pytest.approx(15.0)
    assert queue_wait_median(started + queued, NOW, NOW - 3600) == pytest.approx(900.0)
    # a site that has started nothing shows its longest wait so far; one with no pilot, none
    assert queue_wait_median(queued, NOW, NOW - 600) == pytest.approx(900.0)
    assert queue_wait_median([], NOW, NOW - 3600) is None
    # removed from the queue after 600 s: waited at least that long
    removed = [PilotSample(f"r{i}", "removed", NOW - 900, None, NOW - 300) for i in range(3)]
    assert queue_wait_median(started + removed, NOW, NOW - 3600) == pytest.approx(600.0)


def test_figures_from_factory_db_and_reports(tmp_path: Path) -> None:
    store = PilotStore(tmp_path / "factory.db")
    t0 = NOW - 2000
    ids = store.record_new(NewPilot("E1", "fe.main", "sc", "c"), 3, t0)
    store.set_backend_ids({i: f"b{i}" for i in ids}, t0)
    store.move_many([(i, PilotState.RUNNING, "seen") for i in ids], t0 + 60)
    store.move_many([(ids[0], PilotState.COMPLETED, "exit")], t0 + 60 + 1800, exit_codes={ids[0]: 0})
    store.move_many([(ids[1], PilotState.FAILED, "exit")], t0 + 70, exit_codes={ids[1]: 1})
    pdir = tmp_path / "pilots" / ids[0]
    pdir.mkdir(parents=True)
    startd = {"jobs_run": 5, "jobs_failed": 2}
    (pdir / "report.json").write_text(json.dumps({"status": "success", "startd": startd}))
    book = FeedbackBook(tmp_path)
    fb = book.update(store.conn, "E1", NOW, 3600, 60.0)
    assert fb.pilots == 2  # the third still runs
    assert fb.validation_rate == pytest.approx(0.5)  # one died 10 s after it started
    assert fb.queue_wait_median == pytest.approx(60.0)
    assert fb.jobs_per_pilot_hour == pytest.approx(10.0)  # 5 jobs in half an hour
    assert fb.job_failure_rate == pytest.approx(0.4)
    assert book.last["E1"] == fb
    assert book.update(store.conn, "other", NOW, 3600, 60.0).pilots == 0
