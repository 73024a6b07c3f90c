"""Job sources with a fake htcondor2.Schedd fed with condor_q -long style ads, and failure handling."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest

from glidein.common import classads
from glidein.common.classads import ClassAd
from glidein.frontend.jobs import (
    EmbeddedSchedd,
    HTCondorSchedd,
    collect,
    job_projection,
    sources_from_ads,
)
from tests.procs import free_port

DATA = Path(__file__).parent / "data"


def load(name: str) -> list[ClassAd]:
    return classads.parse_ads((DATA / name).read_text())


class FakeSchedd:
    """Answers like htcondor2.Schedd.query: constraint, projection, autocluster option."""

    def __init__(self) -> None:
        self.jobs = load("condor_q_jobs.txt")
        self.autoclusters = {
            1: load("condor_q_autoclusters_idle.txt"),
            2: load("condor_q_autoclusters_running.txt"),
        }
        self.calls: list[tuple[str, list[str], Any]] = []

    def query(
        self, constraint: str = "True", projection: list[str] | None = None, limit: int = -1, opts: Any = None
    ) -> list[ClassAd]:
        projection = projection or []
        self.calls.append((constraint, list(projection), opts))
        if opts is not None and int(opts):
            status = int(re.search(r"JobStatus == (\d)$", constraint).group(1))  # type: ignore[union-attr]
            return self.autoclusters[status]
        out = []
        for job in self.jobs:
            if classads.evaluate(constraint, job) is True:
                ad = classads.ClassAd()
                for name in projection or list(job):
                    if name in job:
                        ad[name] = job.lookup(name)
                out.append(ad)
        return out


def test_projected_job_query_groups_jobs() -> None:
    fake = FakeSchedd()
    projection = job_projection("stringListMember(TARGET.GLIDEIN_Site, DESIRED_Sites)")
    assert "DESIRED_Sites" in projection and "GLIDEIN_Site" not in projection
    source = HTCondorSchedd("submit.example.org", fake, projection, clock=lambda: 1763800000.0)
    clusters = sorted(source.clusters('Owner =!= "nobody"'), key=lambda c: classads.evaluate("Owner", c.ad))
    got = [(classads.evaluate("Owner", c.ad), c.idle, c.running, c.old_idle) for c in clusters]
    # alice: 3 idle (entered 1000 s ago: old) + 1 running alike in every projected attribute;
    # bob: 2 idle for 50 s (not old); the held job is left out
    assert sorted(got) == [("alice", 3, 1, 3), ("bob", 2, 0, 0)]
    constraint, fetched, _ = fake.calls[0]
    assert constraint == '(Owner =!= "nobody") && (JobStatus == 1 || JobStatus == 2)'
    assert fetched == projection


def test_autocluster_query_counts_jobcount() -> None:
    source = HTCondorSchedd("s", FakeSchedd(), mode="autocluster")
    clusters = sorted(source.clusters("true"), key=lambda c: c.idle)
    assert [(c.idle, c.running, c.old_idle) for c in clusters] == [(2, 0, None), (3, 1, None)]


def test_schedd_that_does_not_answer_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def query(self, *args: object, **kwargs: object) -> list[ClassAd]:
            raise OSError("Failed to connect to schedd")

    good = HTCondorSchedd("good", FakeSchedd(), clock=lambda: 1763800000.0)
    dead = EmbeddedSchedd("dead", f"http://127.0.0.1:{free_port()}", timeout=2)
    with caplog.at_level(logging.WARNING):
        clusters, failed = collect([HTCondorSchedd("broken", Broken()), dead, good], "true")
    assert failed == ["broken", "dead"]
    assert sum(c.idle for c in clusters) == 5
    lines = [r.getMessage() for r in caplog.records]
    assert any("schedd=broken skipped this cycle" in line and "Failed to connect" in line for line in lines)
    assert any("schedd=dead skipped this cycle" in line for line in lines)


def test_schedds_found_as_schedd_ads() -> None:
    ads = [
        classads.from_dict({"MyType": "Scheduler", "Name": "emb", "ScheddHttpAddress": "http://127.0.0.1:1"}),
        classads.from_dict({"MyType": "Scheduler", "Name": "condor", "MyAddress": "<127.0.0.1:9618>"}),
        classads.from_dict(
            {"MyType": "Scheduler", "Name": "listed", "ScheddHttpAddress": "http://127.0.0.1:2"}
        ),
        classads.from_dict({"MyType": "Scheduler", "Name": "nowhere"}),
    ]
    sources = sources_from_ads(ads, known=["listed"])
    assert [(s.name, type(s).__name__) for s in sources] == [
        ("emb", "EmbeddedSchedd"),
        ("condor", "LazyHTCondorSchedd"),
    ]
