"""Times for people: `when(t)` is "2026-12-07 06:10:00 UTC", `relative(t, now)` is "in 4 min" or
"12 s ago". Used by the CLI, the log lines operators read and the web pages (never epochs)."""

from __future__ import annotations

import time


def when(stamp: float) -> str:
    """Unix time -> "YYYY-MM-DD HH:MM:SS UTC"."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(stamp))


def iso(stamp: float) -> str:
    """Unix time -> "YYYY-MM-DDTHH:MM:SSZ" (one token, for key=value log lines)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))


def duration(seconds: float) -> str:
    """A span in whole units: "45 s", "4 min", "2 h 5 min", "3 d 2 h"."""
    s = round(abs(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def relative(stamp: float, now: float) -> str:
    """ "in 4 min" for the future, "12 s ago" for the past."""
    return f"in {duration(stamp - now)}" if stamp > now else f"{duration(now - stamp)} ago"


def when_relative(stamp: float, now: float) -> str:
    """ "2026-12-07 06:10:00 UTC (in 4 min)"."""
    return f"{when(stamp)} ({relative(stamp, now)})"
