"""`glidein monitor web|graph`: the monitoring web process and one-off RRD graphs."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from glidein.cli.common import Subparsers, add_command
from glidein.common.monitoring.graphs import CHARTS, PERIODS, fitting_period, graph_png
from glidein.common.monitoring.rrd import RRDKey, RRDStore
from glidein.common.monitoring.snapshot import SnapshotFileSource
from glidein.common.web.app import WebApp, WebConfig
from glidein.common.web.server import serve_until_signal


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser("monitor", help="monitoring: web pages, graphs")
    group = parser.add_subparsers(dest="monitor_command", metavar="SUBCOMMAND", required=True)
    web = add_command(group, "web", _web, "serve the monitoring pages, graphs and /metrics")
    _common(web)
    web.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    web.add_argument("--port", type=int, default=8080)
    web.add_argument("--title", default=None, help="page title (default: 'glidein KIND')")
    web.add_argument(
        "--snapshot", type=Path, help="snapshot JSON the daemon writes (default ROOT/KIND/snapshot.json)"
    )
    web.add_argument(
        "--pilots-dir", type=Path, help="directory with <pilot_id>/{stdout,stderr,log}.txt for log links"
    )
    graph = add_command(group, "graph", _graph, "write one PNG graph from the RRD files")
    _common(graph)
    graph.add_argument("--entry")
    graph.add_argument("--client")
    graph.add_argument("--chart", choices=list(CHARTS), default="pilots")
    graph.add_argument("--period", choices=list(PERIODS), help="default: the shortest holding all the data")
    graph.add_argument("-o", "--output", type=Path, required=True)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", type=Path, required=True, help="monitoring directory (RRD files)")
    parser.add_argument("--kind", default="factory", help="factory or frontend (subdirectory of ROOT)")


def _web(args: argparse.Namespace) -> int:
    snapshot = args.snapshot or args.root / args.kind / "snapshot.json"
    config = WebConfig(
        host=args.host, port=args.port, title=args.title or f"glidein {args.kind}", kind=args.kind
    )
    app = WebApp(config, SnapshotFileSource(snapshot, args.pilots_dir), RRDStore(args.root))
    serve_until_signal(app)
    return 0


def _graph(args: argparse.Namespace) -> int:
    store, key = RRDStore(args.root), RRDKey(args.kind, args.entry, args.client)
    start = store.data_start(RRDKey(args.kind))
    age = None if start is None else time.time() - start
    period = args.period or fitting_period(age, store.step_of(RRDKey(args.kind)))
    png = graph_png(store, key, args.chart, period)
    args.output.write_bytes(png)
    print(f"wrote {args.output} ({len(png)} bytes)")
    return 0
