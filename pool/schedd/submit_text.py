"""Scanning a submit description into statements that remember their line (pure, no ClassAds).

`htcondor2.Submit` parses and expands macros but reports no line numbers and accepts lines
that HTCondor's own `condor_submit` refuses. This scanner keeps each command's line so every
error names it: ``jobs.sub:7: request_memory: bad size '2XB'``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from glidein.common.errors import SubmitError

_KEY = re.compile(r"^([+]?[A-Za-z_][A-Za-z0-9_.]*)\s*=(.*)$", re.S)
_QUEUE = re.compile(r"^queue(\s.*)?$", re.I | re.S)
_MACRO = re.compile(r"\$([A-Za-z_]*)\(([^()]*)\)")


@dataclass
class Command:
    key: str
    value: str
    line: int


@dataclass
class QueueStatement:
    args: str  # everything after "queue", an inline item list included
    line: int
    commands: list[Command] = field(default_factory=list)  # commands in force at this statement


@dataclass
class ScannedSubmit:
    filename: str
    queues: list[QueueStatement]

    def where(self, line: int) -> str:
        return f"{self.filename}:{line}"


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) per statement: comments dropped, `\\` continuations joined."""
    out: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1])
            continue
        pending.append(stripped)
        out.append((start, " ".join(part.strip() for part in pending).strip()))
        pending = []
    if pending:
        out.append((start, " ".join(pending).strip()))
    return out


def _queue_block(lines: list[tuple[int, str]], index: int, filename: str) -> tuple[str, int]:
    """The full text of a queue statement starting at `index` (multi-line `from (` lists)."""
    line, text = lines[index]
    if not re.search(r"\(\s*$", text):
        return text[len("queue") :].strip(), index + 1
    items = [text[len("queue") :].strip()]
    for next_index in range(index + 1, len(lines)):
        item_text = lines[next_index][1]
        items.append(item_text)
        if item_text == ")":
            return "\n".join(items), next_index + 1
    raise SubmitError(f"{filename}:{line}: queue: item list opened with '(' is never closed")


def scan(text: str, filename: str) -> ScannedSubmit:
    """Split a submit description into commands and queue statements; SubmitError names the line."""
    lines = _logical_lines(text)
    commands: list[Command] = []
    queues: list[QueueStatement] = []
    index = 0
    while index < len(lines):
        line, stmt = lines[index]
        if _QUEUE.match(stmt):
            args, index = _queue_block(lines, index, filename)
            queues.append(QueueStatement(args, line, list(commands)))
            continue
        match = _KEY.match(stmt)
        if match is None:
            raise SubmitError(f"{filename}:{line}: expected 'name = value' or 'queue ...', got {stmt[:60]!r}")
        key, value = match.group(1).strip(), match.group(2).strip()
        if key.startswith("+"):
            key = "MY." + key[1:]
        commands.append(Command(key, value, line))
        index += 1
    if not queues:
        raise SubmitError(f"{filename}: no 'queue' statement: nothing to submit")
    return ScannedSubmit(filename, queues)


def macro_names(value: str) -> set[str]:
    """Names a value refers to through `$(name)`, `$(name:default)` or `$INT(name,fmt)` macros."""
    names: set[str] = set()
    for func, body in _MACRO.findall(value):
        name = re.split(r"[:,]", body, maxsplit=1)[0].strip()
        if func.upper().startswith("RANDOM"):
            names.add("Process")  # a fresh value per job
        if name:
            names.add(name)
    return names


def per_job_keys(commands: dict[str, str], job_vars: set[str]) -> set[str]:
    """Commands whose expansion depends (transitively) on a per-job variable such as $(Process)."""
    lowered = {key.lower(): key for key in commands}
    varying = {name.lower() for name in job_vars}
    changed = True
    while changed:
        changed = False
        for key, value in commands.items():
            if key.lower() in varying:
                continue
            refs = {name.lower() for name in macro_names(value)}
            if refs & varying:
                varying.add(key.lower())
                changed = True
    return {original for low, original in lowered.items() if low in varying}
