"""Issue 16: the factory reading requests and the frontend reading entries through two real
collectors count each ad once, whichever collectors answer (tests/integration/collector)."""

from __future__ import annotations

import signal
import time

from glidein.common import crypto
from glidein.common.bus import Bus
from glidein.common.classads import ClassAd
from glidein.factory.requests import FrontendTrust, MemorySequences, RequestValidator, validate_all
from glidein.frontend.requests import Request, request_ad, verify_entries, verify_entry
from tests.integration.collector.conftest import StartCollector
from tests.procs import Processes, wait_for
from tests.unit.frontend.fixtures import FactoryKeys, entry_ad


def test_same_request_and_entry_in_two_collectors_count_once(
    start_collector: StartCollector, processes: Processes
) -> None:
    one, two = start_collector(), start_collector()
    keys, frontend_key = FactoryKeys(), crypto.generate_signing_key()
    trusted = {"fac": crypto.public_key_b64(keys.signing)}
    entry_ads = [entry_ad(keys, "ce1", "SiteA"), entry_ad(keys, "ce2", "SiteB")]
    entry = verify_entry(entry_ads[0], trusted)
    now = time.time()

    def request(idle: int, sequence: int) -> ClassAd:
        return request_ad(
            Request(entry, "fe", "main", "frontend", idle, 10), frontend_key, sequence, 300, now
        )

    # the frontend advertised to both, then once to `two` only (`one` was unreachable then)
    Bus([one.address]).advertise([*entry_ads, request(1, 5)])
    Bus([two.address]).advertise([*entry_ads, request(2, 7)])
    both = Bus([one.address, two.address], timeout=3, retries=0)
    wait_for(lambda: len(both.query("glideclient")) == 1 and len(both.query("glidefactory")) == 2)
    assert sorted(e.name for e in verify_entries(both.query("glidefactory"), trusted)) == [
        "ce1@gl@fac",
        "ce2@gl@fac",
    ]
    validator = RequestValidator(
        {"fe": FrontendTrust.from_keys("fe", [crypto.public_key_b64(frontend_key)])},
        {crypto.key_id(keys.box.public_key()): keys.box},
        ["ce1@gl@fac", "ce2@gl@fac"],
        MemorySequences(),
    )
    (valid,) = validate_all(validator, both.query("glideclient"))
    assert (valid.sequence, valid.request.req_idle) == (7, 2)  # the freshest copy, once
    # `two` falls over: `one` answers alone with its older copy, which is refused as a replay
    # (never honoured on top of the newer one); the entries are still read once each
    processes.procs[1].send_signal(signal.SIGKILL)
    processes.procs[1].wait(10)
    assert validate_all(validator, both.query("glideclient")) == []
    assert len(verify_entries(both.query("glidefactory"), trusted)) == 2
    # the frontend's next cycle reaches `one` again: a fresh request is taken, once
    both.advertise([request(3, 9)])
    (valid,) = validate_all(validator, both.query("glideclient"))
    assert (valid.sequence, valid.request.req_idle) == (9, 3)
