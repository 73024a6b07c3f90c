"""`glidein config check|schema|import-xml`: validate configs, print their JSON schema, convert XML.

Exit codes: 0 ok; 2 the config (or the converted XML) has problems, one line each on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from glidein.cli.common import Subparsers, add_command
from glidein.common.config import FactoryConfig, FrontendConfig
from glidein.common.config.loader import MODELS, ConfigProblems, load_config, parse_yaml, validate
from glidein.common.config.messages import format_path
from glidein.common.config.xml_frontend import FrontendImport, FrontendImportRefused, import_frontend_xml
from glidein.common.config.xml_import import (
    ImportResult,
    config_d_files,
    import_fragments,
    import_xml,
    xml_kind,
)
from glidein.common.errors import ConfigError


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser("config", help="check, describe and convert configuration files")
    group = parser.add_subparsers(dest="config_command", metavar="SUBCOMMAND", required=True)

    check = add_command(group, "check", _check, "validate a factory or frontend YAML config")
    check.add_argument("files", type=Path, nargs="+", metavar="FILE", help="config file(s) (YAML)")
    check.add_argument("--kind", choices=sorted(MODELS), help="default: told from the top-level keys")

    schema = add_command(group, "schema", _schema, "print the JSON schema of a config kind")
    schema.add_argument("kind", choices=sorted(MODELS))

    convert = add_command(
        group, "import-xml", _import_xml, "convert a glideinWMS factory or frontend XML config to YAML"
    )
    convert.add_argument(
        "file",
        type=Path,
        help="glideinWMS factory config (glideinWMS.xml, with config.d/ beside it), a directory of"
        " config.d files without their main file, or a frontend config (frontend.xml)",
    )
    convert.add_argument("-o", "--output", type=Path, help="write the YAML here (default: stdout)")
    convert.add_argument(
        "--no-config-d", action="store_true", help="ignore the config.d/*.xml entry files beside FILE"
    )


def _print_problems(exc: ConfigError) -> int:
    lines = exc.lines if isinstance(exc, ConfigProblems) else str(exc).splitlines()
    for line in lines:
        print(line, file=sys.stderr)
    return 2


def _check(args: argparse.Namespace) -> int:
    code = 0
    for path in args.files:
        try:
            config = load_config(path, args.kind)
        except ConfigError as exc:
            code = _print_problems(exc)
            continue
        print(f"{path}: ok ({_summary(config)})")
        for loc, text in config.warnings() if isinstance(config, FactoryConfig) else []:
            print(f"{path}: warning: {format_path(loc)}: {text}", file=sys.stderr)
    return code


def _summary(config: FactoryConfig | FrontendConfig) -> str:
    if isinstance(config, FactoryConfig):
        return f"factory, {config.entry_count()} entries"
    return f"frontend, {len(config.groups)} groups"


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(MODELS[args.kind].model_json_schema(), indent=2))
    return 0


def _read(paths: list[Path]) -> list[tuple[bytes, str]]:
    contents = []
    for path in paths:
        try:
            contents.append((path.read_bytes(), str(path)))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return contents


def _import_xml(args: argparse.Namespace) -> int:
    """A directory is config.d files alone; a file is told factory or frontend by its root element."""
    if args.file.is_dir():
        result = import_fragments(_read(sorted(args.file.glob("*.xml"))))
    else:
        contents = _read([args.file, *([] if args.no_config_d else config_d_files(args.file))])
        if xml_kind(*contents[0]) == "frontend":
            try:
                return _write_import(import_frontend_xml(*contents[0]), args.output)
            except FrontendImportRefused as exc:  # a match_expr that does not translate: one line each
                return _print_problems(exc)
        result = import_xml(contents[0][0], contents[0][1], contents[1:])
    return _write_import(result, args.output)


def _write_import(result: ImportResult | FrontendImport, output: Path | None) -> int:
    for line in result.unmapped_summary:
        print(f"not mapped: {line}", file=sys.stderr)
    for line in result.dropped:
        print(f"dropped or changed: {line}", file=sys.stderr)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    text = result.to_yaml()
    target = str(output) if output else "<stdout>"
    if output:
        output.write_text(text)
    else:
        sys.stdout.write(text)
    base = (output or Path("factory.yaml")).resolve().parent
    model = FrontendConfig if isinstance(result, FrontendImport) else FactoryConfig
    try:  # the data as written (yaml_out round-trips it); on problems, read the text for their lines
        validate(model, result.data, target, base, {})
    except ConfigError:
        try:
            data, lines = parse_yaml(text, target)
            validate(model, data, target, base, lines)
        except ConfigError as exc:
            return _print_problems(exc)
    if isinstance(result, FrontendImport):
        print(f"{target}: ok (frontend, {len(result.data['groups'])} groups)", file=sys.stderr)
    else:
        print(f"{target}: ok (factory, {_count_entries(result.data)} entries)", file=sys.stderr)
    return 0


def _count_entries(data: dict[str, object]) -> int:
    entries = data.get("entries")
    sets = data.get("entry_sets")
    count = len(entries) if isinstance(entries, list) else 0
    for entry_set in sets if isinstance(sets, list) else []:
        count += len(entry_set.get("entries", [])) if isinstance(entry_set, dict) else 0
    return count
