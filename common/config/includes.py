"""Generated entries included in the factory config (`autoconf.entries_file`), overrides merged over.

The generated file holds what the information system says (`entries:` list, rewritten by
`glidein factory autoconf`); `autoconf.defaults` go under each entry and the operator's
`autoconf.overrides_file` (entry name -> fields) over it. Every problem names the file it comes
from: a key set by an override is reported against the overrides file, with its line.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from glidein.common.config.autoconf import Autoconf
from glidein.common.config.base import Loc, Problem
from glidein.common.config.entry import Entry
from glidein.common.config.factory import FactoryConfig
from glidein.common.config.messages import validation_problems


class EntriesDoc(BaseModel):
    """The generated entries file."""

    entries: list[Entry] = Field(default_factory=list)


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`over` merged into `base`: mappings recursively, anything else replaced. A mapping with a
    different `type` (another submitter backend) replaces the base one whole."""
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping) and old.get("type") == value.get("type"):
            out[key] = merge(old, value)
        else:
            out[key] = value
    return out


def with_generated(config: FactoryConfig, source: str) -> FactoryConfig:
    """`config` with the generated entries (overrides merged) appended to its `entries`."""
    from glidein.common.config.loader import ConfigProblems

    auto = config.autoconf
    if auto is None:
        return config
    generated, lines = load_generated(auto)
    if lines:
        raise ConfigProblems(lines)
    own = {entry.name for entry in config.all_entries()}
    dups = [
        f"{auto.entries_file}: entries[{i}].name: entry {e.name!r} is also in {source}"
        for i, e in enumerate(generated)
        if e.name in own
    ]
    if dups:
        raise ConfigProblems(dups)
    return config.model_copy(update={"entries": [*config.entries, *generated]})


def load_generated(auto: Autoconf) -> tuple[list[Entry], list[str]]:
    """The generated entries with defaults and overrides merged, or the problem lines."""
    raw, raw_lines, problems = _read_doc(auto.entries_file, "entries")
    overrides, over_lines, more = _read_doc(auto.overrides_file, None)
    problems += more
    if problems:
        return [], problems
    items = raw.get("entries") or []
    if not isinstance(items, list) or not all(isinstance(item, Mapping) for item in items):
        return [], [f"{auto.entries_file}: entries: must be a list of entries"]
    names = [str(item.get("name")) for item in items]
    for name, value in overrides.items():
        if name not in names or not isinstance(value, Mapping):
            why = "not a mapping of entry fields" if name in names else "names no generated entry"
            problems.append(_line(auto.overrides_file, (name,), why, over_lines))
    if problems:
        return [], problems
    merged = [
        merge(merge(auto.defaults, item), overrides.get(name, {}))
        for item, name in zip(items, names, strict=True)
    ]
    base_dir = Path(auto.entries_file).resolve().parent
    try:
        doc = EntriesDoc.model_validate({"entries": merged}, context={"base_dir": base_dir})
    except ValidationError as exc:
        for loc, text in validation_problems(EntriesDoc, exc, {"entries": merged}):
            problems.append(_where(auto, (loc, text), names, overrides, (raw_lines, over_lines)))
        return [], problems
    return doc.entries, []


def _where(
    auto: Autoconf,
    problem: Problem,
    names: list[str],
    overrides: Mapping[str, Any],
    lines: tuple[dict[Loc, int], dict[Loc, int]],
) -> str:
    loc, text = problem
    if len(loc) > 2 and isinstance(loc[1], int):  # entries[i].<key...>: set by an override?
        name, node, found = names[loc[1]], overrides.get(names[loc[1]]), 0
        for part in loc[2:]:
            if not isinstance(node, Mapping) or part not in node:
                break
            node, found = node[part], found + 1
        if found:
            return _line(auto.overrides_file, (name, *loc[2:]), text, lines[1])
    return _line(auto.entries_file, loc, text, lines[0])


def _line(path: Path | None, loc: Loc, text: str, lines: dict[Loc, int]) -> str:
    from glidein.common.config.loader import format_problem

    return format_problem(str(path), (loc, text), lines)


def _read_doc(path: Path | None, key: str | None) -> tuple[dict[str, Any], dict[Loc, int], list[str]]:
    """A YAML mapping (empty when the file does not exist yet), its lines, or a problem line."""
    from glidein.common.config.loader import ConfigProblems, read_yaml

    if path is None or not Path(path).exists():
        return {}, {}, []
    try:
        data, lines = read_yaml(path)
    except ConfigProblems as exc:
        return {}, {}, exc.lines
    if not isinstance(data, Mapping) or (key is not None and set(data) - {key}):
        shape = f"a mapping with `{key}:`" if key else "a mapping of entry name -> entry fields"
        return {}, {}, [f"{path}: must be {shape}"]
    return {str(k): v for k, v in data.items()}, lines, []
