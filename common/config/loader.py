"""Read a YAML config into a typed object, or raise ConfigError listing every problem, one per line.

Each line is `FILE: PATH: MESSAGE (line N)`, e.g.
`factory.yaml: entries[3].limits.max_idle: must be >= 0, got -1 (line 41)`.
Values come from PyYAML's safe loader (libyaml's when built in, as `yaml.safe_load` would build
them); line numbers from the node tree it composes first, which also reveals duplicate keys that
safe_load would silently collapse. Aliases are allowed, but a document whose aliases, once
expanded, add more than MAX_NODES values, or one per character of a longer text ("billion
laughs"), that nests deeper than MAX_DEPTH or contains a recursive alias is refused with one line
before anything is built. Values written out in the text are not counted: its size bounds them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from glidein.common.config.base import Loc, Problem
from glidein.common.config.factory import FactoryConfig
from glidein.common.config.frontend import FrontendConfig
from glidein.common.config.messages import format_path, validation_problems
from glidein.common.config.yaml_tree import Tree, TreeRefused, Unusual, fast_loader
from glidein.common.errors import ConfigError

Kind = Literal["factory", "frontend"]
MODELS: dict[Kind, type[FactoryConfig] | type[FrontendConfig]] = {
    "factory": FactoryConfig,
    "frontend": FrontendConfig,
}
# Top-level keys only one of the two kinds has.
_FACTORY_KEYS = {"entries", "entry_sets", "staging", "glidein_name", "frontends"}
_FRONTEND_KEYS = {"groups", "schedds", "credentials", "discover_schedds"}

M = TypeVar("M", bound=BaseModel)
MAX_NODES = 100_000  # YAML values alias expansion may add (or one per character of a longer text)
MAX_DEPTH = 64  # nesting of mappings and sequences


_SafeLoader: type[yaml.SafeLoader] = fast_loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader))


class ConfigProblems(ConfigError):
    """A config with one or more problems; `lines` holds one operator line per problem."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def load_factory_config(path: str | Path) -> FactoryConfig:
    from glidein.common.config.includes import with_generated

    data, lines = read_yaml(path)
    config = validate(FactoryConfig, data, str(path), Path(path).resolve().parent, lines)
    return with_generated(config, str(path))


def load_frontend_config(path: str | Path) -> FrontendConfig:
    data, lines = read_yaml(path)
    return validate(FrontendConfig, data, str(path), Path(path).resolve().parent, lines)


def load_config(path: str | Path, kind: Kind | None = None) -> FactoryConfig | FrontendConfig:
    """Load either kind; without `kind` it is told from the top-level keys."""
    data, lines = read_yaml(path)
    kind = kind or detect_kind(data, str(path))
    config = validate(MODELS[kind], data, str(path), Path(path).resolve().parent, lines)
    if isinstance(config, FactoryConfig):
        from glidein.common.config.includes import with_generated

        return with_generated(config, str(path))
    return config


def detect_kind(data: object, source: str) -> Kind:
    keys = set(data) if isinstance(data, Mapping) else set()
    if keys & _FACTORY_KEYS and not keys & _FRONTEND_KEYS:
        return "factory"
    if keys & _FRONTEND_KEYS and not keys & _FACTORY_KEYS:
        return "frontend"
    hint = "top-level `entries`/`staging` or `groups`; use --kind"
    raise ConfigProblems([f"{source}: cannot tell factory from frontend config ({hint})"])


