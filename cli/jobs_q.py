"""`glidein q`: condor_q for the embedded schedd.

Views as condor_q: the batch view (default), `-nobatch`, `-run`, `-hold`/`-held`, `-totals`,
`-af`, `-long`, `-json`, `-autocluster`, `-better-analyze JOB` (cli/jobs_analyze.py).
Positional restrictions select jobs as condor_q's do: `12` (a cluster), `12.3` (a job), or an
owner name; several are or-ed, and and-ed with `-constraint`. The schedd is found as described
in pool/schedd/client.py.
"""

from __future__ import annotations

import argparse
import json
import re
import time

from glidein.cli import jobs_format as fmt
from glidein.cli.common import Subparsers, add_command
from glidein.common import classads
from glidein.common.errors import GlideinError
from glidein.pool.schedd.client import ScheddClient

_CLUSTER = re.compile(r"[0-9]{1,18}")
_JOB = re.compile(r"([0-9]{1,18})\.([0-9]{1,18})")
_OWNER = re.compile(r"[A-Za-z_][A-Za-z0-9_.@-]{0,99}")


def schedd_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-schedd", "--schedd", dest="schedd", help="schedd URL (default: see `glidein q -h`)")
    parser.add_argument("-state-dir", "--state-dir", dest="state_dir", help="schedd state dir (for defaults)")


def register_q(subparsers: Subparsers) -> None:
    parser = add_command(subparsers, "q", _q, "list the jobs in the queue (like condor_q)")
    schedd_options(parser)
    parser.add_argument("restrict", nargs="*", metavar="OWNER|CLUSTER|CLUSTER.PROC", help="jobs to show")
    parser.add_argument("-constraint", "--constraint", default="true", help="ClassAd expression")
    parser.add_argument("-af", "-autoformat", "--af", dest="af", nargs="+", metavar="ATTR")
    parser.add_argument("-long", "-l", "--long", dest="long", action="store_true", help="full ads")
    parser.add_argument("-json", "--json", dest="json", action="store_true", help="ads as a JSON list")
    parser.add_argument("-autocluster", "--autocluster", dest="autocluster", action="store_true")
    parser.add_argument("-all", "--all", dest="all", action="store_true", help="with completed/removed jobs")
    parser.add_argument("-limit", "--limit", dest="limit", type=int, default=0)
    view = parser.add_mutually_exclusive_group()
    view.add_argument("-nobatch", "--nobatch", dest="view", action="store_const", const="nobatch")
    view.add_argument("-batch", "--batch", dest="view", action="store_const", const="batch")
    view.add_argument("-run", "--run", dest="view", action="store_const", const="run", help="running jobs")
    view.add_argument(
        "-hold", "-held", "--hold", dest="view", action="store_const", const="hold", help="held jobs, why"
    )
    view.add_argument("-totals", "--totals", dest="view", action="store_const", const="totals")
    view.add_argument("-better-analyze", "--better-analyze", dest="analyze", metavar="JOB")
    parser.add_argument("-pool", "--pool", dest="pool", help="users' pool collector (-better-analyze)")
    parser.add_argument(
        "-wms", "--wms", dest="wms", help="WMS collector: entries and requests (-better-analyze)"
    )
    parser.set_defaults(view="batch")


def restriction(words: list[str]) -> str:
    """condor_q's positional restrictions as one constraint ("true" when none)."""
    parts: list[str] = []
    for word in words:
        job = _JOB.fullmatch(word)
        if job:
            parts.append(f"(ClusterId == {int(job.group(1))} && ProcId == {int(job.group(2))})")
        elif _CLUSTER.fullmatch(word):
            parts.append(f"ClusterId == {int(word)}")
        elif _OWNER.fullmatch(word):
            parts.append(f"Owner == {classads.quote(word)}")
        else:
            raise GlideinError(f"{word[:40]!r}: not an owner, a cluster or a cluster.proc")
    return " || ".join(parts) if parts else "true"


def constraint(args: argparse.Namespace) -> str:
    parts = [args.constraint, restriction(args.restrict)]
    if args.view == "run":
        parts.append("JobStatus == 2")
    elif args.view == "hold":
        parts.append("JobStatus == 5")
    parts = [p for p in parts if p.strip() != "true"]
    return " && ".join(f"({p})" for p in parts) if parts else "true"


def _client(args: argparse.Namespace) -> ScheddClient:
    return ScheddClient.locate(args.schedd, args.state_dir)


def _q(args: argparse.Namespace) -> int:
    if args.analyze:
        from glidein.cli.jobs_analyze import better_analyze

        return better_analyze(_client(args), args.analyze, args.pool, args.wms)
    if args.autocluster:
        return _q_autoclusters(args)
    client = _client(args)
    objects = client.jobs(constraint(args), include_done=args.all, limit=args.limit)
    if args.json:
        print(json.dumps(objects, indent=2))
    elif args.long:
        ads = [classads.parse_ad(json.dumps(obj)) for obj in objects]
        print("\n\n".join(classads.to_old(ad).rstrip("\n") for ad in ads))
    elif args.af:
        for obj in objects:
            ad = classads.parse_ad(json.dumps(obj))
            print(" ".join(format_value(classads.evaluate(attr, ad)) for attr in args.af))
    else:
        _table(client, args.view, objects)
    return 0


def format_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is classads.UNDEFINED or value is None:
        return "undefined"
    if value is classads.ERROR:
        return "error"
    return str(value)


def _table(client: ScheddClient, view: str, jobs: list[dict[str, object]]) -> None:
    status = client.status()
    address = str(client.url).split("//", 1)[-1]
    print(f"\n\n-- Schedd: {status.get('name')} : <{address}> @ {time.strftime('%m/%d/%y %H:%M:%S')}")
    now = time.time()
    if view == "nobatch":
        print(fmt.NOBATCH_HEADER)
        print("\n".join(fmt.nobatch_row(job, now) for job in jobs))
    elif view == "run":
        print(fmt.RUN_HEADER)
        print("\n".join(fmt.run_row(job, now) for job in jobs))
        return  # condor_q -run prints no totals
    elif view == "hold":
        print(fmt.HOLD_HEADER)
        print("\n".join(fmt.hold_row(job) for job in jobs))
    elif view == "batch":
        print("\n".join(fmt.batch_lines(jobs)))
    if view != "totals":
        print()
    print(fmt.totals(jobs))


def _q_autoclusters(args: argparse.Namespace) -> int:
    clusters = _client(args).autoclusters(args.constraint)
    if args.json:
        print(json.dumps(clusters, indent=2))
        return 0
    heads = f"{'AUTOCLUSTER':>11} {'IDLE':>7} {'RUNNING':>7} {'HELD':>7} {'CPUS':>4} {'MEMORY':>7}"
    print(f" {heads} REQUIREMENTS")
    for item in clusters:
        ad = classads.parse_ad(json.dumps(item["ad"]))
        cpus = format_value(classads.evaluate("RequestCpus", ad))
        memory = format_value(classads.evaluate("RequestMemory", ad))
        requirements = dict(classads.to_old_pairs(ad)).get("Requirements", "true")
        counts = f"{item['id']!s:>11} {item['idle']!s:>7} {item['running']!s:>7} {item.get('held', 0)!s:>7}"
        print(f" {counts} {cpus:>4} {memory:>7} {requirements}")
    return 0
