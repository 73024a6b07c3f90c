"""Shared types and helpers for the command modules."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    Subparsers = argparse._SubParsersAction
Handler = Callable[[argparse.Namespace], int]


def add_command(
    subparsers: Subparsers, name: str, handler: Handler, help_text: str
) -> argparse.ArgumentParser:
    """Add one command parser whose parsed namespace carries its handler."""
    parser: argparse.ArgumentParser = subparsers.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(handler=handler)
    return parser
