"""Generate docs/CONFIG.md from the schemas: the field descriptions are the one place defaults live.

python -m glidein.common.config.docs            # rewrite docs/CONFIG.md
python -m glidein.common.config.docs --check    # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import sys
import types
import typing
from pathlib import Path
from typing import Any

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from glidein.common.config import xml_extras, xml_frontend, xml_grid, xml_import, xml_match_expr
from glidein.common.config.factory import FactoryConfig
from glidein.common.config.frontend import FrontendConfig

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "CONFIG.md"

_HEADER = """\
# Configuration reference

Generated from the schemas in `common/config/` by `python -m glidein.common.config.docs`;
do not edit by hand (a test fails when this file is out of date).

Both files are YAML. Unknown keys are errors; every error names the file, the path and the
line (`factory.yaml: entries[3].limits.max_idle: must be >= 0, got -1 (line 41)`). Relative
paths are resolved against the directory of the config file. Check a file with
`glidein config check FILE`; print the JSON schema with `glidein config schema factory|frontend`;
convert a glideinWMS factory or frontend XML with `glidein config import-xml FILE -o OUT.yaml`.
Examples: `etc/factory.yaml`, `etc/frontend.yaml`.
"""


def render() -> str:
    parts = [_HEADER]
    for title, root in (
        ("Factory (`factory.yaml`)", FactoryConfig),
        ("Frontend (`frontend.yaml`)", FrontendConfig),
    ):
        parts.append(f"\n## {title}\n")
        for path, model in _models(root):
            parts.append(_section(path, model))
    parts.append(_xml_section())
    parts.append(_frontend_xml_section())
    return "\n".join(parts)


def _xml_section() -> str:
    """Migrating a factory: the mapping of `glidein config import-xml`, from its modules' docstrings."""

    def body(module: types.ModuleType) -> str:
        return "\n".join((module.__doc__ or "").strip().splitlines()[2:]).strip()

    return (
        "\n## Migrating a glideinWMS factory (`glidein config import-xml glideinWMS.xml`)\n\n"
        f"{body(xml_import)}\n\n### Grid types, `rsl` and `submit_attrs`\n\n{body(xml_grid)}\n\n"
        f"### Pilot settings, comments and records kept\n\n{body(xml_extras)}\n"
    )


def _frontend_xml_section() -> str:
    """Migrating a frontend: the mapping and the match_expr translation, from their modules' docstrings."""

    def body(module: types.ModuleType) -> str:
        return "\n".join((module.__doc__ or "").strip().splitlines()[2:]).strip()

    return (
        "\n## Migrating a glideinWMS frontend (`glidein config import-xml frontend.xml`)\n\n"
        "The import is told a frontend config by its root element `<frontend>`. "
        f"{body(xml_frontend)}\n\n### `match_expr`: Python to ClassAd\n\n{body(xml_match_expr)}\n"
    )


def _models(root: type[BaseModel]) -> list[tuple[str, type[BaseModel]]]:
    """Every model reachable from `root`, breadth first, with the first path it appears at."""
    found: list[tuple[str, type[BaseModel]]] = [("(top level)", root)]
    seen = {root}
    index = 0
    while index < len(found):
        path, model = found[index]
        index += 1
        for name, field in model.model_fields.items():
            for child, suffix in _child_models(field.annotation):
                if child not in seen:
                    seen.add(child)
                    prefix = "" if path == "(top level)" else f"{path}."
                    found.append((f"{prefix}{name}{suffix}", child))
    return found


def _child_models(annotation: Any, suffix: str = "") -> list[tuple[type[BaseModel], str]]:
    annotation = _strip(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(annotation, suffix)]
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is list:
        return _child_models(args[0], suffix + "[]")
    if origin is dict:
        return _child_models(args[1], suffix + ".<name>")
    if origin in (typing.Union, types.UnionType):
        tagged = [m for m in args if m is not type(None)]
        result: list[tuple[type[BaseModel], str]] = []
        for member in tagged:
            member_type = _strip(member)
            tag = _type_tag(member_type) if len(tagged) > 1 else None
            result += _child_models(member, suffix + (f" (type: {tag})" if tag else ""))
        return result
    return []


def _type_tag(model: Any) -> str | None:
    if isinstance(model, type) and issubclass(model, BaseModel) and "type" in model.model_fields:
        return str(model.model_fields["type"].default)
    return None


def _strip(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _section(path: str, model: type[BaseModel]) -> str:
    doc = (model.__doc__ or "").strip().splitlines()[0]
    lines = [f"### `{path}` ({model.__name__})\n", f"{doc}\n", "| key | type | default | description |"]
    lines.append("|---|---|---|---|")
    for name, field in model.model_fields.items():
        description = (field.description or "").replace("|", "\\|")
        lines.append(f"| `{name}` | {_type_name(field)} | {_default(field)} | {description} |")
    return "\n".join(lines) + "\n"


def _type_name(field: FieldInfo) -> str:
    text = _annotation_name(field.annotation)
    bounds = [_bound(meta) for meta in field.metadata]
    text += "".join(f" {b}" for b in bounds if b)
    return text.replace("|", "\\|")


def _bound(meta: object) -> str:
    for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"), ("min_length", "min items")):
        value = getattr(meta, attr, None)
        if value is not None and isinstance(meta, annotated_types.BaseMetadata):
            return f"{sign} {value}"
    return ""


def _annotation_name(annotation: Any) -> str:  # noqa: PLR0911 - one return per kind of type
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        names = [_VALIDATED.get(getattr(getattr(m, "func", None), "__name__", ""), "") for m in args[1:]]
        base = next((name for name in names if name), _annotation_name(args[0]))
        extra = [_bound(meta) for meta in args[1:]]
        return base + "".join(f" {b}" for b in extra if b)
    if origin is typing.Literal:
        return " or ".join(repr(a) for a in args)
    if origin is list:
        return f"list of {_annotation_name(args[0])}"
    if origin is dict:
        return f"map {_annotation_name(args[0])} -> {_annotation_name(args[1])}"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_annotation_name(a) for a in args if a is not type(None)) + (
            " or null" if type(None) in args else ""
        )
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation)


_VALIDATED = {
    "_check_name": "name",
    "_check_simple_name": "name (no '.')",
    "_check_attr": "attribute name",
    "_check_hostport": "host:port",
    "_check_url": "URL",
    "check_expr": "ClassAd expression",
    "_check_pubkey": "base64 public key",
    "_resolve_path": "path",
}


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
        if isinstance(value, BaseModel):
            return "(see its section)" if _is_plain_default(value) else f"`{value.model_dump()}`"
        return f"`{value!r}`"
    if field.default is PydanticUndefined:
        return "**required**"
    return f"`{field.default!r}`" if field.default is not None else "null"


def _is_plain_default(value: BaseModel) -> bool:
    try:
        return type(value)() == value
    except ValueError:  # the model has required fields: its default here is specific
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is out of date")
    parser.add_argument("--output", type=Path, default=DOC_PATH)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run python -m glidein.common.config.docs", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
