"""`glidein factory ...`: the factory command group (owner: factory; `stage` and `web` come from
cli/factory_stage.py via `register_stage`)."""

from __future__ import annotations

from glidein.cli.common import Subparsers
from glidein.cli.factory_stage import register_stage


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser("factory", help="the glidein factory: staging, web, daemon")
    group = parser.add_subparsers(dest="factory_command", metavar="SUBCOMMAND", required=True)
    register_stage(group)
