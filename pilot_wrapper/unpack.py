#!/usr/bin/env python3
"""glidein self-contained pilot: the wrapper and its verified file set packed into one executable.

Python >= 3.6, standard library only, like glidein_startup.py. The factory (factory/selfcontained.py)
writes this module's source, then a line `#@glidein-payload`, then one line `#@ <name> <base64>`
per packed file: `glidein_startup.py` and `stage/<name>` for every file of the stage (signature
files, descriptions, scripts, bundles). The command line carries `-packed_sha256 <hex>`, the
SHA-256 of everything after the payload line; a payload that differs is refused (Corruption, exit
5) before anything is unpacked. The unpacked wrapper then reads the stage from `file://` exactly
as it downloads it, verifying every level's signature file against `-sign*`, the Ed25519
signature with `-signkey`, and every file's hash, before anything runs.

The pilot's log and final report come back in its stdout, between OUTPUT_BEGIN and OUTPUT_END
lines: gzip'd JSON `{"format": 1, "report": ..., "log": ...}` in base64 lines, the END line
carrying the SHA-256 of the base64 text; log and report are cut to MAX_LOG_BACK / MAX_REPORT_BACK.
"""

import base64
import gzip
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Tuple

PAYLOAD_MARK = b"\n#@glidein-payload\n"
PACKED_ARG = "-packed_sha256"
WEB_ARGS = ("-web", "-clientweb", "-clientwebgroup")
MAX_PACKED = 3 << 30  # bytes of the packed executable
MAX_LOG_BACK = 256 << 10  # bytes of the log's tail sent back in stdout
MAX_REPORT_BACK = 256 << 10  # bytes of the report's JSON sent back in stdout
OUTPUT_BEGIN = "==== GLIDEIN PILOT OUTPUT BEGIN 1 ===="
OUTPUT_END = "==== GLIDEIN PILOT OUTPUT END sha256="
LINE = 76
CORRUPTION = 5


class PackError(Exception):
    """The packed pilot is refused (one line, Corruption)."""


def output_block(report: Dict[str, Any], log_text: str) -> str:
    """The delimited, bounded block the factory unpacks from the pilot's stdout."""
    log_bytes = log_text.encode("utf-8", "replace")[-MAX_LOG_BACK:]
    report_text = json.dumps(report, sort_keys=True, default=str)
    if len(report_text) > MAX_REPORT_BACK:  # keep the outcome, drop the bulky parts
        keep = ("pilot_id", "status", "failure_class", "step", "message", "exit_code", "time")
        report_text = json.dumps({k: report.get(k) for k in keep}, sort_keys=True, default=str)
    body = {"format": 1, "report": json.loads(report_text), "log": log_bytes.decode("utf-8", "replace")}
    data = gzip.compress(json.dumps(body).encode(), mtime=0)
    text = base64.b64encode(data).decode()
    lines = [text[i : i + LINE] for i in range(0, len(text), LINE)]
    end = "%s%s ====" % (OUTPUT_END, hashlib.sha256(text.encode()).hexdigest())
    return "\n".join(["", OUTPUT_BEGIN, *lines, end, ""])


def emit(report: Dict[str, Any], log_path: Optional[str]) -> None:
    """FINAL_HOOKS entry: write the block to stdout (the batch system's output file)."""
    text = ""
    if log_path and os.path.exists(log_path):
        with open(log_path, "rb") as handle:
            handle.seek(max(0, os.path.getsize(log_path) - MAX_LOG_BACK))
            text = handle.read().decode("utf-8", "replace")
    sys.stdout.write(output_block(report, text))
    sys.stdout.flush()


def split_args(argv: List[str]) -> Tuple[str, List[str]]:
    """(-packed_sha256's value, the other arguments)."""
    rest, expected = [], ""
    i = 0
    while i < len(argv):
        if argv[i] == PACKED_ARG and i + 1 < len(argv):
            expected = argv[i + 1].lower()
            i += 2
            continue
        rest.append(argv[i])
        i += 1
    return expected, rest


