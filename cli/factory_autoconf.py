"""`glidein factory autoconf`: regenerate the factory's entries from the information system.

    glidein factory autoconf --config F [--dry-run]

Reads `autoconf.sources` of the factory config F, rewrites `autoconf.entries_file` (one line per
change on stdout) and checks the factory config with the new entries and the operator's overrides.
`--dry-run` prints the unified diff of the entries file and the changes, and writes nothing.
Exit codes: 0 done; 1 a source could not be read (its entries kept); 2 the config has problems.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from glidein.cli.common import Subparsers, add_command
from glidein.common.config import FactoryConfig, load_factory_config
from glidein.common.config.loader import read_yaml, validate
from glidein.common.errors import ConfigError


def register_autoconf(group: Subparsers) -> None:
    parser = add_command(
        group, "autoconf", _autoconf, "write the entries the information system describes (autoconf:)"
    )
    parser.add_argument("--config", type=Path, required=True, help="factory config file (YAML)")
    parser.add_argument("--dry-run", action="store_true", help="show the diff; write nothing")


def _autoconf(args: argparse.Namespace) -> int:
    from glidein.common.condor_auth import use_token_dir
    from glidein.factory.autoconf.refresh import refresh

    data, lines = read_yaml(args.config)  # without the generated entries: they may be what is broken
    cfg = validate(FactoryConfig, data, str(args.config), args.config.resolve().parent, lines)
    if cfg.autoconf is None or not cfg.autoconf.sources:
        raise ConfigError(f"{args.config}: autoconf.sources: no information system configured")
    use_token_dir(cfg.condor_tokens)  # a CE collector may be a secured condor_collector
    result = refresh(cfg.autoconf, write=not args.dry_run)
    if args.dry_run:
        sys.stdout.write(result.diff(str(cfg.autoconf.entries_file)))
    for line in result.changes:
        print(line)
    for line in result.errors:
        print(line, file=sys.stderr)
    verb = "would write" if args.dry_run and result.changed else "wrote" if result.changed else "unchanged:"
    print(f"{verb} {cfg.autoconf.entries_file}: {result.entries} entries, {len(result.changes)} changes")
    if not args.dry_run:
        full = load_factory_config(args.config)  # ConfigProblems (exit 2) name the file and line
        print(f"{args.config}: ok (factory, {len(full.all_entries())} entries)")
    return 1 if result.errors else 0
