"""`glidein status` and `glidein advertise`: condor_status / condor_advertise conventions over the bus.

Flags are condor-style (single dash): `glidein status -pool 127.0.0.1:9618 -factory -af Name`.
The pool defaults to $GLIDEIN_COLLECTOR, else 127.0.0.1:9618.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from glidein.cli.common import Subparsers, add_command
from glidein.common import classads
from glidein.common.bus import Bus
from glidein.common.errors import ClassAdError, ConfigError

DEFAULT_POOL = "127.0.0.1:9618"
TYPE_FLAGS = {
    "factory": "glidefactory",
    "frontend": "glideclient",
    "startd": "Machine",
    "schedd": "Scheduler",
}
COLUMNS = {
    "machine": ["Name", "State", "Activity", "Cpus", "Memory", "GLIDEIN_Site"],
    "scheduler": ["Name", "TotalIdleJobs", "TotalRunningJobs", "ScheddHttpAddress"],
    "glidefactory": ["Name", "GLIDEIN_Site", "GLIDEIN_In_Downtime", "GlideinMonitorTotalStatusIdle",
                     "GlideinMonitorTotalStatusRunning"],
    "glideclient": ["Name", "ReqIdleGlideins", "ReqMaxGlideins", "ReqRemoveExcess"],
    "glideclientglobal": ["Name", "FrontendIdentity", "FrontendSigningKeyID", "GroupNames",
                          "NumberOfRequests"],
    "glidefactoryclient": ["Name", "GlideinMonitorStatusIdle", "GlideinMonitorStatusRunning"],
    "collector": ["Name", "MyAddress", "TotalAds"],
}  # fmt: skip


def _pool_arg(parser: argparse.ArgumentParser) -> None:
    default = os.environ.get("GLIDEIN_COLLECTOR", DEFAULT_POOL)
    help_text = "collector to talk to (default $GLIDEIN_COLLECTOR or %(default)s)"
    parser.add_argument("-pool", "--pool", default=default, metavar="HOST:PORT", help=help_text)


def register(subparsers: Subparsers) -> None:
    status = add_command(subparsers, "status", _status, "show ads on a collector (like condor_status)")
    _pool_arg(status)
    kind = status.add_mutually_exclusive_group()
    kind.add_argument("-any", "--any", dest="my_type", action="store_const", const="", help="every type")
    for flag, my_type in TYPE_FLAGS.items():
        kind.add_argument(
            f"-{flag}",
            f"--{flag}",
            dest="my_type",
            action="store_const",
            const=my_type,
            help=f"{my_type} ads",
        )
    kind.add_argument("-type", "--type", dest="my_type", metavar="MYTYPE", help="ads of this MyType")
    status.add_argument("-constraint", "--constraint", default="true", metavar="EXPR")
    output = status.add_mutually_exclusive_group()
    output.add_argument("-af", "--af", nargs="+", metavar="ATTR", help="these attributes, one ad a line")
    output.add_argument("-long", "--long", action="store_true", help="whole ads, old syntax")
    output.add_argument("-json", "--json", action="store_true", help="whole ads as a JSON list")
    advertise = add_command(subparsers, "advertise", _advertise, "send ads to a collector (condor_advertise)")
    _pool_arg(advertise)
    advertise.add_argument(
        "-invalidate", "--invalidate", action="store_true",
        help="remove the ads (by MyType and Name, or a Query ad's TargetType and Requirements)",
    )  # fmt: skip
    advertise.add_argument("file", metavar="FILE", help="ads separated by blank lines ('-' = stdin)")


def _value_text(value: classads.PyValue) -> str:
    if value is classads.UNDEFINED:
        return "undefined"
    if value is classads.ERROR:
        return "error"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _long(ad: classads.ClassAd) -> str:
    try:
        return classads.to_old(ad)
    except ClassAdError:
        return classads.to_new(ad) + "\n"


def _table(ads: Sequence[classads.ClassAd]) -> str:
    groups: dict[str, list[classads.ClassAd]] = {}
    for ad in ads:
        groups.setdefault(_value_text(classads.eval_attr(ad, "MyType")), []).append(ad)
    out: list[str] = []
    now = time.time()
    for my_type in sorted(groups, key=str.lower):
        columns = COLUMNS.get(my_type.lower(), ["Name"])
        rows = [[_value_text(classads.eval_attr(ad, col)) for col in columns] for ad in groups[my_type]]
        for row, ad in zip(rows, groups[my_type], strict=True):
            heard = classads.eval_attr(ad, "LastHeardFrom")
            row.append(f"{int(now - heard)}s" if isinstance(heard, int) else "-")
        header = [*columns, "Age"]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        out.append(f"{my_type} ({len(rows)})")
        for row in [header, *sorted(rows)]:
            out.append(
                "  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            )
        out.append("")
    out.append(f"total {len(ads)} ads")
    return "\n".join(out) + "\n"


def _status(args: argparse.Namespace) -> int:
    classads.parse_expr(args.constraint)
    bus = Bus([args.pool], timeout=10.0, retries=1)
    ads = bus.query(args.my_type or None, args.constraint, args.af or ())
    if args.af:
        text = "".join(" ".join(_value_text(classads.eval_attr(ad, a)) for a in args.af) + "\n" for ad in ads)
    elif args.long:
        text = "\n".join(_long(ad) for ad in ads)
    elif args.json:
        text = classads.to_json_list(list(ads))
    else:
        text = _table(ads)
    sys.stdout.write(text)
    return 0


def _read_ads(path: str) -> list[classads.ClassAd]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        ads = classads.parse_ads(text)
    except ClassAdError as exc:
        raise ClassAdError(f"{path}: {exc}") from None
    if not ads:
        raise ClassAdError(f"{path}: no ads")
    return ads


def _advertise(args: argparse.Namespace) -> int:
    ads = _read_ads(args.file)
    for number, ad in enumerate(ads, start=1):
        for attr in ("MyType", "Name") if not args.invalidate else ("MyType",):
            if not isinstance(classads.eval_attr(ad, attr), str):
                raise ClassAdError(f"{args.file}: ad {number} has no string {attr}")
    bus = Bus([args.pool], timeout=10.0, retries=1)
    if not args.invalidate:
        bus.advertise(ads)
        print(f"advertised {len(ads)} ads to {args.pool}")
        return 0
    for number, ad in enumerate(ads, start=1):
        my_type = str(classads.eval_attr(ad, "MyType"))
        if my_type.lower() == "query":
            target = classads.eval_attr(ad, "TargetType")
            if not isinstance(target, str) or "Requirements" not in ad:
                raise ClassAdError(f"{args.file}: Query ad {number} needs TargetType and Requirements")
            bus.invalidate(target, str(ad.lookup("Requirements")))
        else:
            name = classads.eval_attr(ad, "Name")
            if not isinstance(name, str):
                raise ClassAdError(f"{args.file}: ad {number} has no string Name")
            bus.invalidate(my_type, f"Name == {classads.quote(name)}")
    print(f"invalidated {len(ads)} ads on {args.pool}")
    return 0
