"""Bus.query against a collector that demands authentication (a real condor_collector with
IDTOKENS required) is bounded as a query the bus reads itself: the bindings run in a worker
process (`glidein.common.secured_query`) that refuses too many ads, whose answer is read within a
byte budget and a deadline, and whose death (a crash, its memory cap) fails that query only."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import htcondor2
import pytest

from glidein.common import classads, secured_query
from glidein.common.bus import Bus
from glidein.common.condor_auth import use_token_dir
from glidein.common.errors import BusError
from glidein.pool.condor.personal import CondorPool
from tests.integration.condor.conftest import FRONTEND_WMS

SETTINGS = ("SEC_TOKEN_DIRECTORY", "SEC_CLIENT_AUTHENTICATION_METHODS")
N_ADS = 40


@pytest.fixture(scope="module")
def secured(wms_pool: CondorPool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The WMS condor_collector holding N_ADS glidefactory ads; this process holds a token."""
    saved = {name: htcondor2.param.get(name) for name in SETTINGS}
    tokens = tmp_path_factory.mktemp("tokens")
    os.chmod(tokens, 0o700)
    wms_pool.write_token(tokens, FRONTEND_WMS, ("READ", "DAEMON"))
    use_token_dir(tokens)
    pad = "x" * 2000
    ads = [
        classads.from_dict({"MyType": "glidefactory", "Name": f"e{i}@g@f", "Pad": pad, "I": i})
        for i in range(N_ADS)
    ]
    bus = Bus([wms_pool.collector], timeout=10, retries=1)
    bus.advertise(ads)
    deadline = time.monotonic() + 30
    while len(bus.query("glidefactory", projection=["Name"])) < N_ADS and time.monotonic() < deadline:
        time.sleep(0.3)
    yield wms_pool.collector
    secured_query._WORKER.stop()
    for name, value in saved.items():
        if value is None:
            htcondor2.param.pop(name, None)
        else:
            htcondor2.param[name] = value


def _worker_pid() -> int:
    proc = secured_query._WORKER.proc
    assert proc is not None and proc.poll() is None
    return proc.pid


def test_answers_through_the_worker_are_bounded_by_count(secured: str) -> None:
    ads = Bus([secured], timeout=10, retries=0).query("glidefactory", "I >= 0")
    assert sorted(classads.eval_attr(ad, "I") for ad in ads) == list(range(N_ADS))
    assert _worker_pid() != os.getpid()  # asked through the worker, kept for the next query
    with pytest.raises(BusError, match=f"answer holds more than {N_ADS - 1} ads"):
        Bus([secured], timeout=10, retries=0, max_ads=N_ADS - 1).query("glidefactory")


def test_answers_through_the_worker_are_bounded_by_size(secured: str) -> None:
    request = secured_query.Request(secured, int(htcondor2.AdType.Any), 'MyType == "glidefactory"', [])
    small = secured_query.Bounds(timeout=10, max_ads=1000, max_bytes=20 * 2100)
    with pytest.raises(secured_query.SecuredQueryError, match="answer larger than"):
        secured_query.query(request, small)
    got = secured_query.query(request, secured_query.Bounds(timeout=10, max_ads=1000))
    assert len(got) == N_ADS and all(kind == b"A" for kind, _ in got)


def test_a_worker_that_dies_fails_one_query_and_the_next_one_works(secured: str) -> None:
    bus = Bus([secured], timeout=10, retries=0)
    assert len(bus.query("glidefactory")) == N_ADS
    os.kill(_worker_pid(), signal.SIGSEGV)  # as the bindings' parser does on a hostile ad
    proc = secured_query._WORKER.proc
    assert proc is not None and proc.wait(timeout=10) == -signal.SIGSEGV
    assert len(bus.query("glidefactory")) == N_ADS  # a new worker
    request = secured_query.Request(secured, int(htcondor2.AdType.Any), 'MyType == "glidefactory"', [])
    capped = secured_query.Bounds(timeout=10, max_ads=1000, max_memory=64 << 20)  # cannot even start
    with pytest.raises(secured_query.SecuredQueryError, match="query worker ended"):
        secured_query.query(request, capped)
    assert len(bus.query("glidefactory")) == N_ADS
