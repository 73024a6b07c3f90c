"""Validation: TCP reach of the collector (host:port) and the schedd (URL). Network."""

import socket
import sys
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


def check(config: Dict[str, str], path: str) -> "checks.CheckResult":
    timeout = checks.number(config, "GLIDEIN_Network_Timeout", 5)
    reached = []
    for key in ("GLIDEIN_Collector", "GLIDEIN_Schedd"):
        target = config.get(key, "")
        if not target:
            continue
        host, port = endpoint(target)
        try:
            socket.create_connection((host, port), timeout=timeout).close()
        except OSError as exc:
            return "Network", "cannot reach %s %s:%d: %s" % (key, host, port, exc), {}
        reached.append("%s %s:%d" % (key, host, port))
    return None, "reached: %s" % (", ".join(reached) or "nothing configured"), {}


if __name__ == "__main__":
    sys.exit(checks.run_check("check_network", check))
