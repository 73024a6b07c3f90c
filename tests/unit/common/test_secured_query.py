"""The secured-query worker's own bounds, without a collector: its deadline and its death."""

from __future__ import annotations

import time

import pytest

from glidein.common import secured_query
from glidein.common.secured_query import Bounds, Request, SecuredQueryError, Worker


def test_an_answer_not_complete_by_the_deadline_fails_and_ends_the_worker() -> None:
    worker = Worker()
    request = Request("127.0.0.1:9", 10, "true", [])
    started = time.monotonic()
    with pytest.raises(SecuredQueryError, match="within the query timeout"):
        worker.query(request, Bounds(timeout=0.0, max_ads=10, start_grace=0.05))  # still importing
    assert time.monotonic() - started < 5
    assert worker.proc is None  # ended, by its handle; the next query starts a new one


def test_a_refused_connection_is_one_error_and_the_worker_stays() -> None:
    worker = Worker()
    try:
        with pytest.raises(SecuredQueryError, match=r"ommunication|collector"):
            worker.query(Request("127.0.0.1:9", 10, "true", []), Bounds(timeout=5, max_ads=10))
        assert worker.proc is not None and worker.proc.poll() is None  # kept for the next query
    finally:
        worker.stop()
    assert secured_query.MAX_ANSWER_BYTES == 256 << 20
