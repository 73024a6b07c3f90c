"""Validation: run the node checks in one process, in order, stopping at the first failure.

Each check (check_*.py, staged as `source`) still records its own JSON and OSG XML result in the
results dir; this script's own result (`$GLIDEIN_RESULT_FILE`) names the first failure and lists
every check's record. One process instead of one per check keeps the pilot's start fast.
GLIDEIN_Validation_Checks (comma list) overrides which checks run.
"""

import importlib
import os
import sys
import time
from typing import TYPE_CHECKING, Dict, List

if TYPE_CHECKING:
    from glidein.pilot_wrapper.scripts import glidein_checks as checks
else:
    try:
        import glidein_checks as checks  # staged beside the script (kind `source`)
    except ImportError:  # imported from the package (tests, tools)
        from glidein.pilot_wrapper.scripts import glidein_checks as checks

DEFAULT_CHECKS = (
    "check_python",
    "check_disk",
    "check_memory",
    "check_cpus",
    "check_scratch",
    "check_network",
    "check_apptainer",
    "check_cvmfs",
)


def _import(name: str) -> "checks.CheckCallable":
    try:
        module = importlib.import_module(name)
    except ImportError:
        module = importlib.import_module("glidein.pilot_wrapper.scripts." + name)
    return module.check  # type: ignore[no-any-return]


def main() -> int:
    start = time.time()
    config = checks.read_config(checks.config_path())
    wanted = [n.strip() for n in config.get("GLIDEIN_Validation_Checks", "").split(",") if n.strip()]
    own_file = os.environ.get("GLIDEIN_RESULT_FILE", "")
    results_dir = config.get("GLIDEIN_RESULTS_DIR") or os.path.dirname(own_file) or "."
    records: List[Dict[str, object]] = []
    failure = None
    for name in wanted or DEFAULT_CHECKS:
        if not name.replace("_", "").isalnum():
            failure = ("Config", "GLIDEIN_Validation_Checks: bad check name %r" % name)
            break
        records.append(checks.run_one(name, _import(name), os.path.join(results_dir, name + ".json")))
        if records[-1]["failure"] is not None:
            failure = (str(records[-1]["failure"]), "%s: %s" % (name, records[-1]["detail"]))
            break
    detail = failure[1] if failure else "%d checks passed" % len(records)
    metrics: Dict[str, object] = {"checks": records}
    summary = (failure[0] if failure else None, detail, metrics)
    checks.write_result("validate_node", start, summary, own_file)
    return 1 if failure else 0


if __name__ == "__main__":
    sys.exit(main())
