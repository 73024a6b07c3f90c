"""Building blocks shared by the factory and frontend schemas.

Every model derives from `StrictModel` (unknown keys are errors). Reusable field types live here so
that both schemas validate addresses, paths, names and ClassAd expressions the same way:

* `ConfigPath`: a path; a relative one is resolved against the directory of the config file
  (the loader passes it as validation context `base_dir`).
* `ClassAdExpr`: a ClassAd expression, parsed at load time with `glidein.common.classads.parse_expr`.
* `check_condor_value`: an HTCondor config value (`$(STARTD_DEBUG) D_SECURITY`), as the pilot
  writes it into its startd's config: one line, macro references closed.
* `HostPort`: `"host:port"`; `Name`: letters, digits, `_`, `-` and `.`; `AttrName`: a ClassAd
  attribute name.

To extend a schema, add a field with a default and a `description` (the description is the one
place defaults are documented; `docs/CONFIG.md` is generated from it).
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo

from glidein.common.classads import parse_expr
from glidein.common.errors import ClassAdError

_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_ATTR_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HOSTPORT_RE = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")
_URL_RE = re.compile(r"^https?://[^\s/]+(/\S*)?$")


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors, defaults are validated too.

    YAML numbers are accepted where text is expected (`+xcount: 8` in submit_attrs).
    """

    model_config = ConfigDict(extra="forbid", validate_default=True, coerce_numbers_to_str=True)


def _check_name(value: str) -> str:
    if not _NAME_RE.match(value):
        raise ValueError(f"invalid name {value!r}: use letters, digits, '_', '-' and '.'")
    return value


def _check_simple_name(value: str) -> str:
    if not _NAME_RE.match(value) or "." in value or "@" in value:
        raise ValueError(f"invalid name {value!r}: use letters, digits, '_' and '-' (no '.')")
    return value


def _check_attr(value: str) -> str:
    if not _ATTR_RE.match(value):
        raise ValueError(f"invalid ClassAd attribute name {value!r}")
    return value


def _check_hostport(value: str) -> str:
    match = _HOSTPORT_RE.match(value)
    if not match or not 0 < int(match.group(2)) < 65536:
        raise ValueError(f"invalid address {value!r}: expected host:port")
    return value


def _check_url(value: str) -> str:
    if not _URL_RE.match(value):
        raise ValueError(f"invalid URL {value!r}: expected http://host[:port]/path or https://...")
    return value


def check_expr(value: str) -> str:
    """Parse a ClassAd expression so that a typo fails at load time, not in the middle of a cycle."""
    if not value.strip():
        raise ValueError("empty ClassAd expression")
    try:
        parse_expr(value)
    except ClassAdError:
        raise ValueError(f"invalid ClassAd expression {value!r}") from None
    return value


_MACRO_RE = re.compile(r"\$(?:[A-Za-z_]+)?\(")
_MACRO_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*(:.*)?$")


def check_condor_value(value: str) -> str:
    """An HTCondor config value the pilot writes as `NAME = value`: one line (a newline or a
    trailing backslash would add or join config lines), every `$(...)`/`$FUNC(...)` closed and
    `$(NAME)`/`$(NAME:default)` naming a config variable."""
    if any(c in value for c in "\n\r\0"):
        raise ValueError("an HTCondor config value must be one line")
    if value.rstrip().endswith("\\"):
        raise ValueError("an HTCondor config value must not end with '\\' (line continuation)")
    for match in _MACRO_RE.finditer(value):
        depth, end = 0, None
        for pos in range(match.end() - 1, len(value)):
            depth += {"(": 1, ")": -1}.get(value[pos], 0)
            if depth == 0:
                end = pos
                break
        if end is None:
            raise ValueError(f"unclosed macro {value[match.start() :][:40]!r}")
        inner = value[match.end() : end]
        if match.group(0) == "$(" and not _MACRO_NAME_RE.match(inner):
            raise ValueError(f"invalid macro $({inner}): expected $(NAME) or $(NAME:default)")
    return value


def _expr_text(value: object) -> object:
    """YAML reads `true`/`3` as bool/int; as a ClassAd expression they mean the same text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _check_pubkey(value: str) -> str:
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not valid base64") from None
    if len(raw) != 32:
        raise ValueError(f"expected a base64 raw 32-byte public key, got {len(raw)} bytes")
    return value.strip()


def _resolve_path(value: Path, info: ValidationInfo) -> Path:
    value = value.expanduser()
    base = (info.context or {}).get("base_dir")
    if not value.is_absolute() and base is not None:
        return Path(base) / value
    return value


Name = Annotated[str, AfterValidator(_check_name)]
SimpleName = Annotated[str, AfterValidator(_check_simple_name)]
AttrName = Annotated[str, AfterValidator(_check_attr)]
HostPort = Annotated[str, AfterValidator(_check_hostport)]
Url = Annotated[str, AfterValidator(_check_url)]
ClassAdExpr = Annotated[str, BeforeValidator(_expr_text), AfterValidator(check_expr)]
PublicKeyB64 = Annotated[str, AfterValidator(_check_pubkey)]
ConfigPath = Annotated[Path, AfterValidator(_resolve_path)]
NonNegInt = Annotated[int, Field(ge=0)]
PosInt = Annotated[int, Field(ge=1)]
Seconds = Annotated[int, Field(ge=0, description="seconds")]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


Loc = tuple[str | int, ...]
Problem = tuple[Loc, str]


def duplicate_names(items: list[Any], loc: Loc, what: str) -> list[Problem]:
    """One problem per item whose `name` repeats an earlier one, at `loc[index].name`."""
    seen: dict[str, int] = {}
    problems: list[Problem] = []
    for index, item in enumerate(items):
        if item.name in seen:
            problems.append(
                (
                    (*loc, index, "name"),
                    f"duplicate {what} name {item.name!r} (first at index {seen[item.name]})",
                )
            )
        else:
            seen[item.name] = index
    return problems
