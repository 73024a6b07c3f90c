"""`glidein token keygen FILE` and `glidein token create`: the pool key and the tokens it signs."""

from __future__ import annotations

import argparse
import os
import socket
from pathlib import Path

from glidein.cli.common import Subparsers, add_command
from glidein.common import tokens


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser("token", help="pool key and startd tokens")
    group = parser.add_subparsers(dest="token_command", metavar="SUBCOMMAND", required=True)
    keygen = add_command(group, "keygen", _keygen, "write a new pool key (32 random bytes, hex, mode 0600)")
    keygen.add_argument("file", help="where to write the key; an existing file is never overwritten")
    create = add_command(group, "create", _create, "mint a signed, scoped, expiring token from the pool key")
    create.add_argument("--key", required=True, help="pool key file")
    create.add_argument("--subject", required=True, help="who the token is for (e.g. a pilot name)")
    create.add_argument("--scope", action="append", default=None, help="scope (repeatable; default startd)")
    create.add_argument("--lifetime", type=int, default=3600, help="seconds (default 3600)")
    create.add_argument("--issuer", default=socket.gethostname(), help="issuer claim (default: host name)")
    create.add_argument("--output", "-o", help="write the token to this file (0600) instead of stdout")


def _keygen(args: argparse.Namespace) -> int:
    tokens.generate_key(args.file)
    print(f"pool key written to {args.file}")
    return 0


def _create(args: argparse.Namespace) -> int:
    key = tokens.load_key(args.key)
    token = tokens.mint(key, args.subject, args.scope or ["startd"], args.lifetime, args.issuer)
    if args.output:
        path = Path(args.output)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(token + "\n")
    else:
        print(token)
    return 0
