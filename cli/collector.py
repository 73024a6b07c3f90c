"""`glidein collector`: the embedded collector (HTCondor's CEDAR protocol, no security), own process."""

from __future__ import annotations

import argparse
import asyncio
import signal

from glidein.cli.common import Subparsers, add_command
from glidein.common.errors import ConfigError
from glidein.pool.collector.server import CollectorServer, Config


def register(subparsers: Subparsers) -> None:
    parser = add_command(subparsers, "collector", _run, "run the embedded collector (the ClassAd bus)")
    defaults = Config()
    parser.add_argument("--host", default=defaults.host, help="address to bind (default loopback)")
    parser.add_argument("--port", type=int, default=defaults.port, help="TCP port (0 = any free port)")
    parser.add_argument("--default-lifetime", type=float, default=defaults.default_lifetime,
                        help="seconds an ad without ClassAdLifetime lives")  # fmt: skip
    parser.add_argument("--max-lifetime", type=float, default=defaults.max_lifetime,
                        help="longest ClassAdLifetime honoured, seconds (default a day)")  # fmt: skip
    parser.add_argument("--name", default="", help="Name of the collector's own ad")
    parser.add_argument("--max-connections", type=int, default=defaults.max_connections)
    parser.add_argument("--max-per-peer", type=int, default=defaults.max_per_peer,
                        help="open connections from one address (default %(default)s)")  # fmt: skip
    parser.add_argument("--max-message", type=int, default=defaults.max_message, help="bytes per ad/message")
    parser.add_argument("--max-attrs", type=int, default=defaults.max_attrs, help="attributes per ad")
    parser.add_argument("--idle-timeout", type=float, default=defaults.idle_timeout)
    parser.add_argument("--read-timeout", type=float, default=defaults.read_timeout)
    parser.add_argument("--no-ingest-helper", action="store_true",
                        help="check updates in the server process, not in a helper process")  # fmt: skip


def _run(args: argparse.Namespace) -> int:
    if args.port < 0 or args.port > 65535:
        raise ConfigError(f"--port {args.port}: not a TCP port")
    if args.default_lifetime <= 0:
        raise ConfigError("--default-lifetime must be positive")
    if args.max_per_peer < 1:
        raise ConfigError("--max-per-peer must be at least 1")
    if args.max_lifetime < args.default_lifetime:
        raise ConfigError("--max-lifetime must be at least --default-lifetime")
    config = Config(
        host=args.host, port=args.port, name=args.name, default_lifetime=args.default_lifetime,
        max_lifetime=args.max_lifetime, max_connections=args.max_connections,
        max_per_peer=args.max_per_peer, max_message=args.max_message,
        max_attrs=args.max_attrs, idle_timeout=args.idle_timeout, read_timeout=args.read_timeout,
        ingest_helper=not args.no_ingest_helper,
    )  # fmt: skip
    asyncio.run(_serve(config))
    return 0


async def _serve(config: Config) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await CollectorServer(config).run(stop)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {config.host}:{config.port}: {exc}") from exc
