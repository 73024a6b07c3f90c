"""Self-contained pilots (entry option `self_contained`): the stage travels inside the pilot.

For sites whose worker nodes cannot reach the factory's web server. `pack` writes one executable
per stage: pilot_wrapper/unpack.py's source, a `#@glidein-payload` line, then `#@ <name> <base64>`
lines for the wrapper (`glidein_startup.py`) and every file of every level of the current stage
(`stage/<name>`: signature files, their Ed25519 signatures, descriptions, files). The pilot is
given `-packed_sha256 <hex>` (the payload's hash) on its command line with the usual `-sign*`
arguments, so its files are verified as a downloaded stage is (hash chain and signature) and a
changed byte anywhere in the payload is refused before anything runs.

The pilot writes its log and final report into its stdout (unpack.py `output_block`); `collect`
reads at most MAX_READ bytes of the end of that output, checks the block's size, its SHA-256 and
its decompressed size before parsing, and stores the log and report where `glidein factory web`
stores streamed ones (`<state_dir>/pilots/<id>/log.txt`, `report.json`): the pages find them there.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import shlex
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from glidein.common.errors import ConfigError, GlideinError, SubmitError
from glidein.factory import staging
from glidein.factory.web import pilot_dir, write_report

log = logging.getLogger(__name__)
UNPACK_PATH = staging.PACKAGE_ROOT / "pilot_wrapper" / "unpack.py"
PAYLOAD_LINE = "#@glidein-payload\n"
PACKED_ARG = "-packed_sha256"
PACKED_DIR = "packed"  # under the factory's state dir
MAX_PACKED = 3 << 30  # bytes of a packed pilot (unpack.py refuses more)
MAX_READ = 4 << 20  # bytes of a pilot's stdout read back (its end)
MAX_BLOCK = 2 << 20  # bytes of the base64 text of one output block
MAX_JSON = 4 << 20  # bytes of the block's JSON once decompressed
BEGIN = b"==== GLIDEIN PILOT OUTPUT BEGIN 1 ===="
END = b"==== GLIDEIN PILOT OUTPUT END sha256="
CHECKED = ".packed_output"  # in the pilot's dir: its output was read once
HEREDOC = "GLIDEIN_PACKED_PILOT_END"  # ends the packed pilot embedded in a batch script


class UnpackError(GlideinError):
    """A pilot's output block is refused (one log line)."""


@dataclass(frozen=True)
class PackedPilot:
    path: Path
    sha256: str

    def args(self) -> list[str]:
        return [PACKED_ARG, self.sha256]


_CACHE: dict[tuple[str, str], PackedPilot] = {}


def stage_files(stage_dir: Path, result: staging.StageResult) -> list[str]:
    """Every file name of every level of the stage: signature, its Ed25519 file, the listed ones."""
    names: set[str] = set()
    levels = [result.main, *result.entries.values(), *result.clients.values(), *result.groups.values()]
    for level in levels:
        sig_name = f"signature.{level.descript.split('.')[1]}.txt"
        try:
            text = (stage_dir / sig_name).read_text()
        except OSError as exc:
            raise ConfigError(f"{stage_dir / sig_name}: cannot pack the stage: {exc.strerror}") from None
        names.add(sig_name)
        ed = sig_name.removesuffix(".txt") + ".ed25519"
        if (stage_dir / ed).is_file():
            names.add(ed)
        names.update(line.split()[1] for line in text.splitlines() if line and not line.startswith("#"))
    return sorted(names)


def payload(stage_dir: Path, result: staging.StageResult) -> bytes:
    """The payload lines (the wrapper, then the stage's files, by name)."""
    lines = [b"#@ glidein_startup.py " + base64.b64encode(staging.WRAPPER_PATH.read_bytes()) + b"\n"]
    size = 0
    for name in stage_files(stage_dir, result):
        try:
            data = (stage_dir / name).read_bytes()
        except OSError as exc:
            raise ConfigError(f"{stage_dir / name}: cannot pack the stage: {exc.strerror}") from None
        size += len(data)
        if size > MAX_PACKED * 3 // 4:
            raise ConfigError(f"{stage_dir}: the stage is too large to pack into a pilot")
        lines.append(f"#@ stage/{name} ".encode() + base64.b64encode(data) + b"\n")
    return b"".join(lines)


