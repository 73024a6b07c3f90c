"""Submit descriptions -> job attributes (ClassAd expression texts), one cluster per file.

The scan (lines, queue statements) is ours so every error names its line; `htcondor2.Submit`
expands macros and yields queue items. Commands that depend on a per-job variable
(`$(Process)`, a queue item, ...) are expanded per job; the others once per queue statement,
so `queue 1000000` costs little. Units: `request_memory` in MB, `request_disk` in KB
(suffixes K, M, G, T with optional B). Resource requests are NOT folded into Requirements
(the startd offers only free resources and the schedd checks them at claim time), so a job's
Requirements can also be evaluated against an entry ad by the frontend.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import htcondor2

from glidein.common import classads
from glidein.common.classad_limits import check_text
from glidein.common.errors import ClassAdError, SubmitError
from glidein.pool.schedd import submit_commands as commands_
from glidein.pool.schedd.submit_text import Command, QueueStatement, ScannedSubmit, per_job_keys, scan

JOB_VARS = {"Process", "ProcId", "Step", "ItemIndex", "Row", "Node"}
_PATH_KEYS = {"executable", "input", "output", "error", "log", "transfer_input_files"}
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([KMGT]?)B?$", re.I)
_UNIT_KB = {"": 1, "K": 1, "M": 1024, "G": 1024**2, "T": 1024**3}
_FROM_FILE = re.compile(r"^(.*\bfrom\s+)([^(\s][^\s]*)\s*$", re.I | re.S)
_MATCHING = re.compile(r"^(?:(\w+)\s+)?matching\s+(?:files\s+|dirs\s+)?(.+)$", re.I)
MAX_PROCS = 2_000_000
MAX_PATTERNS = 100  # file patterns in one `queue ... matching` statement

DEFAULTS: dict[str, str] = {
    "RequestCpus": "1",
    "RequestMemory": "128",
    "RequestDisk": "1024",
    "RequestGPUs": "0",
    "Requirements": "true",
    "Rank": "0.0",
    "JobPrio": "0",
    "JobUniverse": "5",
    "TransferExecutable": "true",
    "ImageSize": "0",  # condor_q's SIZE and RUN_TIME columns stay blank without these two
    "RemoteUserCpu": "0.0",
}


@dataclass
class SubmitContext:
    filename: str
    iwd: str  # absolute directory relative paths resolve against (the submit file's directory)
    cluster_id: int
    check_files: bool = True


@dataclass
class ParsedCluster:
    common: dict[str, str]  # attribute -> expression text, the same for every job
    procs: list[dict[str, str]] = field(default_factory=list)  # per job: attributes that vary
    warnings: list[str] = field(default_factory=list)  # condor_submit-style, for the user


def _size(value: str, unit_kb: int, where: str, key: str) -> str:
    """A size with optional unit suffix in units of `unit_kb` KiB; an expression passes through."""
    match = _SIZE.match(value.strip())
    if re.match(r"^-\s*[\d.]", value.strip()):
        raise SubmitError(f"{where}: {key}: must not be negative, got {value.strip()!r}")
    if match is None:
        if re.match(r"^[\d.]+\s*[A-Za-z]+$", value.strip()):
            raise SubmitError(f"{where}: {key}: bad size {value!r} (use e.g. 2048, 2GB, 512MB)")
        return _expr(value, where, key)
    kib = float(match.group(1)) * _UNIT_KB[match.group(2).upper() or ("M" if unit_kb == 1024 else "K")]
    if kib > MAX_SIZE_KB:
        raise SubmitError(f"{where}: {key}: larger than 1 PiB, got {value.strip()[:40]!r}")
    return str(max(1, int(-(-kib // unit_kb))))


def _expr(value: str, where: str, key: str) -> str:
    try:
        check_text(value, "expression")  # before classad2, whose parser overflows on huge ones
        classads.parse_expr(value)
    except ClassAdError as exc:
        raise SubmitError(f"{where}: {key}: {exc}") from None
    return value


def _bool(value: str, where: str, key: str) -> str:
    low = value.strip().lower()
    if low in {"true", "yes", "1"}:
        return "true"
    if low in {"false", "no", "0"}:
        return "false"
    raise SubmitError(f"{where}: {key}: expected true or false, got {value!r}")


def _int(value: str, where: str, key: str) -> str:
    """An integer literal within the range of `key`, or an expression."""
    if re.fullmatch(r"[+-]?[0-9]+", value.strip()):
        low, high = _INT_RANGES[key.lower()]
        digits = value.strip().lstrip("+-").lstrip("0")
        if len(digits) > 19 or not low <= int(value) <= high:  # int() refuses 4300+ digits
            raise SubmitError(f"{where}: {key}: must be {low} to {high}, got {value.strip()[:40]}")
        return str(int(value))
    return _expr(value, where, key)


def _path(value: str, iwd: str) -> str:
    return os.path.normpath(os.path.join(iwd, os.path.expanduser(value)))


_PATH_ATTRS = {"input": "In", "output": "Out", "error": "Err", "log": "UserLog", "executable": "Cmd"}
_EXPR_ATTRS = {"requirements": "Requirements", "rank": "Rank"}
_INT_ATTRS = {"request_cpus": "RequestCpus", "request_gpus": "RequestGPUs", "priority": "JobPrio"}
_INT_RANGES = {
    "request_cpus": (1, 1 << 20),
    "request_gpus": (0, 1 << 20),
    "priority": (-(1 << 31), (1 << 31) - 1),
}
MAX_SIZE_KB = 1 << 40  # 1 PiB in KiB: request_memory / request_disk beyond this are refused


def _universe(value: str, where: str) -> list[tuple[str, str]]:
    if value.strip().lower() != "vanilla":
        raise SubmitError(f"{where}: universe: only 'vanilla' is supported, got {value!r}")
    return [("JobUniverse", "5")]


def _inputs(value: str, iwd: str) -> list[tuple[str, str]]:
    paths = [_path(item.strip(), iwd) for item in value.split(",") if item.strip()]
    return [("TransferInput", classads.quote(",".join(paths)))]


# submit command (lower case) -> (value, iwd, where) -> job attributes
_Translator = Callable[[str, str, str], list[tuple[str, str]]]
_SPECIAL: dict[str, _Translator] = {
    "request_memory": lambda v, _i, w: [("RequestMemory", _size(v, 1024, w, "request_memory"))],
    "request_disk": lambda v, _i, w: [("RequestDisk", _size(v, 1, w, "request_disk"))],
    "transfer_input_files": lambda v, i, _w: _inputs(v, i),
    "transfer_executable": lambda v, _i, w: [("TransferExecutable", _bool(v, w, "transfer_executable"))],
    "initialdir": lambda v, i, _w: [("Iwd", classads.quote(_path(v, i)))],
    "initial_dir": lambda v, i, _w: [("Iwd", classads.quote(_path(v, i)))],
    "universe": lambda v, _i, w: _universe(v, w),
    "accounting_group": lambda v, _i, _w: [("AcctGroup", classads.quote(v))],
    "arguments": lambda v, _i, w: commands_.arguments(v, w, "arguments"),
    "args": lambda v, _i, w: commands_.arguments(v, w, "args"),
    "environment": lambda v, _i, w: commands_.environment(v, w, "environment"),
    "env": lambda v, _i, w: commands_.environment(v, w, "env"),
    "should_transfer_files": lambda v, _i, w: commands_.should_transfer(v, w),
    "when_to_transfer_output": lambda v, _i, w: commands_.when_to_transfer(v, w),
    "getenv": lambda v, _i, w: commands_.getenv(v, w),
    "notification": lambda v, _i, w: commands_.notification(v, w),
    "notify_user": lambda v, _i, _w: [("NotifyUser", classads.quote(v))],
}


def translate(key: str, value: str, iwd: str, where: str) -> list[tuple[str, str]]:
    """The job attributes one submit command sets (empty for plain macros and ignored commands)."""
    low = key.lower()
    if low.startswith("my."):
        return [(key[3:], _expr(value, where, key))]
    if low in _PATH_ATTRS:
        return [(_PATH_ATTRS[low], classads.quote(_path(value, iwd)))] if value else []
    if low in _EXPR_ATTRS:
        return [(_EXPR_ATTRS[low], _expr(value or "true", where, key))]
    if low in _INT_ATTRS:
        return [(_INT_ATTRS[low], _int(value, where, key))]
    special = _SPECIAL.get(low)
    return special(value, iwd, where) if special else []


@dataclass
class _Queue:
    count: int
    items: list[dict[str, str]]


def _queue_items(stmt: QueueStatement, sub: htcondor2.Submit, iwd: str, where: str) -> _Queue:
    args = stmt.args.strip()
    match = re.match(r"^([0-9]+)?\s*(.*)$", args, re.S)
    assert match is not None
    if match.group(1) and len(match.group(1).lstrip("0")) > len(str(MAX_PROCS)):
        raise SubmitError(f"{where}: queue: more than {MAX_PROCS} jobs in one submission")
    count = int(match.group(1)) if match.group(1) else 1
    rest = match.group(2).strip()
    if not rest:
        return _Queue(count, [{}])
    matching = _MATCHING.match(rest)
    if matching:
        var = matching.group(1) or "Item"
        patterns = matching.group(2).split()
        if len(patterns) > MAX_PATTERNS:
            raise SubmitError(f"{where}: queue matching: more than {MAX_PATTERNS} patterns")
        names = sorted(os.path.relpath(p, iwd) for pat in patterns for p in glob.glob(_path(pat, iwd)))
        return _Queue(count, [{var: name} for name in names])
    try:
        items = sub.itemdata()
        listed = [dict(item) for item in items] if items is not None else []
    except (ValueError, RuntimeError) as exc:
        raise SubmitError(f"{where}: queue: {exc}") from None
    if items is None:
        raise SubmitError(f"{where}: queue: cannot read the item list {rest[:60]!r}")
    return _Queue(count, listed)


def _submit_object(
    commands: dict[str, Command], stmt: QueueStatement, iwd: str, where: str
) -> htcondor2.Submit:
    args = stmt.args
    from_file = _FROM_FILE.match(args)
    if from_file:
        args = from_file.group(1) + _path(from_file.group(2), iwd)
    body = "\n".join(f"{cmd.key} = {cmd.value}" for cmd in commands.values())
    try:
        return htcondor2.Submit(f"{body}\nqueue {args}\n")
    except (ValueError, RuntimeError, TypeError) as exc:
        raise SubmitError(f"{where}: {exc}") from None


class _Expander:
    """Expands and translates commands of one queue statement, caching by (key, value)."""

    def __init__(self, sub: htcondor2.Submit, commands: dict[str, Command], ctx: SubmitContext) -> None:
        self.sub, self.commands, self.ctx = sub, commands, ctx
        self.cache: dict[tuple[str, str, str], list[tuple[str, str]]] = {}

    def expand(self, key: str) -> str:
        try:
            return str(self.sub.expand(key))
        except (KeyError, ValueError, RuntimeError) as exc:
            where = self.ctx.filename + f":{self.commands[key].line}"
            raise SubmitError(f"{where}: {key}: cannot expand: {exc}") from None

    def attrs(self, keys: list[str], iwd: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for key in keys:
            value = self.expand(key)
            cache_key = (key, value, iwd)
            if cache_key not in self.cache:
                where = f"{self.ctx.filename}:{self.commands[key].line}"
                self.cache[cache_key] = translate(key, value, iwd, where)
            out.update(self.cache[cache_key])
        return out


def _iwd(expander: _Expander, varying: set[str], per_job: bool) -> str:
    for key in expander.commands:
        if key.lower() in {"initialdir", "initial_dir"} and ((key in varying) == per_job):
            return _path(expander.expand(key), expander.ctx.iwd)
    return expander.ctx.iwd


def _parse_queue(stmt: QueueStatement, ctx: SubmitContext, first_proc: int) -> ParsedCluster:
    where = f"{ctx.filename}:{stmt.line}"
    commands = {cmd.key: cmd for cmd in stmt.commands}
    if not any(key.lower() == "executable" for key in commands):  # before expanding every job
        raise SubmitError(f"{where}: no 'executable' for this queue")
    sub = _submit_object(commands, stmt, ctx.iwd, where)
    queue = _queue_items(stmt, sub, ctx.iwd, where)
    if queue.count * len(queue.items) + first_proc > MAX_PROCS:
        raise SubmitError(f"{where}: queue: more than {MAX_PROCS} jobs in one submission")
    for name in ("Cluster", "ClusterId"):
        sub[name] = str(ctx.cluster_id)
    item_vars = {name for item in queue.items for name in item}
    varying = per_job_keys({k: c.value for k, c in commands.items()}, JOB_VARS | item_vars)
    if any(key.lower() in {"initialdir", "initial_dir"} for key in varying):
        varying |= {key for key in commands if key.lower() in _PATH_KEYS}
    expander = _Expander(sub, commands, ctx)
    base_iwd = _iwd(expander, varying, per_job=False)
    common = expander.attrs([k for k in commands if k not in varying], base_iwd)
    varying_keys = [k for k in commands if k in varying]
    if not varying_keys:
        return ParsedCluster(common, [{} for _ in range(queue.count * len(queue.items))])
    iwd_varies = any(key.lower() in {"initialdir", "initial_dir"} for key in varying_keys)
    procs: list[dict[str, str]] = []
    for index, item in enumerate(queue.items):
        for name, value in item.items():
            sub[name] = value
        for step in range(queue.count):
            proc = first_proc + len(procs)
            for name, number in (("Process", proc), ("ProcId", proc), ("Step", step), ("ItemIndex", index)):
                sub[name] = str(number)
            sub["Row"] = str(index)
            iwd = _iwd(expander, varying, per_job=True) if iwd_varies else base_iwd
            procs.append(expander.attrs(varying_keys, iwd))
    return ParsedCluster(common, procs)


def _merge(parts: list[ParsedCluster]) -> ParsedCluster:
    """One cluster from several queue statements: attributes equal everywhere stay common."""
    shared = {k: v for k, v in parts[0].common.items() if all(p.common.get(k) == v for p in parts[1:])}
    procs: list[dict[str, str]] = []
    for part in parts:
        extra = {k: v for k, v in part.common.items() if k not in shared}
        if not extra:
            procs.extend(part.procs)
            continue
        procs.extend({**extra, **proc} for proc in part.procs)
    return ParsedCluster(shared, procs)


def _check_files(scanned: ScannedSubmit, cluster: ParsedCluster, ctx: SubmitContext) -> None:
    line_of = _line_finder(scanned)
    seen: set[str] = set()
    for attrs in [cluster.common, *cluster.procs[:1000]]:
        merged = {**cluster.common, **attrs}
        if merged.get("TransferExecutable", "true") == "true" and "Cmd" in merged:
            _must_exist(classads.evaluate(merged["Cmd"]), line_of("executable"), "executable", seen)
        if "TransferInput" in merged:
            value = classads.evaluate(merged["TransferInput"])
            for path in str(value).split(",") if value else []:
                _must_exist(path, line_of("transfer_input_files"), "transfer_input_files", seen)


def _must_exist(path: object, where: str, key: str, seen: set[str]) -> None:
    if not isinstance(path, str) or path in seen:
        return
    seen.add(path)
    if not os.path.isfile(path):
        raise SubmitError(f"{where}: {key}: no such file {path}")


def _line_finder(scanned: ScannedSubmit) -> Callable[[str], str]:
    def find(key: str) -> str:
        for stmt in scanned.queues:
            for cmd in stmt.commands:
                if cmd.key.lower() == key:
                    return scanned.where(cmd.line)
        return scanned.filename

    return find


def parse_submit(text: str, ctx: SubmitContext) -> ParsedCluster:
    """Every job of one submit description; SubmitError ("file:line: key: reason") on any error."""
    scanned = scan(text, ctx.filename)
    parts: list[ParsedCluster] = []
    first = 0
    for stmt in scanned.queues:
        part = _parse_queue(stmt, ctx, first)
        first += len(part.procs)
        parts.append(part)
    cluster = _merge(parts)
    cluster.warnings = commands_.unused_warnings(scanned)
    if not cluster.procs:
        raise SubmitError(f"{scanned.where(scanned.queues[0].line)}: queue: no jobs (empty item list)")
    if "Cmd" not in cluster.common and not all("Cmd" in p for p in cluster.procs):
        raise SubmitError(f"{scanned.where(scanned.queues[0].line)}: no 'executable' for this queue")
    cluster.common = {**DEFAULTS, "Iwd": classads.quote(ctx.iwd), **cluster.common}
    if ctx.check_files:
        _check_files(scanned, cluster, ctx)
    return cluster
