"""Validation: apptainer/singularity presence; a failure only if GLIDEIN_Require_Apptainer. WN_Resource."""

import shutil
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
    found = shutil.which("apptainer") or shutil.which("singularity") or ""
    checks.add_config(path, {"GLIDEIN_Apptainer": found or "none"})
    if not found and checks.flag(config, "GLIDEIN_Require_Apptainer"):
        return "WN_Resource", "apptainer required but neither apptainer nor singularity is in PATH", {}
    return None, "apptainer: %s" % (found or "not found (not required)"), {"path": found}


if __name__ == "__main__":
    sys.exit(checks.run_check("check_apptainer", check))