def pack(
    stage_dir: Path, out_dir: Path, keep_s: float = 86400, result: staging.StageResult | None = None
) -> PackedPilot:
    """The packed pilot of `result` (default: the current stage of `stage_dir`), written once into
    `out_dir`: the cycle passes the stage its `-sign*` arguments come from, so a new stage written
    meanwhile cannot pair them with other files. Packed pilots of older stages unused for `keep_s`
    seconds are deleted (queued pilots may need them)."""
    result = staging.load_result(stage_dir) if result is None else result
    key = (str(out_dir), hashlib.sha256(result.to_json().encode()).hexdigest())
    cached = _CACHE.get(key)
    if cached is not None and cached.path.is_file():
        return cached
    data = payload(stage_dir, result)
    digest = hashlib.sha256(data).hexdigest()
    target = out_dir / f"glidein_pilot.{digest[:20]}.py"
    if not target.is_file():
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        source = UNPACK_PATH.read_bytes()
        tmp.write_bytes(source.rstrip(b"\n") + b"\n" + PAYLOAD_LINE.encode() + data)
        os.chmod(tmp, 0o755)  # noqa: S103 - the program the batch system runs
        tmp.replace(target)
        log.info("packed the stage into %s (%d bytes, sha256 %s)", target, target.stat().st_size, digest)
        prune(out_dir, target, keep_s)
    _CACHE[key] = PackedPilot(target, digest)
    return _CACHE[key]


def shell_embedded(argv: Sequence[str]) -> tuple[list[str], str] | None:
    """For a batch script: the lines that write the packed pilot `argv[1]` out of the script itself
    (a quoted here-document: verbatim) and the command that runs it; None for other pilots."""
    if PACKED_ARG not in argv or len(argv) < 2:
        return None
    try:
        text = Path(argv[1]).read_text()
    except (OSError, ValueError) as exc:
        raise SubmitError(f"{argv[1]}: cannot embed the packed pilot: {exc}") from None
    if HEREDOC in text.splitlines():
        raise SubmitError(f"{argv[1]}: holds the line {HEREDOC}: cannot embed it")
    lines = ['packed=$(mktemp "${TMPDIR:-/tmp}/glidein_pilot.XXXXXX") || exit 1']
    lines += [f"cat > \"$packed\" <<'{HEREDOC}'", text.rstrip("\n"), HEREDOC]
    return lines, f'{shlex.quote(argv[0])} "$packed" {shlex.join(argv[2:])}'


def prune(out_dir: Path, current: Path, keep_s: float) -> list[str]:
    """Delete the packed pilots other than `current` last written more than `keep_s` seconds ago."""
    removed = []
    limit = current.stat().st_mtime - keep_s
    for path in out_dir.glob("glidein_pilot.*.py"):
        if path != current and path.stat().st_mtime < limit:
            path.unlink(missing_ok=True)
            removed.append(path.name)
    return removed


def _tail(path: Path) -> bytes:
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        handle.seek(max(0, size - MAX_READ))
        return handle.read(MAX_READ)


def read_block(output: bytes) -> tuple[dict[str, object], str]:
    """(report, log) of the last complete output block in `output`; UnpackError otherwise."""
    start = output.rfind(BEGIN)
    if start < 0:
        raise UnpackError("no output block in the pilot's stdout")
    end = output.find(END, start)
    if end < 0:
        raise UnpackError("the output block has no end line (cut short?)")
    if end - start > MAX_BLOCK:
        raise UnpackError(f"the output block is larger than {MAX_BLOCK} bytes")
    lines = output[start + len(BEGIN) : end].split(b"\n")
    text = b"".join(ln.strip() for ln in lines if ln.strip() and b" " not in ln.strip())
    given = output[end + len(END) : end + len(END) + 64].decode("ascii", "replace")
    if len(given) != 64 or set(given) - set("0123456789abcdef"):
        raise UnpackError("the output block has no end line (cut short?)")
    if hashlib.sha256(text).hexdigest() != given:
        raise UnpackError("the output block's SHA-256 differs from its end line")
    try:
        inflater = zlib.decompressobj(wbits=31)
        raw = inflater.decompress(base64.b64decode(text, validate=True), MAX_JSON)
        if inflater.unconsumed_tail:
            raise UnpackError(f"the output block is larger than {MAX_JSON} bytes unpacked")
        body = json.loads(raw)
    except (binascii.Error, zlib.error, ValueError) as exc:
        raise UnpackError(f"the output block cannot be decoded: {exc}") from None
    report = body.get("report") if isinstance(body, dict) else None
    text_log = body.get("log") if isinstance(body, dict) else None
    if not isinstance(report, dict) or report.get("status") not in ("success", "failure"):
        raise UnpackError("the output block's report needs status success|failure")
    return report, text_log if isinstance(text_log, str) else ""


def collect(state_dir: Path, pilot_id: str, stdout: Path) -> str:
    """Store the log and report a self-contained pilot wrote into `stdout`, once; what happened."""
    directory = pilot_dir(state_dir, pilot_id)
    if (directory / "report.json").exists() or (directory / CHECKED).exists():
        return "already"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CHECKED).touch()
    try:
        report, text = read_block(_tail(stdout))
    except (OSError, UnpackError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        log.warning("pilot=%s packed output refused: %s (%s)", pilot_id, why, stdout)
        return "refused"
    tmp = directory / "log.txt.tmp"
    tmp.write_text(text)
    os.replace(tmp, directory / "log.txt")
    write_report(directory, pilot_id, report, " from its stdout")
    return "stored"
