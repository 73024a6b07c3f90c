"""The job queue: autoclusters kept incrementally, claim order, leases, restart, remove."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from glidein.common import classads
from glidein.common.errors import ClassAdError, NotFoundError, SubmitError
from glidein.pool.schedd.autoclusters import significant
from glidein.pool.schedd.queue import JobQueue, QueueOptions


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _queue(tmp_path: Path, clock: Clock) -> JobQueue:
    return JobQueue(tmp_path, QueueOptions(name="s", lease_s=10.0, clock=clock))


def _slot(**attrs: object) -> classads.ClassAd:
    values: dict[str, object] = {
        "MyType": "Machine",
        "Name": "slot1",
        "Cpus": 4,
        "Memory": 8192,
        "Disk": 10**7,
    }
    values.update({"GPUs": 0, "Requirements": classads.expr_value("START"), "START": True})
    values.update(attrs)
    return classads.from_dict(values)


def _counts(queue: JobQueue) -> list[tuple[int, int, int]]:
    return sorted(
        (int(str(c["id"])), int(str(c["idle"])), int(str(c["running"]))) for c in queue.autoclusters()
    )


SUB = (
    "executable = /bin/true\narguments = $(Process)\n"
    "request_cpus = {cpus}\npriority = {prio}\n{extra}\nqueue {n}\n"
)


def _submit(queue: JobQueue, n: int = 1, cpus: int = 1, prio: int = 0, extra: str = "") -> int:
    cluster, _count = queue.submit(
        SUB.format(n=n, cpus=cpus, prio=prio, extra=extra), "t.sub", "/tmp", "alice"
    )
    return cluster


def test_per_job_attributes_stay_out_unless_referenced() -> None:
    attrs = {"Args": '"a"', "ProcId": "3", "RequestCpus": "1", "Requirements": "true"}
    assert set(significant(attrs)) == {"RequestCpus", "Requirements"}
    attrs["Requirements"] = "MY.ProcId > 2"
    assert set(significant(attrs)) == {"RequestCpus", "Requirements", "ProcId"}


def test_autoclusters_group_and_count_incrementally(tmp_path: Path) -> None:
    clock = Clock()
    queue = _queue(tmp_path, clock)
    _submit(queue, n=5, cpus=1)
    _submit(queue, n=3, cpus=2)
    _submit(queue, n=2, cpus=1)  # same significant attributes as the first cluster
    assert _counts(queue) == [(1, 7, 0), (2, 3, 0)]
    claim = queue.claim(_slot(), "slot1")
    assert claim is not None
    assert _counts(queue) == [(1, 6, 1), (2, 3, 0)] or _counts(queue) == [(1, 7, 0), (2, 2, 1)]
    queue.complete(claim.claim_id, 0)
    queue.remove(["3"], None)
    assert sum(c[1] + c[2] for c in _counts(queue)) == 7
    ad = queue.autoclusters("RequestCpus == 2")
    assert len(ad) == 1 and ad[0]["ad"]["RequestCpus"] == 2  # type: ignore[index]


def test_claim_order_is_match_then_priority_then_rank(tmp_path: Path) -> None:
    queue = _queue(tmp_path, Clock())
    _submit(queue, extra='+Kind = "low"')
    _submit(queue, prio=5, extra='+Kind = "picky"\nrequirements = TARGET.Site == "B"')
    _submit(queue, extra='+Kind = "ranked"\nrank = TARGET.Memory')
    _submit(queue, prio=1, extra='+Kind = "big"\nrequest_memory = 64GB')
    kinds = []
    while (claim := queue.claim(_slot(Site="A"), "slot1")) is not None:
        kinds.append(classads.evaluate(claim.attrs["Kind"]))
    assert kinds == ["ranked", "low"]  # picky does not match, big does not fit; rank breaks the tie
    claim = queue.claim(_slot(Site="B", Memory=100_000), "slot2")
    assert claim is not None and classads.evaluate(claim.attrs["Kind"]) == "picky"


def test_slot_start_expression_is_honoured(tmp_path: Path) -> None:
    queue = _queue(tmp_path, Clock())
    _submit(queue, extra='+Project = "x"')
    assert queue.claim(_slot(START=classads.expr_value('TARGET.Project == "y"')), "s") is None
    assert queue.claim(_slot(START=classads.expr_value('TARGET.Project == "x"')), "s") is not None


def test_lease_expiry_requeues_and_counts_starts(tmp_path: Path) -> None:
    clock = Clock()
    queue = _queue(tmp_path, clock)
    _submit(queue)
    first = queue.claim(_slot(), "a")
    assert first is not None and queue.claim(_slot(), "b") is None  # never two claims on one job
    clock.now += 8
    queue.heartbeat(first.claim_id)
    clock.now += 8
    assert queue.reap() == 0  # the heartbeat renewed the lease
    clock.now += 3
    assert queue.reap() == 1
    with pytest.raises(NotFoundError):
        queue.heartbeat(first.claim_id)
    second = queue.claim(_slot(), "b")
    assert second is not None and second.row.starts == 2
    with pytest.raises(NotFoundError):
        queue.complete(first.claim_id, 0)  # the old claim cannot complete the re-run job
    row, attrs = queue.complete(second.claim_id, 7)
    assert (row.status, row.exit_code, attrs["ExitCode"], attrs["NumJobStarts"]) == (4, 7, "7", "2")


def test_removed_running_job_tells_its_startd(tmp_path: Path) -> None:
    queue = _queue(tmp_path, Clock())
    _submit(queue)
    claim = queue.claim(_slot(), "a")
    assert claim is not None
    assert queue.remove([], "ProcId == 0") == ["1.0"]
    with pytest.raises(NotFoundError, match="removed"):
        queue.heartbeat(claim.claim_id)
    assert _counts(queue) == []


def test_restart_reloads_queue_and_counts(tmp_path: Path) -> None:
    clock = Clock()
    queue = _queue(tmp_path, clock)
    _submit(queue, n=4)
    claim = queue.claim(_slot(), "a")
    assert claim is not None
    queue.close()
    again = _queue(tmp_path, clock)
    assert _counts(again) == [(1, 3, 1)]
    assert again.heartbeat(claim.claim_id) == "1.0"  # the running job's claim survives the restart
    assert [classads.evaluate("Args", ad) for ad in again.jobs()] == ["0", "1", "2", "3"]
    assert _submit(again) == 2


def test_query_constraint_and_limit(tmp_path: Path) -> None:
    queue = _queue(tmp_path, Clock())
    _submit(queue, n=10)
    ads = queue.jobs("ProcId % 2 == 0", limit=3)
    assert [classads.evaluate("ProcId", ad) for ad in ads] == [0, 2, 4]
    assert classads.evaluate("Owner", ads[0]) == "alice"
    assert classads.evaluate("GlobalJobId", ads[0]).startswith("s#1.0#")  # type: ignore[union-attr]


def test_constraints_on_autocluster_and_per_job_attributes(tmp_path: Path) -> None:
    queue = _queue(tmp_path, Clock())
    _submit(queue, n=3, cpus=1)
    _submit(queue, n=2, cpus=2)
    by_ac = queue.jobs("RequestCpus == 2")  # decided per autocluster
    assert [(classads.evaluate("ClusterId", a), classads.evaluate("ProcId", a)) for a in by_ac] == [
        (2, 0),
        (2, 1),
    ]
    per_job = queue.jobs('RequestCpus == 1 && Args == "2"')  # needs each job's ad
    assert [classads.evaluate("ProcId", a) for a in per_job] == [2]
    assert queue.jobs("NoSuchAttr == 1") == []
    assert queue.remove(["2", "1.1"], "RequestCpus == 1 && ProcId == 0") == ["1.0", "1.1", "2.0", "2.1"]
    assert queue.remove(["1.1"], None) == []  # already removed
    assert [classads.evaluate("ProcId", a) for a in queue.jobs()] == [2]


@pytest.mark.parametrize(
    ("constraint", "message"),
    [
        ("random(-1)", "random.-1.*: cannot be evaluated"),  # classad2 raises while evaluating
        ("ProcId == 0 && userHome()", "cannot be evaluated"),  # per job
        ("1" + " + 1" * 5000, "operators, more than"),  # never reaches classad2's parser
        ("(" * 100 + "1" + ")" * 100, "nested 100 deep"),
    ],
)
def test_constraint_that_cannot_be_evaluated_is_a_classad_error(
    tmp_path: Path, constraint: str, message: str
) -> None:
    queue = _queue(tmp_path, Clock())
    _submit(queue, n=2)
    for query in (queue.jobs, queue.autoclusters, lambda c: queue.remove([], c)):
        with pytest.raises(ClassAdError, match=message):
            query(constraint)
    assert len(queue.jobs()) == 2


def test_job_whose_input_vanished_is_held_with_a_reason(tmp_path: Path) -> None:
    from glidein.pool.schedd.payload import job_payload

    data = tmp_path / "in.txt"
    data.write_text("x")
    queue = _queue(tmp_path, Clock())
    text = f"executable = /bin/true\ntransfer_input_files = {data}\nqueue\n"
    queue.submit(text, "t.sub", str(tmp_path), "alice")
    data.unlink()
    claim = queue.claim(_slot(), "a")
    assert claim is not None
    with pytest.raises(SubmitError, match="cannot read input file"):
        job_payload(claim, 10.0)
    queue.hold(claim.claim_id, "cannot read input file in.txt")
    (ad,) = queue.jobs()
    assert classads.evaluate("JobStatus", ad) == 5
    assert classads.evaluate("HoldReason", ad) == "cannot read input file in.txt"
    assert _counts(queue) == [(1, 0, 0)]


def test_per_job_values_referenced_by_an_expression_split_autoclusters(tmp_path: Path) -> None:
    queue = _queue(tmp_path, Clock())
    text = 'executable = /bin/true\narguments = $(Process)\nrequirements = MY.Args != "1"\nqueue 3\n'
    queue.submit(text, "t.sub", "/tmp", "alice")
    assert len(queue.autoclusters()) == 3  # Args is referenced, so it is significant
    queue.submit("executable = /bin/true\narguments = $(Process)\nqueue 3\n", "t.sub", "/tmp", "alice")
    assert len(queue.autoclusters()) == 4  # plain per-job Args: one autocluster
    claim = queue.claim(_slot(), "a")
    assert claim is not None and claim.attrs["Args"] == '"0"' and claim.row.cluster == 1


def test_old_idle_counts_jobs_idle_for_ten_minutes(tmp_path: Path) -> None:
    clock = Clock()
    queue = _queue(tmp_path, clock)
    _submit(queue, n=3)
    clock.now += 601
    _submit(queue, n=2)

    def old_idle() -> list[int]:
        return [int(str(c["old_idle"])) for c in queue.autoclusters()]

    assert old_idle() == [3]
    claim = queue.claim(_slot(), "a")  # the oldest job first
    assert claim is not None and claim.row.job_id == "1.0"
    assert old_idle() == [2]
    clock.now += 11
    queue.reap()  # back to idle now: young again
    assert old_idle() == [2]
    assert queue.remove(["1.1"], None) == ["1.1"]
    assert old_idle() == [1]
    queue.close()
    clock.now += 600
    assert [int(str(c["old_idle"])) for c in _queue(tmp_path, clock).autoclusters()] == [4]


def test_incremental_counts_equal_a_recount_after_random_operations(tmp_path: Path) -> None:
    import random

    rng = random.Random(4)
    clock = Clock()
    queue = _queue(tmp_path, clock)
    claims: list[str] = []
    for _step in range(150):
        op = rng.choice(["submit", "claim", "claim", "complete", "release", "remove", "reap"])
        if op == "submit":
            _submit(queue, n=rng.randint(1, 4), cpus=rng.randint(1, 2), prio=rng.randint(0, 1))
        elif op == "claim" and (claim := queue.claim(_slot(Cpus=rng.randint(1, 2)), "s")) is not None:
            claims.append(claim.claim_id)
        elif op in {"complete", "release"} and claims:
            claim_id = claims.pop(rng.randrange(len(claims)))
            with contextlib.suppress(NotFoundError):
                queue.complete(claim_id, 0) if op == "complete" else queue.release(claim_id, "test")
        elif op == "remove":
            queue.remove([], f"ProcId == {rng.randint(0, 3)} && ClusterId % 3 == {rng.randint(0, 2)}")
        elif op == "reap":
            clock.now += rng.choice([1, 11])
            queue.reap()
        recount: dict[int, dict[int, int]] = {}
        for ac_id, status, count in queue.store.status_counts():
            recount.setdefault(ac_id, {})[status] = count
        for ac in queue.acs.by_id.values():
            kept = {status: n for status, n in ac.counts.items() if n and status in (1, 2, 5)}
            assert kept == recount.get(ac.id, {}), (op, ac.id)
            assert sum(ac.idle_since.values()) == ac.idle


def test_refused_submit_file_queues_nothing(tmp_path: Path) -> None:
    queue = _queue(tmp_path, Clock())
    for extra in ("request_disk = -1", 'arguments = "a \'b"', "environment = A='x"):
        with pytest.raises(SubmitError, match=r"t\.sub:\d+: "):
            _submit(queue, n=3, extra=f"queue 2\n{extra}")
    with pytest.raises(SubmitError, match=r"t\.sub:3: request_cpus: must be 1 to"):
        _submit(queue, cpus=-4)
    assert queue.jobs(include_done=True) == [] and queue.totals()["idle"] == 0


def test_complete_writes_outputs_before_the_job_is_done(tmp_path: Path) -> None:
    """A schedd dying inside /complete loses nothing: the job is still running under its claim after
    the restart, and the startd's retry of the same result is taken (once)."""
    import base64

    from glidein.pool.schedd.api import ApiContext, complete_claim

    clock = Clock()
    (tmp_path / "q").mkdir()
    queue = _queue(tmp_path / "q", clock)
    _submit(queue)
    claim = queue.claim(_slot(), "a")
    assert claim is not None

    class Killed(Exception):
        pass

    def die(_claim_id: str, _exit_code: int) -> None:
        raise Killed  # the process ends here: nothing after this line ran

    spool = tmp_path / "spool"
    result = {"exit_code": 3, "stdout": base64.b64encode(b"out\n").decode(), "stderr": ""}
    dying = ApiContext(queue, b"k", "s", spool, "s", "http://x")
    queue.complete = die  # type: ignore[method-assign, assignment]
    with pytest.raises(Killed):
        complete_claim(dying, claim.claim_id, result)
    assert (spool / "1.0.out").read_bytes() == b"out\n"  # written before the job was marked done
    queue.close()
    again = _queue(tmp_path / "q", clock)
    assert (
        complete_claim(ApiContext(again, b"k", "s", spool, "s", "http://x"), claim.claim_id, result) == "1.0"
    )
    (done,) = again.jobs("true", include_done=True)
    assert classads.evaluate("ExitCode", done) == 3 and classads.evaluate("NumJobStarts", done) == 1
    with pytest.raises(NotFoundError):
        complete_claim(ApiContext(again, b"k", "s", spool, "s", "http://x"), claim.claim_id, result)
