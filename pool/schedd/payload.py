"""What a startd receives with a claim (job description + input files) and where outputs land."""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path

from glidein.common import classads
from glidein.common.errors import SubmitError
from glidein.pool.schedd.queue import Claim

log = logging.getLogger(__name__)
MAX_INPUT_BYTES = 64 * 1024 * 1024
MAX_OUTPUT_BYTES = 16 * 1024 * 1024


def _string(attrs: dict[str, str], name: str) -> str:
    value = classads.evaluate(attrs[name]) if name in attrs else ""
    return value if isinstance(value, str) else ""


def _words(attrs: dict[str, str], new: str, old: str) -> str:
    """Arguments/environment as the startd splits them: the new syntax back in its double quotes."""
    if new in attrs:
        return '"' + _string(attrs, new).replace('"', '""') + '"'
    return _string(attrs, old)


def _read(path: str, budget: list[int]) -> str:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SubmitError(f"cannot read input file {path}: {exc.strerror}") from None
    budget[0] -= len(data)
    if budget[0] < 0:
        raise SubmitError(f"input files exceed {MAX_INPUT_BYTES} bytes")
    return base64.b64encode(data).decode("ascii")


def job_payload(claim: Claim, lease_s: float) -> dict[str, object]:
    """The JSON a startd needs to run a claimed job; SubmitError when an input cannot be read."""
    attrs = claim.attrs
    budget = [MAX_INPUT_BYTES]
    files: list[dict[str, object]] = []
    cmd = _string(attrs, "Cmd")
    transfer_exe = classads.evaluate(attrs.get("TransferExecutable", "true")) is not False
    if transfer_exe:
        files.append({"name": os.path.basename(cmd), "data": _read(cmd, budget), "mode": 0o755})
        cmd = os.path.basename(cmd)
    for path in filter(None, _string(attrs, "TransferInput").split(",")):
        files.append({"name": os.path.basename(path), "data": _read(path, budget), "mode": 0o644})
    body = "; ".join(f"{name} = {text}" for name, text in attrs.items())
    return {
        "claim_id": claim.claim_id,
        "job_id": claim.row.job_id,
        "cmd": cmd,
        "transfer_executable": transfer_exe,
        "args": _words(attrs, "Arguments", "Args"),
        "env": _words(attrs, "Environment", "Env"),
        "files": files,
        "requests": claim.requests,
        "lease": lease_s,
        "ad": f"[{body}]",
    }


def _write(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        log.error("cannot write job output %s: %s", path, exc.strerror)


def write_outputs(attrs: dict[str, str], spool: Path, stdout: bytes, stderr: bytes) -> None:
    """stdout/stderr to the job's Out/Err files, else to <spool>/<cluster>.<proc>.out|err."""
    job_id = f"{attrs['ClusterId']}.{attrs['ProcId']}"
    for name, data, suffix in (("Out", stdout, "out"), ("Err", stderr, "err")):
        target = _string(attrs, name)
        _write(Path(target) if target else spool / f"{job_id}.{suffix}", data[:MAX_OUTPUT_BYTES])


def decode_output(value: object, what: str) -> bytes:
    if value is None:
        return b""
    if not isinstance(value, str):
        raise SubmitError(f"{what} must be base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise SubmitError(f"{what} is not valid base64") from None