def read_yaml(path: str | Path) -> tuple[object, dict[Loc, int]]:
    """The YAML data and a map from key paths to 1-based line numbers."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigProblems([f"{source}: cannot read: {exc}"]) from None
    return parse_yaml(text, source)


def parse_yaml(text: str, source: str) -> tuple[object, dict[Loc, int]]:
    loader = _SafeLoader(text)
    try:  # compose once (node marks give the lines), then build the same data safe_load would
        node = loader.get_single_node()
        limit = max(MAX_NODES, len(text))  # aliases add at most a value per character of the text
        data, lines, duplicates = _build(loader, node, source, limit) if node is not None else (None, {}, [])
    except yaml.YAMLError as exc:
        raise ConfigProblems([f"{source}: {_yaml_error(exc)}"]) from None
    except RecursionError:  # pure-Python composer on deep nesting (libyaml refuses it itself)
        raise ConfigProblems([f"{source}: invalid YAML: nested too deep"]) from None
    finally:
        loader.dispose()
    if duplicates:
        raise ConfigProblems([f"{source}: {text}" for text in duplicates])
    return ({} if data is None else data), lines


def _build(
    loader: yaml.SafeLoader, node: yaml.Node, source: str, limit: int
) -> tuple[object, dict[Loc, int], list[str]]:
    """One walk (yaml_tree.Tree); a document it does not build itself goes the long way."""
    tree = Tree(loader.construct_object, limit, MAX_DEPTH)
    try:
        data = tree.build(node, ())
    except TreeRefused as exc:
        raise ConfigProblems([f"{source}: {exc}"]) from None
    except Unusual:
        _check_tree(node, source, set(), set(), [0, limit])
        data = loader.construct_document(node)
        lines: dict[Loc, int] = {}
        duplicates: list[str] = []
        _index(node, (), lines, duplicates)
        return data, lines, duplicates
    return data, tree.lines, tree.duplicates


def _check_tree(node: yaml.Node, source: str, path: set[int], seen: set[int], count: list[int]) -> None:
    """ConfigProblems for a recursive alias, nesting beyond MAX_DEPTH, or aliases that add more
    than MAX_NODES values once expanded (a "billion laughs" document), before anything is built.
    A node met again is an alias's copy: only those are counted."""
    line = node.start_mark.line + 1
    if id(node) in path:
        raise ConfigProblems([f"{source}: recursive alias: the anchor at line {line} contains itself"])
    if id(node) in seen:
        count[0] += 1
    seen.add(id(node))
    if count[0] > count[1]:
        raise ConfigProblems(
            [f"{source}: more than {count[1]} values once aliases are expanded (line {line})"]
        )
    if len(path) >= MAX_DEPTH:
        raise ConfigProblems([f"{source}: nested deeper than {MAX_DEPTH} levels (line {line})"])
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
        path.add(id(node))
        for child in node.value:
            for item in child if isinstance(child, tuple) else (child,):
                _check_tree(item, source, path, seen, count)
        path.discard(id(node))


def _yaml_error(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return f"invalid YAML: {problem}{where}"


def _index(node: yaml.Node, loc: Loc, lines: dict[Loc, int], duplicates: list[str]) -> None:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[object] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                line = key_node.start_mark.line + 1
                duplicates.append(f"{format_path((*loc, key))}: duplicate key (line {line})")
            seen.add(key)
            _index(value_node, (*loc, key), lines, duplicates)
            lines[(*loc, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index(item, (*loc, index), lines, duplicates)


def validate(model: type[M], data: object, source: str, base_dir: Path, lines: dict[Loc, int]) -> M:
    """Validate `data` into `model`; ConfigProblems with every problem (field and cross-field)."""
    try:
        config = model.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        problems = validation_problems(model, exc, data)
    else:
        checker = getattr(config, "problems", None)
        problems = checker() if checker is not None else []
        if not problems:
            return config
    raise ConfigProblems([format_problem(source, problem, lines) for problem in problems])


def format_problem(source: str, problem: Problem, lines: dict[Loc, int]) -> str:
    loc, text = problem
    line = _line_of(loc, lines)
    suffix = f" (line {line})" if line is not None else ""
    return f"{source}: {format_path(loc)}: {text}{suffix}"


def _line_of(loc: Loc, lines: dict[Loc, int]) -> int | None:
    for end in range(len(loc), 0, -1):
        line = lines.get(tuple(loc[:end]))
        if line is not None:
            return line
    return None
