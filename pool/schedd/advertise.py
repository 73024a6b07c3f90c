"""Child process of `glidein schedd`: advertises the schedd ad to the user-pool collector.

`python -m glidein.pool.schedd.advertise --url URL --collector HOST:PORT [--interval S] [--parent PID]`
Every interval it reads GET <URL>/status and advertises MyType "Scheduler" with Name,
ScheddHttpAddress, TotalIdleJobs, TotalRunningJobs, TotalHeldJobs and ClassAdLifetime (3
intervals) through `glidein.common.bus.Bus`; a relay's ad adds is_glidein = true and the
GlideinRelay* attributes (entry, factory, backend, start and update times, pilots). It runs
apart from the HTTP server because the htcondor2 bindings hold the GIL during network calls.
It exits when its parent is gone, and invalidates the ad on SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import threading
import time
import urllib.request
from types import FrameType

from glidein.common import classads
from glidein.common.bus import Bus
from glidein.common.errors import GlideinError
from glidein.common.log import setup_logging

log = logging.getLogger(__name__)


def schedd_ad(status: dict[str, object], interval: float, now: float | None = None) -> classads.ClassAd:
    ad: dict[str, object] = {
        "MyType": "Scheduler",
        "Name": str(status["name"]),
        "ScheddHttpAddress": str(status["url"]),
        "TotalIdleJobs": int(str(status["idle"])),
        "TotalRunningJobs": int(str(status["running"])),
        "TotalHeldJobs": int(str(status["held"])),
        "ClassAdLifetime": int(interval * 3),
    }
    relay = status.get("relay")
    if isinstance(relay, dict):  # a site relay (relay.py): found by `-schedd -c 'is_glidein =?= true'`
        pilots = relay.get("pilots")
        counts = pilots if isinstance(pilots, dict) else {}
        ad.update(
            is_glidein=True,
            GlideinRelayEntry=str(relay["entry"]),
            GlideinRelayFactory=str(relay["factory"]),
            GlideinRelayBackend=str(relay.get("backend", "")),
            GlideinRelayStartTime=int(str(relay.get("started", 0))),
            GlideinRelayUpdateTime=int(time.time() if now is None else now),
            GlideinRelayPilots=sum(int(str(n)) for n in counts.values()),
        )
    return classads.from_dict(ad)


def _status(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url + "/status", timeout=10) as reply:  # noqa: S310 - our own http URL
        data = json.loads(reply.read())
    if not isinstance(data, dict):
        raise GlideinError("schedd /status did not return an object")
    return data


def _advertise(collector: str, ad: classads.ClassAd) -> None:
    Bus([collector], timeout=5.0).advertise([ad])


def _invalidate(collector: str, name: str) -> None:
    Bus([collector], timeout=5.0).invalidate("Scheduler", f"Name == {classads.quote(name)}")


def main() -> int:
    parser = argparse.ArgumentParser(prog="glidein-schedd-advertise")
    parser.add_argument("--url", required=True)
    parser.add_argument("--collector", required=True)
    parser.add_argument("--interval", type=float, default=30.0)
    parser.add_argument("--parent", type=int, default=0)
    args = parser.parse_args()
    setup_logging("schedd-advertise")
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    name = ""
    while not stop.is_set() and (not args.parent or os.getppid() == args.parent):
        try:
            status = _status(args.url)
            name = str(status["name"])
            _advertise(args.collector, schedd_ad(status, args.interval))
        except (OSError, ValueError, KeyError, GlideinError) as exc:
            log.warning("cannot advertise the schedd ad to %s: %s", args.collector, exc)
        stop.wait(args.interval)
    if name:
        try:
            _invalidate(args.collector, name)
        except (OSError, GlideinError) as exc:
            log.warning("cannot invalidate the schedd ad: %s", exc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
