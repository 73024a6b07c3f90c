"""The `glidein` command: an explicit registry of command groups, one module each."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from glidein import __version__
from glidein.cli.common import Handler
from glidein.common.errors import GlideinError
from glidein.common.log import setup_logging

# name -> "module:function"; the function adds the command's parser to the subparsers.
# Each command module's `register(subparsers)` adds its parser and sets `handler` (see cli/common.py).
COMMANDS: dict[str, str] = {
    "monitor": "glidein.cli.monitor:register",
    "version": "glidein.cli.version:register",
    "config": "glidein.cli.config:register",
    "collector": "glidein.cli.collector:register",
    "status": "glidein.cli.status:register",
    "token": "glidein.cli.token:register",
    "schedd": "glidein.cli.schedd:register",
    "submit": "glidein.cli.jobs:register_submit",
    "q": "glidein.cli.jobs:register_q",
    "rm": "glidein.cli.jobs:register_rm",
    "factory": "glidein.cli.factory:register",
    "frontend": "glidein.cli.frontend:register",
    "demo": "glidein.cli.demo:register",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="glidein", description="Pilot-based workload management.")
    parser.add_argument("--version", action="version", version=f"glidein {__version__}")
    parser.add_argument("--debug", action="store_true", help="log at DEBUG level, with tracebacks")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for _name, target in COMMANDS.items():
        module_name, func_name = target.split(":")
        register = getattr(importlib.import_module(module_name), func_name)
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        sys.exit(2)
    setup_logging(f"glidein-{args.command}", debug=args.debug)
    try:
        code = handler(args)
    except GlideinError as exc:
        print(f"glidein {args.command}: error: {exc}", file=sys.stderr)
        logging.getLogger(__name__).debug("traceback", exc_info=exc)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(code)
