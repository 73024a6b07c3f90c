"""Validation: usable cpus >= GLIDEIN_CPUS (when a number). WN_Resource."""

import os
import sys
from typing import TYPE_CHECKING, Dict

if TYPE_CHECKING:
    from glidein.pilot_wrapper.scripts import glidein_checks as checks
else:
    try:
        import glidein_checks as checks  # staged beside the script (kind `source`)
    except ImportError:  # imported from the package (tests, tools)
        from glidein.pilot_wrapper.scripts import glidein_checks as checks


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def check(config: Dict[str, str], path: str) -> "checks.CheckResult":
    have = usable_cpus()
    wanted = config.get("GLIDEIN_CPUS", "").strip().lower()
    checks.add_config(path, {"GLIDEIN_Usable_CPUS": have})
    if wanted in ("", "auto", "node", "slot"):
        checks.add_config(path, {"GLIDEIN_CPUS": have})
        return None, "%d cpus usable, using all" % have, {"cpus": have}
    need = checks.number(config, "GLIDEIN_CPUS", 1)
    if have < need:
        return "WN_Resource", "only %d cpus usable, GLIDEIN_CPUS=%d" % (have, need), {"cpus": have}
    return None, "%d cpus usable, %d requested" % (have, need), {"cpus": have}


if __name__ == "__main__":
    sys.exit(checks.run_check("check_cpus", check))