def read_payload(path: str, expected: str) -> List[Tuple[str, bytes]]:
    """The packed files [(name, bytes)], after the payload's SHA-256 matched `expected`."""
    if not expected:
        raise PackError("no %s argument: cannot verify the packed files" % PACKED_ARG)
    with open(path, "rb") as handle:
        data = handle.read(MAX_PACKED + 1)
    if len(data) > MAX_PACKED:
        raise PackError("%s is larger than %d bytes" % (path, MAX_PACKED))
    cut = data.find(PAYLOAD_MARK)
    if cut < 0:
        raise PackError("%s carries no payload line" % path)
    payload = data[cut + len(PAYLOAD_MARK) :]
    if hashlib.sha256(payload).hexdigest() != expected:
        raise PackError("payload of %s: SHA-256 differs from %s (changed in transit?)" % (path, PACKED_ARG))
    files = []
    for number, line in enumerate(payload.splitlines(), 1):
        parts = line.split(b" ")
        if len(parts) != 3 or parts[0] != b"#@":
            raise PackError("payload line %d: expected '#@ <name> <base64>'" % number)
        name = parts[1].decode("utf-8", "replace")
        if name.startswith("/") or ".." in name.split("/") or "\\" in name:
            raise PackError("payload line %d: unsafe name %r" % (number, name))
        try:
            files.append((name, base64.b64decode(parts[2], validate=True)))
        except ValueError:
            raise PackError("payload line %d (%s): not base64" % (number, name)) from None
    return files


def unpack(files: List[Tuple[str, bytes]], base: str) -> str:
    """Write the files under a new private dir in `base`; its path."""
    target = tempfile.mkdtemp(prefix="glide_packed_", dir=base)
    for name, data in files:
        path = os.path.join(target, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data)
    return target


def local_args(argv: List[str], stage: str) -> List[str]:
    """The wrapper's arguments with every web location pointing at the unpacked stage."""
    import urllib.request

    url = "file://" + urllib.request.pathname2url(stage)
    out = list(argv)
    for i in range(len(out) - 1):
        if out[i] in WEB_ARGS:
            out[i + 1] = url
    return out


def hold(argv: List[str]) -> None:
    """Keep the node `-hold_time` seconds, as the wrapper does after a failure (black-hole guard);
    SIGTERM ends the wait."""
    import signal

    given = argv[argv.index("-hold_time") + 1] if "-hold_time" in argv[:-1] else "1200"
    deadline = time.time() + (int(given) if given.isdigit() else 1200)
    stop: List[int] = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.append(signum))
    while time.time() < deadline and not stop:
        time.sleep(min(1.0, max(0.0, deadline - time.time())))


def refuse(message: str, argv: List[str]) -> int:
    """One line on stderr, and the failure report in stdout for the factory; exit Corruption after
    holding the node."""
    sys.stderr.write("glidein_startup: packed pilot refused: %s\n" % message)
    pilot_id = argv[argv.index("-pilot_id") + 1] if "-pilot_id" in argv[:-1] else ""
    report: Dict[str, Any] = {"pilot_id": pilot_id, "status": "failure", "failure_class": "Corruption"}
    report.update(step="unpack", message="packed pilot refused: " + message, exit_code=CORRUPTION)
    report.update(results=[], startd=None, time=time.time())
    sys.stdout.write(output_block(report, "packed pilot refused: %s\n" % message))
    sys.stdout.flush()
    hold(argv)
    return CORRUPTION


def interpreter() -> str:
    """This Python's path: sys.executable is empty when it was started with no PATH to find itself
    (HTCondor's local universe runs a `#!/usr/bin/env python3` job so), yet scripts run with it."""
    if sys.executable:
        return sys.executable
    found = os.path.realpath("/proc/self/exe") if os.path.exists("/proc/self/exe") else ""
    return found or shutil.which("python3", path=os.defpath) or "python3"


def main(argv: List[str], own_path: str) -> int:
    sys.executable = interpreter()
    expected, rest = split_args(argv)
    try:
        files = read_payload(own_path, expected)
        base = os.getcwd() if os.access(os.getcwd(), os.W_OK) else tempfile.gettempdir()
        target = unpack(files, base)
    except (PackError, OSError) as exc:
        return refuse(str(exc), rest)
    try:
        sys.path.insert(0, target)
        import glidein_startup  # type: ignore[import-not-found]  # the unpacked wrapper

        glidein_startup.SCHEMES = ("http://", "https://", "file://")
        glidein_startup.FINAL_HOOKS.append(emit)
        return int(glidein_startup.main(local_args(rest, os.path.join(target, "stage"))))
    finally:
        shutil.rmtree(target, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.path.abspath(__file__)))
