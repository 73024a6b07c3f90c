"""`glidein submit`, `glidein q` and `glidein rm`: condor_submit/condor_q/condor_rm for the embedded schedd.

The schedd is found from `-schedd URL`, $GLIDEIN_SCHEDD, or `<state dir>/schedd.address`
with the state dir from `-state-dir`, $GLIDEIN_SCHEDD_DIR, or ~/.glidein/schedd
(see pool/schedd/client.py). Submit and rm also read `<state dir>/local.secret`.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import time
from pathlib import Path

from glidein.cli.common import Subparsers, add_command
from glidein.common import classads
from glidein.common.errors import GlideinError
from glidein.pool.schedd.client import ScheddClient

_STATUS = {1: "I", 2: "R", 3: "X", 4: "C", 5: "H"}


def _schedd_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-schedd", "--schedd", dest="schedd", help="schedd URL (default: see `glidein q -h`)")
    parser.add_argument("-state-dir", "--state-dir", dest="state_dir", help="schedd state dir (for defaults)")


def register_submit(subparsers: Subparsers) -> None:
    parser = add_command(subparsers, "submit", _submit, "submit jobs from an HTCondor submit description")
    parser.add_argument("file", help="submit description file")
    _schedd_options(parser)


def register_q(subparsers: Subparsers) -> None:
    parser = add_command(subparsers, "q", _q, "list the jobs in the queue (like condor_q)")
    _schedd_options(parser)
    parser.add_argument(
        "-constraint", "--constraint", default="true", help="ClassAd expression to select jobs"
    )
    parser.add_argument(
        "-af", "-autoformat", "--af", dest="af", nargs="+", metavar="ATTR", help="print attributes"
    )
    parser.add_argument(
        "-long", "-l", "--long", dest="long", action="store_true", help="full ads, old syntax"
    )
    parser.add_argument("-json", "--json", dest="json", action="store_true", help="ads as a JSON list")
    parser.add_argument("-autocluster", "--autocluster", dest="autocluster", action="store_true")
    parser.add_argument(
        "-all", "--all", dest="all", action="store_true", help="include completed/removed jobs"
    )
    parser.add_argument("-limit", "--limit", dest="limit", type=int, default=0)


def register_rm(subparsers: Subparsers) -> None:
    parser = add_command(subparsers, "rm", _rm, "remove jobs (like condor_rm)")
    parser.add_argument("ids", nargs="*", metavar="ID", help="CLUSTER or CLUSTER.PROC")
    parser.add_argument("-constraint", "--constraint", help="remove the jobs this expression selects")
    _schedd_options(parser)


def _client(args: argparse.Namespace) -> ScheddClient:
    return ScheddClient.locate(args.schedd, args.state_dir)


def _submit(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise GlideinError(f"{path}: cannot read submit file: {exc}") from None
    iwd = str(path.resolve().parent)
    result = _client(args).submit(text, path.name, iwd, getpass.getuser())
    print("Submitting job(s).")
    print(f"{result['jobs']} job(s) submitted to cluster {result['cluster']}.")
    return 0


def format_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is classads.UNDEFINED or value is None:
        return "undefined"
    if value is classads.ERROR:
        return "error"
    return str(value)


def _ads(args: argparse.Namespace) -> list[classads.ClassAd]:
    objects = _client(args).jobs(args.constraint, include_done=args.all, limit=args.limit)
    return [classads.parse_ad(json.dumps(obj)) for obj in objects]


def _q(args: argparse.Namespace) -> int:
    if args.autocluster:
        return _q_autoclusters(args)
    ads = _ads(args)
    if args.json:
        print(json.dumps([json.loads(classads.to_json(ad)) for ad in ads], indent=2))
    elif args.long:
        print("\n\n".join(classads.to_old(ad).rstrip("\n") for ad in ads))
    elif args.af:
        for ad in ads:
            print(" ".join(format_value(classads.evaluate(attr, ad)) for attr in args.af))
    else:
        _table(args, ads)
    return 0


def _table(args: argparse.Namespace, ads: list[classads.ClassAd]) -> None:
    client = _client(args)
    print(f"\n-- Schedd: {client.status().get('name')} : {client.url} @ {time.strftime('%m/%d/%y %H:%M:%S')}")
    print(f" {'ID':<10} {'OWNER':<12} {'SUBMITTED':<12} {'RUN_TIME':>11} ST {'PRI':>3} CMD")
    counts = dict.fromkeys(_STATUS.values(), 0)
    now = time.time()
    for ad in ads:
        d = classads.to_dict(ad)
        status = _STATUS.get(int(str(d.get("JobStatus", 1))), "?")
        counts[status] = counts.get(status, 0) + 1
        started = d.get("JobStartDate")
        run = int(now - float(str(started))) if status == "R" and started is not None else 0
        run_time = f"{run // 86400}+{time.strftime('%H:%M:%S', time.gmtime(run % 86400))}"
        submitted = time.strftime("%m/%d %H:%M", time.localtime(float(str(d.get("QDate", 0)))))
        cmd = f"{os.path.basename(str(d.get('Cmd', '')))} {d.get('Args', '')}".strip()
        job_id, owner, prio = (
            f"{d.get('ClusterId')}.{d.get('ProcId')}",
            str(d.get("Owner", "")),
            d.get("JobPrio", 0),
        )
        print(f" {job_id:<10} {owner:<12} {submitted:<12} {run_time:>11} {status}  {prio!s:>3} {cmd[:40]}")
    print(
        f"\n{len(ads)} jobs; {counts['C']} completed, {counts['X']} removed, {counts['I']} idle, "
        f"{counts['R']} running, {counts['H']} held, 0 suspended"
    )


def _q_autoclusters(args: argparse.Namespace) -> int:
    clusters = _client(args).autoclusters(args.constraint)
    if args.json:
        print(json.dumps(clusters, indent=2))
        return 0
    print(f" {'AUTOCLUSTER':>11} {'IDLE':>7} {'RUNNING':>7} {'CPUS':>4} {'MEMORY':>7} REQUIREMENTS")
    for item in clusters:
        ad = classads.parse_ad(json.dumps(item["ad"]))
        cpus = format_value(classads.evaluate("RequestCpus", ad))
        memory = format_value(classads.evaluate("RequestMemory", ad))
        requirements = dict(classads.to_old_pairs(ad)).get("Requirements", "true")
        counts = f"{item['id']!s:>11} {item['idle']!s:>7} {item['running']!s:>7}"
        print(f" {counts} {cpus:>4} {memory:>7} {requirements}")
    return 0


def _rm(args: argparse.Namespace) -> int:
    if not args.ids and not args.constraint:
        raise GlideinError("give job ids (CLUSTER or CLUSTER.PROC) or -constraint EXPR")
    removed = _client(args).remove(list(args.ids), args.constraint)
    if not removed:
        print("No matching jobs found.")
        return 1
    for job_id in removed:
        print(f"Job {job_id} marked for removal")
    return 0
