"""Shared helpers of the staged pilot scripts (stdlib only, Python >= 3.6).

Staged with kind `source`: the pilot puts it in its lib dir, on the scripts' PYTHONPATH.
Each script reads `glidein_config` (path in argv[1]), may add keys to it, and records one
result as JSON (`$GLIDEIN_RESULT_FILE`) and as an OSG test result XML beside it (`.xml`).
"""

import json
import os
import sys
import time
from typing import Callable, Dict, Optional, Tuple

FAILURE_CLASSES = ("WN_Resource", "Network", "Config", "VO_Config", "Corruption")
# A check returns (failure class or None, detail, metrics).
CheckResult = Tuple[Optional[str], str, Dict[str, object]]
CheckCallable = Callable[[Dict[str, str], str], CheckResult]


def escape(text: str) -> str:
    """XML text escaping (xml.sax.saxutils would pull in urllib.request: slow script start)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def quoteattr(text: str) -> str:
    return '"%s"' % escape(text).replace('"', "&quot;")


def read_config(path: str) -> Dict[str, str]:
    """`KEY value` lines; a later line wins."""
    values: Dict[str, str] = {}
    with open(path) as handle:
        for line in handle:
            parts = line.rstrip("\n").split(" ", 1)
            if parts[0] and not parts[0].startswith("#"):
                values[parts[0]] = parts[1] if len(parts) > 1 else ""
    return values


def add_config(path: str, values: Dict[str, object]) -> None:
    with open(path, "a") as handle:
        for key in sorted(values):
            handle.write("%s %s\n" % (key, str(values[key]).replace("\n", " ")))


def number(config: Dict[str, str], key: str, default: float) -> float:
    """A numeric glidein_config value; a non-number is a Config failure naming the key."""
    text = config.get(key, "")
    if text == "":
        return default
    try:
        return float(text)
    except ValueError:
        raise ValueError("glidein_config %s=%r is not a number" % (key, text)) from None


def flag(config: Dict[str, str], key: str) -> bool:
    return config.get(key, "").strip().lower() in ("1", "true", "yes", "on")


def otrb_xml(name: str, cmd: str, times: Tuple[float, float], failure: Optional[str], detail: str) -> str:
    """The OSG test result XML glideinWMS scripts write (status OK|ERROR, failure metric)."""
    start, end = times
    stamp = "%Y-%m-%dT%H:%M:%S%z"
    lines = [
        '<?xml version="1.0"?>',
        '<OSGTestResult id=%s version="4.3.1">' % quoteattr(name),
        "  <operatingenvironment>",
        '    <env name="cwd">%s</env>' % escape(os.getcwd()),
        "  </operatingenvironment>",
        "  <test>",
        "    <cmd>%s</cmd>" % escape(cmd),
        "    <tStart>%s</tStart>" % time.strftime(stamp, time.localtime(start)),
        "    <tEnd>%s</tEnd>" % time.strftime(stamp, time.localtime(end)),
        "  </test>",
        "  <result>",
        "    <status>%s</status>" % ("OK" if failure is None else "ERROR"),
    ]
    if failure is not None:
        lines.append(
            '    <metric name="failure" ts="%s" uri="local">%s</metric>'
            % (time.strftime(stamp, time.localtime(end)), escape(failure))
        )
    lines += ["    <detail>%s</detail>" % escape(detail), "  </result>", "</OSGTestResult>", ""]
    return "\n".join(lines)


def write_result(name: str, start: float, result: CheckResult, result_file: str) -> Dict[str, object]:
    failure, detail, metrics = result
    end = time.time()
    record: Dict[str, object] = {
        "id": name,
        "status": "OK" if failure is None else "ERROR",
        "failure": failure,
        "detail": detail,
        "metrics": metrics,
        "tStart": start,
        "tEnd": end,
    }
    if result_file:
        with open(result_file, "w") as handle:
            json.dump(record, handle, sort_keys=True)
        with open(os.path.splitext(result_file)[0] + ".xml", "w") as handle:
            handle.write(otrb_xml(name, " ".join(sys.argv), (start, end), failure, detail))
    return record


def config_path() -> str:
    return sys.argv[1] if len(sys.argv) > 1 else os.environ.get("GLIDEIN_CONFIG", "glidein_config")


def run_one(name: str, check: CheckCallable, result_file: str) -> Dict[str, object]:
    """Run `check(config, config_path)` and record its result (JSON + XML) in `result_file`."""
    start = time.time()
    path = config_path()
    try:
        result = check(read_config(path), path)
    except (OSError, ValueError) as exc:
        result = ("Config", "%s: %s" % (name, exc), {})
    record = write_result(name, start, result, result_file)
    print("%s: %s %s" % (name, record["status"], record["detail"]))
    return record


def run_check(name: str, check: CheckCallable) -> int:
    """Script entry point of a check staged on its own: record its result, exit 0 or 1."""
    record = run_one(name, check, os.environ.get("GLIDEIN_RESULT_FILE", ""))
    return 0 if record["failure"] is None else 1
