"""`glidein submit`, `rm`, `hold`, `release`: condor_submit/condor_rm/condor_hold/condor_release
for the embedded schedd (`glidein q` is in cli/jobs_q.py).

The schedd is found from `-schedd URL`, $GLIDEIN_SCHEDD, or `<state dir>/schedd.address`
with the state dir from `-state-dir`, $GLIDEIN_SCHEDD_DIR, or ~/.glidein/schedd
(see pool/schedd/client.py). Submit, rm, hold and release also read `<state dir>/local.secret`.
`glidein submit -dry-run FILE job.sub` parses here, queues nothing and writes the job ads to FILE
(`-`: standard output) as condor_submit does; `glidein submit -` reads the description from stdin.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from glidein.cli.common import Subparsers, add_command
from glidein.cli.jobs_q import register_q, schedd_options
from glidein.common.errors import GlideinError
from glidein.pool.schedd.client import ScheddClient

__all__ = ["register_hold", "register_q", "register_release", "register_rm", "register_submit"]


def register_submit(subparsers: Subparsers) -> None:
    parser = add_command(subparsers, "submit", _submit, "submit jobs from an HTCondor submit description")
    parser.add_argument("file", help="submit description file ('-': standard input)")
    parser.add_argument(
        "-dry-run", "--dry-run", dest="dry_run", metavar="FILE", help="ads to FILE (- stdout)"
    )
    schedd_options(parser)


def _ids_options(parser: argparse.ArgumentParser, verb: str) -> None:
    parser.add_argument("ids", nargs="*", metavar="ID", help="CLUSTER or CLUSTER.PROC")
    parser.add_argument("-constraint", "--constraint", help=f"{verb} the jobs this expression selects")
    schedd_options(parser)


def register_rm(subparsers: Subparsers) -> None:
    _ids_options(add_command(subparsers, "rm", _rm, "remove jobs (like condor_rm)"), "remove")


def register_hold(subparsers: Subparsers) -> None:
    parser = add_command(subparsers, "hold", _hold, "hold jobs (like condor_hold)")
    _ids_options(parser, "hold")
    parser.add_argument("-reason", "--reason", help="HoldReason (default: via glidein hold (by user U))")


def register_release(subparsers: Subparsers) -> None:
    parser = add_command(subparsers, "release", _release, "release held jobs (like condor_release)")
    _ids_options(parser, "release")
    parser.add_argument("-reason", "--reason", help="reason written to the job's event log")


def _client(args: argparse.Namespace) -> ScheddClient:
    return ScheddClient.locate(args.schedd, args.state_dir)


def _read(name: str) -> tuple[str, str, str]:
    """(text, file name, directory relative paths resolve against) of the description."""
    if name == "-":
        return sys.stdin.read(), "stdin", os.getcwd()
    path = Path(name)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise GlideinError(f"{path}: cannot read submit file: {exc}") from None
    return text, path.name, str(path.resolve().parent)


def _submit(args: argparse.Namespace) -> int:
    text, filename, iwd = _read(args.file)
    if args.dry_run:
        from glidein.cli.jobs_dry_run import dry_run

        return dry_run(text, filename, iwd, args.dry_run)
    result = _client(args).submit(text, filename, iwd, getpass.getuser())
    warnings = result.get("warnings")
    for warning in warnings if isinstance(warnings, list) else []:
        print(warning, file=sys.stderr)
    print("Submitting job(s).")
    print(f"{result['jobs']} job(s) submitted to cluster {result['cluster']}.")
    return 0


def _act(args: argparse.Namespace, verb: str, done: str) -> int:
    if not args.ids and not args.constraint:
        raise GlideinError("give job ids (CLUSTER or CLUSTER.PROC) or -constraint EXPR")
    reason = getattr(args, "reason", None)
    jobs = _client(args).act(verb, list(args.ids), args.constraint, reason)
    if not jobs:
        print("No matching jobs found.")  # condor_rm/hold/release's words, and exit 1
        return 1
    for job_id in jobs:
        print(f"Job {job_id} {done}")
    return 0


def _rm(args: argparse.Namespace) -> int:
    return _act(args, "remove", "marked for removal")


def _hold(args: argparse.Namespace) -> int:
    return _act(args, "hold", "held")


def _release(args: argparse.Namespace) -> int:
    return _act(args, "release", "released")
