"""Validation: the Python running the scripts is >= GLIDEIN_Min_Python (default 3.6). WN_Resource."""

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
    wanted = config.get("GLIDEIN_Min_Python", "3.6")
    try:
        need = tuple(int(part) for part in wanted.split("."))
    except ValueError:
        raise ValueError("glidein_config GLIDEIN_Min_Python=%r is not a version" % wanted) from None
    have = "%d.%d.%d" % sys.version_info[:3]
    checks.add_config(path, {"GLIDEIN_Python_Version": have})
    if sys.version_info[: len(need)] < need:
        return "WN_Resource", "Python %s is older than %s" % (have, wanted), {"python": have}
    return None, "Python %s at %s" % (have, sys.executable), {"python": have}


if __name__ == "__main__":
    sys.exit(checks.run_check("check_python", check))
