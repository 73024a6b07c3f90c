"""Validation: available memory >= GLIDEIN_Min_Memory_MB (default 512). WN_Resource."""

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


def available_mb() -> int:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // (1024 * 1024))


def check(config: Dict[str, str], path: str) -> "checks.CheckResult":
    free_mb = available_mb()
    need = checks.number(config, "GLIDEIN_Min_Memory_MB", 512)
    checks.add_config(path, {"GLIDEIN_Memory_Available_MB": free_mb})
    if free_mb < need:
        return (
            "WN_Resource",
            "%d MB memory available < %d MB" % (free_mb, need),
            {"free_mb": free_mb},
        )
    return None, "%d MB memory available" % free_mb, {"free_mb": free_mb}


if __name__ == "__main__":
    sys.exit(checks.run_check("check_memory", check))
