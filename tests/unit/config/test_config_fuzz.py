"""Seeded fuzzing of the config loader: only ConfigError escapes, one line per problem naming the file.

The shipped examples (etc/) and the configs `glidein demo` writes are mutated as text (type swaps,
deleted and duplicated lines, indentation, huge and deeply nested values, aliases, tags such as
`!!python/object/apply`, control characters) and as data (a value anywhere replaced, dumped back
to YAML). Every case must load, or fail with ConfigError whose lines each start with the file's
name; no case may run code or take long.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from glidein.common.config import ConfigProblems, load_config
from glidein.common.config.loader import MODELS, detect_kind, parse_yaml, validate
from glidein.common.errors import ConfigError
from glidein.demo.layout import prepare

SEED = 13
CASES = 600  # a fixed seeded sequence: the same cases on any machine, however loaded
HANG_S = 10.0  # one case taking longer than this is a hang (a YAML bomb), not a slow machine
ETC = Path(__file__).resolve().parents[3] / "etc"
MARKER = "/tmp/glidein-config-fuzz-marker"  # a tag that ran code would create it
HOSTILE = [
    "[]",
    "{}",
    "~",
    "null",
    "-1",
    "0",
    "1e999",
    "-.inf",
    ".nan",
    "9" * 5000,
    "0x" + "f" * 200,
    "'" + "x" * 300_000 + "'",
    "[" * 200 + "]" * 200,
    "{a: " * 100 + "1" + "}" * 100,
    "'unterminated",
    '"\\xff\\x00"',
    "*nowhere",
    "&a [1, *a]",
    f"!!python/object/apply:os.system ['touch {MARKER}']",
    f"!!python/object/new:subprocess.Popen [['touch', '{MARKER}']]",
    "!!python/name:os.system",
    "!!binary AAAA",
    "!!set {a, b}",
    "!!timestamp 2001-12-14t21:59:43.10-05:00",
    "!!omap [a: 1]",
    "!!int not-a-number",
    "!custom x",
    "{a: 1, a: 2}",
    "<<: *x",
    "yes",
    "2001-12-14",
    "\x00\x07\x1b",
    "\ufeff",
    "a\nb: c",
    "|\n  multi\n  line",
]


def _examples(tmp: Path) -> dict[str, str]:
    layout = prepare(tmp / "demo", jobs=2, use_slurm=True)
    texts = {f"demo-{p.name}": p.read_text() for p in (layout.factory_config, layout.frontend_config)}
    texts.update({f"etc-{p.name}": p.read_text() for p in sorted(ETC.glob("*.yaml"))})
    return texts


def _text_mutation(rng: random.Random, text: str) -> str:
    lines = text.splitlines()
    for _ in range(rng.randrange(1, 4)):
        index = rng.randrange(len(lines))
        line = lines[index]
        kind = rng.randrange(6)
        if kind == 0 and ":" in line:
            lines[index] = line.split(":", 1)[0] + ": " + rng.choice(HOSTILE)
        elif kind == 1:
            del lines[index]
            lines = lines or [""]
        elif kind == 2:
            lines.insert(index, line)  # a duplicate key, or a duplicated list item
        elif kind == 3:
            lines[index] = " " * rng.randrange(0, 6) + line.lstrip()
        elif kind == 4:
            pos = rng.randrange(len(line) + 1)
            lines[index] = line[:pos] + "".join(chr(rng.randrange(0, 0x3000)) for _ in range(3)) + line[pos:]
        else:
            lines.insert(0, rng.choice(["x: &x {name: a}", "--- !!map", "%YAML 1.1\n---", "---\n---", "..."]))
    return "\n".join(lines) + "\n"


def _paths(node: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


def _data_mutation(rng: random.Random, text: str) -> str:
    data = yaml.safe_load(text)
    path = rng.choice(_paths(data))
    parent = data
    for step in path[:-1]:
        parent = parent[step]
    values: list[object] = [None, True, -1, 10**30, 1e308, "", "x" * 100_000, [], {}, [[[[1]]]]]
    values += [{"k": [1] * 1000}, "../../etc/passwd", "\x00", -(10**30), 0.5, ["a"] * 5000]
    if rng.random() < 0.15:
        del parent[path[-1]]
    else:
        parent[path[-1]] = rng.choice(values)
    return yaml.safe_dump(data, sort_keys=False)


def _check_one(text: str, source: str, base: Path) -> str:
    try:
        data, lines = parse_yaml(text, source)
        validate(MODELS[detect_kind(data, source)], data, source, base, lines)
    except ConfigProblems as exc:
        assert exc.lines and all(line.startswith(f"{source}: ") for line in exc.lines), exc.lines[:3]
        assert all("\n" not in line and "\r" not in line for line in exc.lines), exc.lines[:3]
        return "refused"
    except ConfigError as exc:
        assert str(exc).startswith(f"{source}: ") and "\n" not in str(exc), str(exc)[:300]
        return "refused"
    return "loaded"


def test_mutated_configs_fail_only_with_config_errors_naming_the_file(tmp_path: Path) -> None:
    Path(MARKER).unlink(missing_ok=True)
    examples = _examples(tmp_path)
    base = tmp_path / "demo"
    for name, text in examples.items():
        assert _check_one(text, name, base) == "loaded" or name.startswith("etc-"), name
    rng = random.Random(SEED)
    outcomes: Counter[str] = Counter()
    start = time.monotonic()
    for _number in range(CASES):
        name = rng.choice(sorted(examples))
        mutate = _text_mutation if rng.random() < 0.7 else _data_mutation
        text = mutate(rng, examples[name])
        began = time.monotonic()
        outcomes[_check_one(text, name, base)] += 1
        assert time.monotonic() - began < HANG_S, text[:300]
    ran = sum(outcomes.values())
    print(f"config fuzz: {ran} cases in {time.monotonic() - start:.1f} s, {dict(outcomes)}")
    assert not Path(MARKER).exists(), "a YAML tag ran code"
    assert ran == CASES and outcomes["refused"] > ran // 3 and outcomes["loaded"] > ran // 20, outcomes


@pytest.mark.parametrize("junk", [b"\xff\xfe\x00binary", b"a: 1\n\x00\x01\x02: 3\n", b"\x80" * 100])
def test_binary_files_are_one_line_errors(tmp_path: Path, junk: bytes) -> None:
    path = tmp_path / "junk.yaml"
    path.write_bytes(junk)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: ") and "\n" not in str(caught.value)
