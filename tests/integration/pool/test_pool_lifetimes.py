"""Startd lifetimes end it at the right moments; bad submit files queue nothing."""

from __future__ import annotations

import time
from pathlib import Path

from tests.integration.pool.pool_helpers import Pool, script
from tests.procs import Processes


def _ended_after(pool: Pool, name: str, start: float) -> tuple[dict[str, object], float]:
    result = pool.result(name)
    return result, time.monotonic() - start


def test_retire_die_idle_and_tail_times(processes: Processes, tmp_path: Path) -> None:
    pool = Pool(processes, tmp_path)
    pool.start_schedd()
    slow = script(tmp_path / "slow.sh", "sleep 2.5\n")
    forever = script(tmp_path / "forever.sh", "exec sleep 60\n")
    quick = script(tmp_path / "quick.sh", "exit 0\n")
    text = (
        f'executable = {slow}\n+Kind = "retire"\nqueue 2\n'
        f'executable = {forever}\n+Kind = "die"\nqueue 1\n'
        f'executable = {quick}\n+Kind = "tail"\nqueue 1\n'
    )
    pool.queue(text)
    start = time.monotonic()
    pool.startd("retiring", start_expr='TARGET.Kind == "retire"', retire_time=1.5)
    pool.startd("dying", start_expr='TARGET.Kind == "die"', die_time=2.5, max_idle_time=30)
    pool.startd("tail", start_expr='TARGET.Kind == "tail"', max_tail_time=3)
    pool.startd("idle", start_expr="false", max_idle_time=2)

    retired, retired_at = _ended_after(pool, "retiring", start)
    died, died_at = _ended_after(pool, "dying", start)
    tailed, tailed_at = _ended_after(pool, "tail", start)
    idled, idled_at = _ended_after(pool, "idle", start)

    # retire: the running job finishes, no second job is taken
    assert retired == {"jobs_run": 1, "jobs_failed": 0, "reason": "retire_time"}
    assert 2.5 <= retired_at < 12
    # die: the running job is killed and goes back to idle
    assert died == {"jobs_run": 0, "jobs_failed": 0, "reason": "die_time"}
    assert 2.5 <= died_at < 12
    # tail: idle max_tail_time after its last job; idle: no job at all within max_idle_time
    assert tailed == {"jobs_run": 1, "jobs_failed": 0, "reason": "max_tail_time"}
    assert 3 <= tailed_at < 12
    assert idled == {"jobs_run": 0, "jobs_failed": 0, "reason": "max_idle_time"}
    assert 2 <= idled_at < 10

    jobs = pool.jobs()
    statuses = sorted(
        (str(j["Kind"]), int(str(j["JobStatus"])), int(str(j["NumJobStarts"]))) for j in jobs.values()
    )
    assert statuses == [("die", 1, 1), ("retire", 1, 0), ("retire", 4, 1), ("tail", 4, 1)]


BAD_FILES = {
    "no_equals.sub": (
        "executable = {exe}\nthis line is wrong\nqueue\n",
        "no_equals.sub:2: expected 'name = value'",
    ),
    "size.sub": (
        "executable = {exe}\nrequest_memory = 2XB\nqueue\n",
        "size.sub:2: request_memory: bad size '2XB'",
    ),
    "expr.sub": (
        "executable = {exe}\nqueue 2\n\n# comment\nrequirements = (TARGET.Cpus >\nqueue\n",
        "expr.sub:5: requirements: bad ClassAd expression",
    ),
    "missing.sub": ("executable = /nonexistent/prog\nqueue\n", "missing.sub:1: executable: no such file"),
    "universe.sub": (
        "universe = grid\nexecutable = {exe}\nqueue\n",
        "universe.sub:1: universe: only 'vanilla'",
    ),
    "attr.sub": ('executable = {exe}\n+Good = "x"\n+Bad = "unterminated\nqueue\n', "attr.sub:3: MY.Bad:"),
    "queue.sub": ("executable = {exe}\nqueue x from (\na\nb\n", "queue.sub:2: queue: item list opened"),
    "noqueue.sub": ("executable = {exe}\n", "noqueue.sub: no 'queue' statement"),
    "count.sub": ("executable = {exe}\nqueue many\n", "count.sub:2: queue:"),
}


def test_bad_submit_files_name_the_line_and_queue_nothing(processes: Processes, tmp_path: Path) -> None:
    pool = Pool(processes, tmp_path)
    pool.start_schedd()
    exe = script(tmp_path / "noop.sh", "exit 0\n")
    from glidein.common.errors import SubmitError

    client = pool.client()
    for name, (text, message) in BAD_FILES.items():
        try:
            client.submit(text.format(exe=exe), name, str(tmp_path), "tester")
        except SubmitError as exc:
            assert message in str(exc), (name, str(exc))
        else:
            raise AssertionError(f"{name} was accepted")
    cli = pool.submit(BAD_FILES["size.sub"][0].format(exe=exe), "size.sub")
    assert cli.returncode == 2
    assert cli.stderr.strip() == (
        "glidein submit: error: size.sub:2: request_memory: bad size '2XB' (use e.g. 2048, 2GB, 512MB)"
    )
    assert client.jobs(include_done=True) == []
    assert client.autoclusters() == []
