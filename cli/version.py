"""`glidein version`: the versions an operator reports with a bug (glidein, Python, HTCondor bindings)."""

from __future__ import annotations

import argparse
import platform

from glidein import __version__
from glidein.cli.common import Subparsers, add_command


def register(subparsers: Subparsers) -> None:
    add_command(subparsers, "version", _run, "print glidein, Python and HTCondor binding versions")


def _run(args: argparse.Namespace) -> int:
    import htcondor2

    print(f"glidein {__version__}")
    print(f"python {platform.python_version()}")
    print(f"htcondor {htcondor2.version()}")
    return 0
