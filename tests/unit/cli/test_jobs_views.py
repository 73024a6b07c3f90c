"""condor_q's layouts and restrictions (pure parts of `glidein q`), and -better-analyze's clauses."""

from __future__ import annotations

import argparse
import time

import pytest

from glidein.cli import jobs_analyze
from glidein.cli import jobs_format as fmt
from glidein.cli.jobs_q import constraint, restriction
from glidein.common import classads
from glidein.common.errors import GlideinError


def _job(cluster: int, proc: int, status: int, **extra: object) -> dict[str, object]:
    qdate = int(time.mktime((2026, 1, 5, 9, 7, 0, 0, 0, -1)))
    base: dict[str, object] = {"ClusterId": cluster, "ProcId": proc, "JobStatus": status, "Owner": "alice"}
    return {**base, "QDate": qdate, "Cmd": "/bin/run.sh", "Args": f"{proc}", **extra}


def test_rows_and_batches_as_condor_q() -> None:
    jobs = [_job(3, 0, 4, RemoteWallClockTime=3725.0), _job(3, 1, 2, ShadowBday=100, ServerTime=190)]
    jobs.append(_job(3, 2, 5, HoldReasonCode=1, HoldReasonSubCode=0, HoldReason="x", EnteredCurrentStatus=0))
    jobs.append(_job(12, 0, 1, JobBatchName="nightly", TotalSubmitProcs=1))
    assert (
        fmt.nobatch_row(jobs[0], 0) == "   3.0   alice           1/5  09:07   0+01:02:05 C  0    0.0 run.sh 0"
    )
    assert fmt.run_row(jobs[1], 0).endswith("   0+00:01:30 ")  # ServerTime - ShadowBday, no host yet
    assert fmt.hold_row(jobs[2]).endswith("    1/0   x")
    lines = fmt.batch_lines(jobs)
    assert lines[0] == "OWNER BATCH_NAME    SUBMITTED   DONE   RUN    IDLE   HOLD  TOTAL JOB_IDS"
    assert lines[1].split() == ["alice", "ID:", "3", "1/5", "09:07", "1", "1", "_", "1", "_", "3.0-2"]
    assert lines[2].split()[1:] == ["nightly", "1/5", "09:07", "_", "_", "1", "_", "1", "12.0"]
    assert fmt.totals(jobs) == (
        "Total for query: 4 jobs; 1 completed, 0 removed, 1 idle, 1 running, 1 held, 0 suspended"
    )
    assert fmt.duration(86400 * 2 + 61) == "2+00:01:01"


def test_positional_restrictions_and_views_make_one_constraint() -> None:
    assert restriction(["12", "3.4", "alice"]) == (
        'ClusterId == 12 || (ClusterId == 3 && ProcId == 4) || Owner == "alice"'
    )
    with pytest.raises(GlideinError, match=r"'1\.2\.3': not an owner"):
        restriction(["1.2.3"])
    args = argparse.Namespace(constraint="RequestCpus > 1", restrict=["7"], view="hold")
    assert constraint(args) == "(RequestCpus > 1) && (ClusterId == 7) && (JobStatus == 5)"
    assert constraint(argparse.Namespace(constraint="true", restrict=[], view="batch")) == "true"


def test_better_analyze_names_the_clause_no_slot_or_entry_passes() -> None:
    job = classads.parse_ad(
        "[ClusterId = 1; ProcId = 0; RequestCpus = 1; RequestMemory = 4096; RequestDisk = 1; RequestGPUs = 0;"
        ' Requirements = TARGET.OpSys == "LINUX" && (TARGET.Site == "X" || TARGET.Site == "Y")]'
    )
    slot = classads.from_dict({"OpSys": "LINUX", "Site": "Z", "Cpus": 1, "Memory": 8192, "Disk": 10})
    entry = classads.from_dict(
        {"OpSys": "LINUX", "Site": "Y", "GlideFactoryName": "E1", "GlideClientName": "f.g"}
    )
    found = jobs_analyze.clauses(job, [slot], [entry])
    assert [(c.text, c.slots, c.entries) for c in found] == [
        ('TARGET.OpSys == "LINUX"', 1, 1),
        ('TARGET.Site == "X" || TARGET.Site == "Y"', 0, 1),
        ("TARGET.Cpus >= RequestCpus", 1, None),
        ("TARGET.Memory >= RequestMemory", 1, None),
        ("TARGET.Disk >= RequestDisk", 1, None),
    ]
    lines = jobs_analyze.report(job, [slot], [entry])
    assert lines[-1] == (
        "Verdict: waiting for a pilot: 1 entries match, 0 pilots asked for them; "
        'condition [1] TARGET.Site == "X" || TARGET.Site == "Y" matches no slot yet.'
    )
    assert jobs_analyze.report(job, [slot], [])[-1].startswith(
        "Verdict: the job can never run as it is: condition [1]"
    )
