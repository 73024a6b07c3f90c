"""`glidein status` and `glidein advertise`: condor_status / condor_advertise conventions over the bus.

Flags are condor-style (single dash): `glidein status -pool 127.0.0.1:9618 -factory -af Name`.
The pool defaults to $GLIDEIN_COLLECTOR, else 127.0.0.1:9618.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from glidein.cli.common import Subparsers, add_command
from glidein.cli.status_args import USAGE, StatusOptions, parse_status_args
from glidein.cli.status_compact import CONSTRAINT as COMPACT_CONSTRAINT
from glidein.cli.status_compact import compact_rows, compact_sort, render_compact
from glidein.cli.status_format import render_custom
from glidein.cli.status_layouts import render_table
from glidein.cli.status_output import DEFAULT_SORT, json_form, long_form, project, sort_ads, xml_form
from glidein.common import classads
from glidein.common.bus import Bus
from glidein.common.errors import ClassAdError, ConfigError, NotFoundError

DEFAULT_POOL = "127.0.0.1:9618"
DIRECT_MODES = ("slots", "schedd", "master", "negotiator", "submitters")


def _pool_arg(parser: argparse.ArgumentParser) -> None:
    default = os.environ.get("GLIDEIN_COLLECTOR", DEFAULT_POOL)
    help_text = "collector to talk to (default $GLIDEIN_COLLECTOR or %(default)s)"
    parser.add_argument("-pool", "--pool", default=default, metavar="HOST:PORT", help=help_text)


def register(subparsers: Subparsers) -> None:
    # condor_status's own command line (shortened options, -af:lh, -format F A, names): read by
    # status_args, so argparse takes every word as it is ('+' is no prefix anybody types)
    help_text = "show ads on a collector (like condor_status)"
    status = subparsers.add_parser(
        "status", help=help_text, description=help_text, prefix_chars="+", add_help=False, usage=USAGE
    )
    status.set_defaults(handler=_status)
    status.add_argument("words", nargs="*", metavar="ARG", help="condor_status arguments")
    advertise = add_command(subparsers, "advertise", _advertise, "send ads to a collector (condor_advertise)")
    _pool_arg(advertise)
    advertise.add_argument(
        "-invalidate", "--invalidate", action="store_true",
        help="remove the ads (by MyType and Name, or a Query ad's TargetType and Requirements)",
    )  # fmt: skip
    advertise.add_argument("file", metavar="FILE", help="ads separated by blank lines ('-' = stdin)")


def _status(args: argparse.Namespace) -> int:
    if not args.debug:  # condor_status says nothing about how it reached the collector
        logging.getLogger("glidein.common.bus").setLevel(logging.WARNING)
    options = parse_status_args(args.words)
    if options.help:
        sys.stdout.write(USAGE)
        return 0
    if options.compact and options.totals:
        print("Warning: ignoring -compact option because -total option is also set", file=sys.stderr)
    for warning in options.warnings:
        print(f"glidein status: {warning}", file=sys.stderr)
    text = status_text(options)
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `glidein status | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def status_text(options: StatusOptions) -> str:
    """What condor_status prints for `options` (the ads come from the collector or the daemon)."""
    pool = options.pool
    if options.direct is not None and options.mode in DIRECT_MODES:
        pool = direct_address(options)
    bus = Bus([pool], timeout=10.0, retries=1)
    constraint = options.constraint()
    if options.compact:
        constraint = f"({constraint}) && ({COMPACT_CONSTRAINT})"
    ads = bus.query(options.my_type, constraint)
    if options.limit:
        ads = ads[: options.limit]  # the first ones the collector sends, as condor_status's -limit
    if options.output in ("long", "xml", "json"):
        ads = project(ads, options.attributes)  # as condor_status asks: sorted on what it gets back
    sort = [] if options.no_sort else options.sort
    if options.compact and not options.totals:
        if options.output == "table":
            return render_compact(ads, compact_sort(sort, options.no_sort))
        return _output(options, [row.ad for row in compact_rows(ads, compact_sort(sort, options.no_sort))])
    return _output(options, sort_ads(ads, sort if options.no_sort or sort else list(DEFAULT_SORT)))


def direct_address(options: StatusOptions) -> str:
    """-direct NAME: the host:port of the daemon NAME (from its ad), which answers the query itself.

    As condor_status, only slots, schedds, masters, negotiators and submitters are asked directly;
    for the other kinds -direct changes nothing."""
    assert options.direct is not None
    bus = Bus([options.pool], timeout=10.0, retries=1)
    name = classads.quote(options.direct)
    found = bus.query(options.my_type, f"Name == {name} || Machine == {name}")
    address = classads.eval_attr(found[0], "MyAddress") if found else None
    if not isinstance(address, str) or not address.startswith("<"):
        what = options.my_type or "daemon"
        raise NotFoundError(
            f"-direct: no {what} ad named {options.direct} with a MyAddress on {options.pool}"
        )
    return address[1:].split("?")[0].rstrip(">")


def _output(options: StatusOptions, ads: list[classads.ClassAd]) -> str:
    """-total hides the ads of whole-ad output (keeping condor_status's XML frame and JSON ']')."""
    shown = [] if options.totals else ads
    if options.output == "long":
        return long_form(shown, options.attributes)
    if options.output == "xml":
        return xml_form(shown, options.attributes)
    if options.output == "json":
        return "]\n" if options.totals and ads else json_form(shown, options.attributes)
    if options.output == "custom":
        if options.totals:
            options.mask.headings.clear()
        return render_custom(options.mask, ads)
    return render_table(options, ads)


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
