"""Seeded fuzzing of the submit-description parser: only SubmitError escapes, as one line naming the file.

Valid descriptions (every queue form, macros, per-job values) are mutated line by line: noise,
unbalanced quotes, recursive and undefined macros, huge or hostile values, NUL bytes, very long
lines, out-of-range requests and queue counts. Each case must parse, or fail with the project's
own error whose message is one line starting with the file name (`t.sub:7: ...`).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path

from glidein.common.errors import SubmitError
from glidein.pool.schedd.submit import MAX_PROCS, SubmitContext, parse_submit
from tests.fuzz_support import HOSTILE_EXPRESSIONS

SEED = 13
CASES = 10_000
BUDGET_S = 45.0
BASES = [
    "executable = run.sh\narguments = a $(Process)\nrequest_memory = 64MB\nqueue 3\n",
    "executable = run.sh\narguments = $(item)\nqueue item in (a, b, c)\n",
    "executable = run.sh\nenvironment = \"A=1 B='x y'\"\nqueue name, size from (\n x, 1\n y, 2\n)\n",
    "executable = run.sh\narguments = $(f)\nqueue f from items.txt\n",
    "executable = run.sh\nqueue 2 file matching files *.dat\n",
    "A = $(B)\nB = x$(Process)\nexecutable = run.sh\narguments = $(A) $(C:def)\n"
    "output = o.$(Cluster).$(Process)\nqueue 2\n",
    "executable = run.sh\ninitialdir = d$(Process)\ntransfer_input_files = in.txt\nqueue 2\n",
    'universe = vanilla\nexecutable = run.sh\n+Site = "A"\nMY.Weight = 1.5\n'
    "requirements = TARGET.Memory > 1\nrank = TARGET.Cpus\npriority = 3\nrequest_cpus = 2\n"
    "request_disk = 1G\nrequest_gpus = 0\nqueue\n",
    "executable = run.sh\narguments = $INT(Process,%03d) $RANDOM_CHOICE(a,b)\nqueue 2\n"
    "request_cpus = 2\nqueue 1\n",
]
HOSTILE = [
    *HOSTILE_EXPRESSIONS,
    "$(A)",
    "$(Undefined)",
    "$(",
    "$INT(Process,%999999d)",
    "$RANDOM_INTEGER(1,99999999999999999999)",
    "$ENV(HOME)",
    "$(Process:$(Process:$(Process)))",
    "\x00",
    "'",
    '"',
    "\\",
    "\u00e9\u20ac\U0001f600",
]
KEYS = [
    "executable",
    "arguments",
    "environment",
    "request_memory",
    "request_disk",
    "request_cpus",
    "request_gpus",
    "priority",
    "requirements",
    "rank",
    "+Site",
    "MY.X",
    "universe",
    "transfer_executable",
    "transfer_input_files",
    "initialdir",
    "output",
    "A",
    "B",
    "accounting_group",
    "queue",
]
REQUESTS = [
    "-1",
    "0",
    "9" * 5000,
    "-" + "9" * 5000,
    "\u0663",
    "1" + "0" * 30 + "MB",
    "1e999",
    "99999999999999999999 GB",
    "2XB",
    str(1 << 70),
    "1.5",
    "1 GB GB",
    "-0.5M",
]
QUEUES = [
    "queue 0",
    f"queue {MAX_PROCS + 1}",
    "queue " + "9" * 40,
    "queue " + "9" * 5000,
    "queue \u0663",
    "queue -1",
    "queue abc",
    "queue 1 in (",
    "queue x in ()",
    "queue x from nowhere.txt",
    "queue x from (\na\n",
    "queue matching files /nonexistent/*",
    f"queue {MAX_PROCS} x in (a, b)",
    "queue 1 a,b,c from (\n1\n)",
    "queue\nqueue\nqueue",
]


def _mutate_line(rng: random.Random, line: str) -> str:
    kind = rng.randrange(8)
    if kind == 0:
        pos = rng.randrange(len(line) + 1)
        return (
            line[:pos]
            + "".join(chr(rng.randrange(1, 0x3000)) for _ in range(rng.randrange(1, 6)))
            + line[pos:]
        )
    if kind == 1:
        return line.replace("=", rng.choice(["", "==", "= =", ":"]), 1)
    if kind == 2:
        return f"{line.split('=', maxsplit=1)[0]}= {rng.choice(HOSTILE)}"
    if kind == 3:
        return f"{rng.choice(KEYS)} = {rng.choice(HOSTILE + REQUESTS)}"
    if kind == 4:
        return line + rng.choice(["\\", '"', "'", "\x00", " " * 100_000, "#", ")", "("])
    if kind == 5:
        return rng.choice(QUEUES)
    if kind == 6:
        return line[: rng.randrange(len(line) + 1)]
    return (
        rng.choice(["request_memory", "request_disk", "request_cpus", "priority"])
        + " = "
        + rng.choice(REQUESTS)
    )


def _case(rng: random.Random) -> str:
    lines = rng.choice(BASES).splitlines()
    for _ in range(rng.randrange(1, 4)):
        index = rng.randrange(len(lines))
        action = rng.randrange(4)
        if action == 0:
            lines[index] = _mutate_line(rng, lines[index])
        elif action == 1:
            del lines[index]
            lines = lines or ["queue"]
        elif action == 2:
            lines.insert(index, _mutate_line(rng, rng.choice(lines)))
        else:
            lines[index], lines[-1 - index] = lines[-1 - index], lines[index]
    text = "\n".join(lines) + rng.choice(["\n", "", "\r\n", "\n\x00"])
    return (
        text
        if rng.random() < 0.95
        else text.encode("utf-8", "replace")[: rng.randrange(len(text))].decode("utf-8", "replace")
    )


def _setup(tmp: Path) -> None:
    (tmp / "run.sh").write_text("#!/bin/sh\n")
    (tmp / "in.txt").write_text("x")
    (tmp / "items.txt").write_text("a\nb\n\x00c\n" + "x" * 5000 + "\n")
    for name in ("one.dat", "two.dat"):
        (tmp / name).write_text("")


def test_mutated_submit_descriptions_fail_only_with_one_line_submit_errors(tmp_path: Path) -> None:
    _setup(tmp_path)
    rng = random.Random(SEED)
    outcomes: Counter[str] = Counter()
    start = time.monotonic()
    slowest = (0.0, "")  # the slowest refusal (a valid `queue 200000` may take seconds)
    for number in range(CASES):
        text = _case(rng)
        began = time.monotonic()
        try:
            parsed = parse_submit(text, SubmitContext("t.sub", str(tmp_path), number + 1, check_files=True))
        except SubmitError as exc:
            message = str(exc)
            assert "\n" not in message and "\r" not in message, (message, text[:300])
            assert message.startswith("t.sub:") or message.startswith("t.sub "), (message, text[:300])
            named = message[len("t.sub:") : len("t.sub:") + 1].isdigit()
            outcomes["error naming a line" if named else "error"] += 1
            slowest = max(slowest, (time.monotonic() - began, text[:120]))  # a refusal is quick
        else:
            assert 1 <= len(parsed.procs) <= MAX_PROCS
            outcomes["parsed"] += 1
        assert time.monotonic() - start < BUDGET_S, f"over budget after {number} cases"
    print(
        f"submit fuzz: {CASES} cases in {time.monotonic() - start:.1f} s, {dict(outcomes)}, slowest {slowest}"
    )
    assert slowest[0] < 2.0, slowest
    assert outcomes["parsed"] > CASES // 20 and outcomes["error naming a line"] > CASES // 2, outcomes
