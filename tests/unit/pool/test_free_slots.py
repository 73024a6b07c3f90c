"""The schedd's free-slot memory: a job waits for a free slot it ranks higher, never for long."""

from __future__ import annotations

from pathlib import Path

from glidein.common import classads
from glidein.common.closeness import submit_lines
from tests.unit.pool.test_queue import Clock, _queue, _slot, _submit


def _bw(name: str, mbps: int, **attrs: object) -> classads.ClassAd:
    return _slot(Name=name, GLIDEIN_BW_se1=mbps, **attrs)


def test_a_ranked_job_waits_for_the_better_free_slot_until_it_is_gone(tmp_path: Path) -> None:
    clock = Clock()
    queue = _queue(tmp_path, clock)
    assert queue.claim(_bw("fast", 120), "fast") is None  # asked, nothing queued: remembered free
    _submit(queue, extra="\n".join(submit_lines(["se1"], 50)))
    assert queue.claim(_bw("medium", 60), "medium") is None  # held back for "fast"
    clock.now += queue.free_slots.ttl + 1  # "fast" never asked again: gone
    claim = queue.claim(_bw("medium", 60), "medium")
    assert claim is not None and claim.row.startd == "medium"


def test_the_better_slot_must_fit_and_unranked_jobs_never_wait(tmp_path: Path) -> None:
    clock = Clock()
    queue = _queue(tmp_path, clock)
    assert queue.claim(_bw("fast_small", 120, Cpus=1), "fast_small") is None
    _submit(queue, cpus=2, extra="\n".join(submit_lines(["se1"], 50)))
    claim = queue.claim(_bw("medium", 60), "medium")  # fast_small has too few cpus for the job
    assert claim is not None and claim.row.startd == "medium"
    assert queue.claim(_bw("fast", 120), "fast") is None
    _submit(queue, extra="requirements = GLIDEIN_BW_se1 >= 50")  # no Rank: the first to ask
    claim = queue.claim(_bw("medium2", 60), "medium2")
    assert claim is not None and claim.row.startd == "medium2"
