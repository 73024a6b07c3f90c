"""`glidein submit -dry-run FILE`: parse a description here and show the job ads, queue nothing.

As condor_submit -dry-run: the cluster is numbered 1; the first job's ad is written in full as
`Attr=expression` lines, each later job only with what differs (ProcId and per-job attributes);
a blank line before each job. To FILE, or to standard output for `-` (a `.` after each job there).
"""

from __future__ import annotations

import getpass
import sys
import time

from glidein.common import classads
from glidein.common.errors import GlideinError
from glidein.pool.schedd.submit import SubmitContext, parse_submit


def ad_texts(text: str, filename: str, iwd: str, owner: str) -> tuple[list[str], list[str]]:
    """(one block of `Attr=expr` lines per job, warnings) for cluster 1."""
    parsed = parse_submit(text, SubmitContext(filename, iwd, 1))
    now = int(time.time())
    first = {
        "ClusterId": "1",
        **parsed.common,
        "Owner": classads.quote(owner),
        "MyType": '"Job"',
        "TargetType": '"Machine"',
        "QDate": str(now),
        "EnteredCurrentStatus": str(now),
        "TotalSubmitProcs": str(len(parsed.procs)),
        "JobSubmitFile": classads.quote(filename),
    }
    blocks: list[str] = []
    for proc, varying in enumerate(parsed.procs):
        attrs = {**first, **varying} if proc == 0 else dict(varying)
        attrs.update({"ProcId": str(proc), "JobStatus": "1"})
        blocks.append("\n".join(f"{name}={value}" for name, value in attrs.items()))
    return blocks, parsed.warnings


def dry_run(text: str, filename: str, iwd: str, dest: str) -> int:
    blocks, warnings = ad_texts(text, filename, iwd, getpass.getuser())
    for warning in warnings:
        print(warning, file=sys.stderr)
    if dest == "-":
        print("Dry-Run job(s)")
        for block in blocks:
            print(f"\n{block}\n.", end="")
        print()
    else:
        try:
            with open(dest, "w", encoding="utf-8") as handle:
                handle.write("".join(f"\n{block}\n" for block in blocks))
        except OSError as exc:
            raise GlideinError(f"{dest}: cannot write the dry-run ads: {exc.strerror or exc}") from None
        print("Dry-Run job(s)" + "." * len(blocks))
    print(f"{len(blocks)} job(s) dry-run to cluster 1.")
    return 0
