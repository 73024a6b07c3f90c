"""User actions on the queue (hold, release, remove), cluster ids, and the event log they write."""

from __future__ import annotations

from pathlib import Path

import htcondor2
import pytest

from glidein.common import classads
from glidein.common.errors import SubmitError
from glidein.pool.schedd import eventlog
from glidein.pool.schedd.queue import JobQueue, QueueOptions
from glidein.pool.schedd.queue_users import action
from tests.unit.pool.test_queue import Clock, _slot


def _queue(tmp_path: Path) -> JobQueue:
    return JobQueue(tmp_path, QueueOptions(name="s", lease_s=10.0, clock=Clock()))


def _status(queue: JobQueue) -> dict[str, tuple[object, object, object]]:
    out = {}
    for ad in queue.jobs(include_done=True):
        job = f"{classads.evaluate('ClusterId', ad)}.{classads.evaluate('ProcId', ad)}"
        values = (classads.evaluate(n, ad) for n in ("JobStatus", "HoldReasonCode", "HoldReason"))
        out[job] = tuple(values)
    return out


def test_hold_release_remove_follow_htcondor_states(tmp_path: Path) -> None:
    queue = _queue(tmp_path)
    queue.submit(f"executable = /bin/true\nlog = {tmp_path}/j.log\nqueue 3\n", "t.sub", "/tmp", "alice")
    claim = queue.claim(_slot(), "slot1")
    assert claim is not None and claim.row.job_id == "1.0"
    assert queue.act(["1"], None, action("hold", "alice", None)) == ["1.0", "1.1", "1.2"]
    reason = "via glidein hold (by user alice)"
    assert _status(queue) == {job: (5, 1, reason) for job in ("1.0", "1.1", "1.2")}
    with pytest.raises(Exception, match="was held"):
        queue.heartbeat(claim.claim_id)  # the startd hears 410 and kills the job
    assert queue.act(["1"], None, action("hold", "alice", None)) == []  # already held
    assert queue.autoclusters()[0]["held"] == 3
    assert queue.act([], "ProcId > 0", action("release", "bob", "fixed")) == ["1.1", "1.2"]
    assert queue.act(["1.2"], None, action("remove", "bob", None)) == ["1.2"]
    assert queue.act(["1.1"], None, action("release", "bob", None)) == []  # not held
    assert _status(queue)["1.1"][0] == 1 and _status(queue)["1.2"][0] == 3
    assert queue.totals() == {"idle": 1, "running": 0, "held": 1}
    again = queue.claim(_slot(), "slot2")
    assert again is not None and again.row.job_id == "1.1"  # the released job runs again
    with pytest.raises(Exception, match="was held"):
        queue.complete(claim.claim_id, 0)  # the held job's claim is dead
    kinds = [(ev.proc, ev.type) for ev in htcondor2.JobEventLog(str(tmp_path / "j.log")).events(0)]
    assert kinds[:3] == [(p, htcondor2.JobEventType.SUBMIT) for p in range(3)]
    assert kinds[3:] == [
        (0, htcondor2.JobEventType.JOB_HELD),
        (1, htcondor2.JobEventType.JOB_HELD),
        (2, htcondor2.JobEventType.JOB_HELD),
        (1, htcondor2.JobEventType.JOB_RELEASED),
        (2, htcondor2.JobEventType.JOB_RELEASED),
        (2, htcondor2.JobEventType.JOB_ABORTED),
    ]


def test_a_refused_submission_uses_no_cluster_id(tmp_path: Path) -> None:
    queue = _queue(tmp_path)
    for text in (
        "executable = /bin/true\nrequest_memory = 2XB\nqueue\n",
        "queue\n",
        "executable = /nope\nqueue\n",
    ):
        with pytest.raises(SubmitError):
            queue.submit(text, "t.sub", "/tmp", "alice")
    assert queue.submit("executable = /bin/true\nqueue\n", "t.sub", "/tmp", "alice") == (1, 1)
    assert (
        queue.submit("executable = /bin/true\narguments = $(Cluster)\nqueue\n", "t.sub", "/tmp", "a")[0] == 2
    )
    assert classads.evaluate("Args", queue.jobs("ClusterId == 2")[0]) == "2"


def test_event_texts_are_read_by_htcondor2(tmp_path: Path) -> None:
    job, when = eventlog.JobRef(12, 3), 1_800_000_000.0
    path = tmp_path / "x.log"
    eventlog.append(
        str(path), eventlog.submitted(job, when, "127.0.0.1:9") + eventlog.terminated(job, when, 7)
    )
    eventlog.append(str(path), eventlog.evicted(job, when) + eventlog.held(job, when, "a\nb", 13))
    events = list(htcondor2.JobEventLog(str(path)).events(0))
    assert [(e.cluster, e.proc, e.timestamp) for e in events] == [(12, 3, int(when))] * 4
    assert events[1]["ReturnValue"] == 7 and events[3]["HoldReason"] == "a b"
    assert events[3]["HoldReasonCode"] == 13
    eventlog.append(str(tmp_path / "no" / "dir.log"), "x")  # cannot write: an ERROR line, no exception
