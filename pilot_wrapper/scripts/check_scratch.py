"""Validation: the work dir and GLIDEIN_Scratch_Dir (if set) are writable. WN_Resource."""

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


def writable(directory: str) -> str:
    """'' if a file can be written, read back and removed in directory, else the error."""
    probe = os.path.join(directory, ".glidein_probe_%d" % os.getpid())
    try:
        with open(probe, "w") as handle:
            handle.write("probe\n")
        with open(probe) as handle:
            ok = handle.read() == "probe\n"
        os.remove(probe)
    except OSError as exc:
        return str(exc)
    return "" if ok else "read back differs"


def check(config: Dict[str, str], path: str) -> "checks.CheckResult":
    dirs = [config.get("GLIDEIN_WORK_DIR") or os.path.dirname(os.path.abspath(path))]
    if config.get("GLIDEIN_Scratch_Dir"):
        dirs.append(os.path.expandvars(config["GLIDEIN_Scratch_Dir"]))
    for directory in dirs:
        error = writable(directory)
        if error:
            return "WN_Resource", "scratch %s not writable: %s" % (directory, error), {}
    return None, "writable: %s" % ", ".join(dirs), {}


if __name__ == "__main__":
    sys.exit(checks.run_check("check_scratch", check))
