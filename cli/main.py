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

# name -> ("module:function", help). The function adds the command's parser (and sets `handler`,
# see cli/common.py); only the module of the command being run is imported, so every command starts fast.
COMMANDS: dict[str, tuple[str, str]] = {
    "version": ("glidein.cli.version:register", "print glidein, Python and HTCondor binding versions"),
    "config": ("glidein.cli.config:register", "check, describe and convert configuration files"),
    "collector": ("glidein.cli.collector:register", "run the embedded collector (the ClassAd bus)"),
    "status": ("glidein.cli.status:register", "show ads on a collector (like condor_status)"),
    "advertise": ("glidein.cli.status:register", "send ads to a collector (condor_advertise)"),
    "token": ("glidein.cli.token:register", "pool key and startd tokens"),
    "schedd": ("glidein.cli.schedd:register", "run the embedded schedd (job queue and HTTP API)"),
    "submit": ("glidein.cli.jobs:register_submit", "submit jobs from an HTCondor submit description"),
    "q": ("glidein.cli.jobs_q:register_q", "list the jobs in the queue (like condor_q)"),
    "rm": ("glidein.cli.jobs:register_rm", "remove jobs (like condor_rm)"),
    "hold": ("glidein.cli.jobs:register_hold", "hold jobs (like condor_hold)"),
    "release": ("glidein.cli.jobs:register_release", "release held jobs (like condor_release)"),
    "factory": (
        "glidein.cli.factory:register",
        "the glidein factory: daemon, status, downtimes, staging, web",
    ),
    "frontend": ("glidein.cli.frontend:register", "the frontend: requests pilots for waiting jobs"),
    "monitor": ("glidein.cli.monitor:register", "monitoring: web pages, graphs"),
    "closeness": (
        "glidein.cli.closeness:register",
        "network closeness: submit lines for a job's data, bandwidth matrix check",
    ),
    "demo": ("glidein.cli.demo:register", "run collectors, schedd, factory, frontend and N jobs"),
}


def _chosen_command(argv: Sequence[str]) -> str | None:
    """The command named on the command line (the first word that is not a top-level option)."""
    for word in argv:
        if not word.startswith("-"):
            return word
    return None


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The full parser of the command in `argv`; the other commands appear by name and help only."""
    parser = argparse.ArgumentParser(prog="glidein", description="Pilot-based workload management.")
    parser.add_argument("--version", action="version", version=f"glidein {__version__}")
    parser.add_argument("--debug", action="store_true", help="log at DEBUG level, with tracebacks")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = _chosen_command(argv)
    if chosen in COMMANDS:
        module_name, func_name = COMMANDS[chosen][0].split(":")
        register = getattr(importlib.import_module(module_name), func_name)
        register(subparsers)
    for name, (_target, help_text) in COMMANDS.items():
        if name not in subparsers.choices:
            subparsers.add_parser(name, help=help_text, description=help_text)
    return parser


def parse_words(parser: argparse.ArgumentParser, words: list[str]) -> argparse.Namespace:
    """Parse `words`; words a command does not know are reported with that (sub)command's usage."""
    args, extras = parser.parse_known_args(words)
    if extras:
        command_parser(parser, words).error(f"unrecognized arguments: {' '.join(extras)}")
    return args


def command_parser(parser: argparse.ArgumentParser, words: Sequence[str]) -> argparse.ArgumentParser:
    """The innermost (sub)command parser that `words` name, e.g. `factory downtime add`'s."""
    current, rest = parser, list(words)
    while True:
        choices = next(
            (dict(a.choices) for a in current._actions if isinstance(a, argparse._SubParsersAction)), {}
        )
        index = next((i for i, word in enumerate(rest) if word in choices), None)
        if index is None:
            return current
        current, rest = choices[rest[index]], rest[index + 1 :]


def main(argv: Sequence[str] | None = None) -> None:
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(words)
    args = parse_words(parser, words)
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
