"""Validation: free disk in the work dir >= GLIDEIN_Min_Disk_MB (default 1024). WN_Resource."""

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


def check(config: Dict[str, str], path: str) -> "checks.CheckResult":
    work = config.get("GLIDEIN_WORK_DIR") or os.path.dirname(os.path.abspath(path))
    stat = os.statvfs(work)
    free_mb = stat.f_bavail * stat.f_frsize // (1024 * 1024)
    need = checks.number(config, "GLIDEIN_Min_Disk_MB", 1024)
    checks.add_config(path, {"GLIDEIN_Disk_Free_MB": free_mb})
    if free_mb < need:
        return (
            "WN_Resource",
            "only %d MB free in %s, need %d MB" % (free_mb, work, need),
            {"free_mb": free_mb},
        )
    return None, "%d MB free in %s" % (free_mb, work), {"free_mb": free_mb}


if __name__ == "__main__":
    sys.exit(checks.run_check("check_disk", check))
