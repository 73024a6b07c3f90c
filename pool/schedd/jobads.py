"""Assembling a full job ad from its stored parts, and parsing job ids ("12", "12.3")."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from glidein.common import classads
from glidein.common.errors import NotFoundError
from glidein.pool.schedd.store import JobRow

_NUMBER = re.compile(r"[0-9]{1,18}")  # ASCII digits within SQLite's 64-bit INTEGER


def job_attrs(
    row: JobRow, ac_attrs: dict[str, str], common: dict[str, str], qdate: int, schedd: str
) -> dict[str, str]:
    """name -> expression text of one job: autocluster + cluster + job parts + status columns."""
    attrs = {**ac_attrs, **common}
    if row.vars:
        attrs.update(json.loads(row.vars))
    attrs.update(
        {
            "ClusterId": str(row.cluster),
            "ProcId": str(row.proc),
            "QDate": str(qdate),
            "GlobalJobId": classads.quote(f"{schedd}#{row.cluster}.{row.proc}#{qdate}"),
            "JobStatus": str(row.status),
            "NumJobStarts": str(row.starts),
            "EnteredCurrentStatus": str(row.entered),
        }
    )
    if row.exit_code is not None:
        attrs["ExitCode"] = str(row.exit_code)
    if row.startd:
        attrs["RemoteHost"] = classads.quote(row.startd)
    if row.started is not None:
        attrs["JobStartDate"] = attrs["JobCurrentStartDate"] = str(row.started)
        if row.status == 2:
            attrs["ShadowBday"] = str(row.started)
    if row.reason and row.status == 5:
        attrs["HoldReason"] = classads.quote(row.reason)
        attrs["HoldReasonCode"] = str(row.hold_code or 0)
        attrs["HoldReasonSubCode"] = "0"
    if row.completed is not None:
        attrs["CompletionDate"] = str(row.completed)
        if row.started is not None:  # the last run's wall-clock time (condor_q's RUN_TIME)
            attrs["RemoteWallClockTime"] = f"{float(row.completed - row.started)}"
    return attrs


def job_ad(attrs: dict[str, str]) -> classads.ClassAd:
    body = "; ".join(f"{name} = {text}" for name, text in attrs.items())
    return classads.parse_ad(f"[{body}]")


def parse_job_ids(ids: Sequence[str]) -> tuple[set[int], set[tuple[int, int]]]:
    """("12", "3.4") -> ({12}, {(3, 4)}); NotFoundError names a malformed id."""
    clusters: set[int] = set()
    jobs: set[tuple[int, int]] = set()
    for text in ids:
        parts = text.strip().split(".")
        if not 1 <= len(parts) <= 2 or not all(_NUMBER.fullmatch(part) for part in parts):
            raise NotFoundError(f"bad job id {text[:40]!r} (expected CLUSTER or CLUSTER.PROC)")
        if len(parts) == 1:
            clusters.add(int(parts[0]))
        else:
            jobs.add((int(parts[0]), int(parts[1])))
    return clusters, jobs
