"""Validation: TCP reach of the collector (host:port) and the schedd (URL). Network.

A refused or timed-out connection is tried again, with back-off, for GLIDEIN_Network_Retry
seconds (default 60): a schedd or collector restarting for a few seconds must not fail every
pilot validating meanwhile (and get a healthy site blocked as a black hole).
"""

import socket
import sys
import time
import urllib.parse
from typing import TYPE_CHECKING, Dict, Tuple

if TYPE_CHECKING:
    from glidein.pilot_wrapper.scripts import glidein_checks as checks
else:
    try:
        import glidein_checks as checks  # staged beside the script (kind `source`)
    except ImportError:  # imported from the package (tests, tools)
        from glidein.pilot_wrapper.scripts import glidein_checks as checks


def endpoint(text: str) -> Tuple[str, int]:
    if "://" in text:
        url = urllib.parse.urlsplit(text)
        return url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
    host, _, port = text.rpartition(":")
    return host, int(port)


def reach(host: str, port: int, timeout: float, retry: float) -> int:
    """Connect to host:port, trying again for `retry` seconds; returns the attempts made, or
    raises the last OSError."""
    deadline = time.monotonic() + retry
    attempts, pause = 0, 1.0
    while True:
        attempts += 1
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            return attempts
        except OSError:
            if time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 10.0)


def check(config: Dict[str, str], path: str) -> "checks.CheckResult":
    timeout = checks.number(config, "GLIDEIN_Network_Timeout", 5)
    retry = checks.number(config, "GLIDEIN_Network_Retry", 60)
    reached = []
    for key in ("GLIDEIN_Collector", "GLIDEIN_Schedd"):
        target = config.get(key, "")
        if not target:
            continue
        host, port = endpoint(target)
        try:
            attempts = reach(host, port, timeout, retry)
        except OSError as exc:
            why = "cannot reach %s %s:%d for %ds: %s" % (key, host, port, retry, exc)
            return "Network", why, {}
        more = " (after %d attempts)" % attempts if attempts > 1 else ""
        reached.append("%s %s:%d%s" % (key, host, port, more))
    return None, "reached: %s" % (", ".join(reached) or "nothing configured"), {}


if __name__ == "__main__":
    sys.exit(checks.run_check("check_network", check))
