"""Validation: CVMFS repositories in GLIDEIN_Require_CVMFS (comma list) are mounted. WN_Resource."""

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
    root = config.get("GLIDEIN_CVMFS_Root", "/cvmfs")
    repos = [r.strip() for r in config.get("GLIDEIN_Require_CVMFS", "").split(",") if r.strip()]
    missing = [r for r in repos if not os.path.isdir(os.path.join(root, r))]
    checks.add_config(path, {"GLIDEIN_CVMFS": "true" if os.path.isdir(root) else "false"})
    if missing:
        return "WN_Resource", "CVMFS repositories missing under %s: %s" % (root, ", ".join(missing)), {}
    return None, "CVMFS: %s" % (", ".join(repos) or "none required"), {}


if __name__ == "__main__":
    sys.exit(checks.run_check("check_cvmfs", check))
