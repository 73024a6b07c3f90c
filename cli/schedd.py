"""`glidein schedd`: run the embedded schedd (job queue + HTTP API) as its own process."""

from __future__ import annotations

import argparse
from pathlib import Path

from glidein.cli.common import Subparsers, add_command
from glidein.pool.schedd.client import default_state_dir
from glidein.pool.schedd.daemon import ScheddOptions, run_schedd
from glidein.pool.schedd.relay import RelayOptions, parse_submitter


def register(subparsers: Subparsers) -> None:
    parser = add_command(subparsers, "schedd", _run, "run the embedded schedd (job queue and HTTP API)")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--state-dir", default=None, help="queue and secrets ($GLIDEIN_SCHEDD_DIR, ~/.glidein/schedd)"
    )
    parser.add_argument("--collector", help="user-pool collector host:port to advertise the schedd ad to")
    parser.add_argument("--name", default="schedd", help="schedd name (Name of its ad)")
    parser.add_argument(
        "--pool-key", required=True, help="pool key file that startd tokens are verified with"
    )
    parser.add_argument("--lease", type=float, default=30.0, help="seconds a claim lives without heartbeat")
    parser.add_argument("--advertise-interval", type=float, default=30.0, help="seconds between schedd ads")
    relay = parser.add_argument_group("relay mode (a site relay: pilots handed to the entry's submitter)")
    relay.add_argument("--relay-entry", help="the factory entry this relay serves (turns relay mode on)")
    relay.add_argument("--relay-factory", default="", help="the factory's name (GlideinRelayFactory)")
    relay.add_argument(
        "--relay-submitter", default='{"type": "local"}', help="the entry's submitter section as JSON"
    )
    relay.add_argument("--relay-max-per-cycle", type=int, default=10, help="pilots handed over per cycle")
    relay.add_argument("--relay-interval", type=float, default=5.0, help="seconds between relay cycles")
    relay.add_argument("--relay-lifetime", type=float, default=0.0, help="seconds it runs (0: until stopped)")


def _run(args: argparse.Namespace) -> int:
    options = ScheddOptions(
        state_dir=Path(args.state_dir).expanduser() if args.state_dir else default_state_dir(),
        pool_key=Path(args.pool_key),
        host=args.host,
        port=args.port,
        name=args.name,
        collector=args.collector,
        lease_s=args.lease,
        advertise_interval=args.advertise_interval,
        relay=_relay(args),
    )
    return run_schedd(options)


def _relay(args: argparse.Namespace) -> RelayOptions | None:
    if args.relay_entry is None:
        return None
    return RelayOptions(
        entry=args.relay_entry,
        factory=args.relay_factory,
        submitter=parse_submitter(args.relay_submitter),
        max_per_cycle=args.relay_max_per_cycle,
        interval=args.relay_interval,
        lifetime=args.relay_lifetime,
    )
