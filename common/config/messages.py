"""Turn pydantic validation errors into operator lines: `file: entries[3].limits.max_idle: must be >= 0`.

Pydantic locations carry union members (`submitter.local.slots`, `value.int`) and dict-key markers
that are not keys of the YAML; `clean_loc` walks the input data and keeps only the real keys.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from glidein.common.config.base import Loc

_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")

_TYPE_WORDS = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "datetime_type": "an ISO 8601 date-time",
    "datetime_parsing": "an ISO 8601 date-time",
    "datetime_from_date_parsing": "an ISO 8601 date-time",
    "path_type": "a path",
}


def format_path(loc: Loc) -> str:
    """`("entries", 3, "limits", "max_idle")` -> `entries[3].limits.max_idle`."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            text += f".{part}" if text else part
        else:
            text += f"[{part!r}]"
    return text or "(top level)"


def clean_loc(loc: Sequence[str | int], data: object) -> Loc:
    """Drop location parts that are not keys or indexes of the input (union members, `[key]`)."""
    kept: list[str | int] = []
    node = data
    for index, part in enumerate(loc):
        in_map = isinstance(node, Mapping) and part in node
        if in_map or (isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)):
            node = node[part]  # type: ignore[index]
        elif not (isinstance(node, Mapping) and index == len(loc) - 1 and part != "[key]"):
            continue  # union member or key marker: not part of the YAML path
        # a key or index of the data, or the missing/unknown key itself (a YAML `1:` key as text)
        kept.append(str(part) if in_map and not isinstance(part, str) else part)
    return tuple(kept)


def message(error: ErrorDetails, allowed: set[str] | None) -> str:  # noqa: PLR0911 - one per kind
    """One short message for one pydantic error."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    got = error.get("input")
    if kind == "missing":
        return "required key missing"
    if kind == "invalid_key":
        return "keys must be text"
    if kind == "extra_forbidden":
        return _unknown_key(str(error["loc"][-1]), allowed)
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        sign = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}
        bound = next(iter(ctx.values()), "?")
        return f"must be {sign[kind]} {bound}, got {got!r}"
    if kind in ("literal_error", "enum"):
        return f"must be {ctx.get('expected', '?')}, got {got!r}"
    if kind == "union_tag_invalid":
        expected = ctx.get("expected_tags")
        return f"unknown {ctx.get('discriminator', 'type')} {ctx.get('tag')!r}: expected {expected}"
    if kind == "union_tag_not_found":
        return f"required key {ctx.get('discriminator', 'type')!r} missing"
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length')} item(s)"
    if kind == "too_long":
        return f"takes at most {ctx.get('max_length')} item(s)"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind in _TYPE_WORDS:
        return f"must be {_TYPE_WORDS[kind]}, got {_describe(got)}"
    return str(error["msg"]).replace("Input should be", "must be")


def _describe(value: object) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _unknown_key(key: str, allowed: set[str] | None) -> str:
    if not allowed:
        return "unknown key"
    close = difflib.get_close_matches(key, sorted(allowed), n=1, cutoff=0.6)
    if close:
        return f"unknown key (did you mean {close[0]!r}?)"
    return "unknown key (allowed: " + ", ".join(sorted(allowed)) + ")"


def validation_problems(model: type[BaseModel], exc: ValidationError, data: object) -> list[tuple[Loc, str]]:
    """(path, message) per error; several errors on one path (union members) become one."""
    by_loc: dict[Loc, list[str]] = {}
    for error in exc.errors(include_url=False):
        loc = clean_loc(error["loc"], data)
        if error["type"] == "union_tag_invalid":
            loc = (*loc, str((error.get("ctx") or {}).get("discriminator", "type")).strip("'"))
        allowed = fields_at(model, loc[:-1], data) if error["type"] == "extra_forbidden" else None
        text = message(error, allowed)
        if text not in by_loc.setdefault(loc, []):
            by_loc[loc].append(text)
    problems: list[tuple[Loc, str]] = []
    for loc, texts in by_loc.items():
        problems.append((loc, texts[0] if len(texts) == 1 else "has the wrong type: " + "; or ".join(texts)))
    return problems


def fields_at(model: type[BaseModel], loc: Loc, data: object) -> set[str] | None:
    """The keys allowed in the mapping at `loc` (for "did you mean"), or None when unknown."""
    annotation: Any = model
    node = data
    for part in loc:
        annotation = _unwrap(annotation, node)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            if field is None:
                return None
            annotation = field.annotation
        elif typing.get_origin(annotation) in (list, dict):
            annotation = typing.get_args(annotation)[-1]
        else:
            return None
        node = node[part] if isinstance(node, Mapping | list) else None  # type: ignore[index]
    annotation = _unwrap(annotation, node)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return set(annotation.model_fields)
    return None


def _unwrap(annotation: Any, node: object) -> Any:
    """Strip Annotated/Optional; pick the union member whose `type` literal matches the data."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [m for m in typing.get_args(annotation) if m is not type(None)]
        models = [_unwrap(m, node) for m in members]
        tag = node.get("type") if isinstance(node, Mapping) else None
        for member in models:
            if isinstance(member, type) and issubclass(member, BaseModel):
                field = member.model_fields.get("type")
                if len(models) == 1 or (field is not None and field.default == tag):
                    return member
        return models[0] if len(models) == 1 else annotation
    return annotation
