"""`glidein status` and `glidein advertise` as processes against a real collector."""

from __future__ import annotations

import json
import re
from pathlib import Path

from glidein.common import classads
from glidein.pool import cedar
from tests.integration.collector.conftest import Running
from tests.procs import run_glidein, wait_for

ADS = """\
MyType = "glidefactory"
Name = "e1@g@f"
GLIDEIN_Site = "SiteA"
GLIDEIN_In_Downtime = false

MyType = "glidefactory"
Name = "e2@g@f"
GLIDEIN_Site = "SiteB"
Weird = "a \\"quoted\\" \\back"

MyType = "Machine"
Name = "slot1@host"
Cpus = 4
State = "Unclaimed"

MyType = "Scheduler"
Name = "schedd@host"
TotalIdleJobs = 7
"""


def _status(collector: Running, *args: str) -> str:
    result = run_glidein(["status", "-pool", collector.address, *args])
    assert result.returncode == 0, result.stderr
    return result.stdout


def _advertised(collector: Running, tmp_path: Path) -> None:
    path = tmp_path / "ads.txt"
    path.write_text(ADS)
    result = run_glidein(["advertise", "-pool", collector.address, str(path)])
    assert result.returncode == 0, result.stderr
    assert "advertised 4 ads" in result.stdout
    wait_for(lambda: len(cedar.query(collector.address, "ANY")) == 5, timeout=10)


def test_status_flags(collector: Running, tmp_path: Path) -> None:
    _advertised(collector, tmp_path)
    table = _status(collector)  # condor_status's default: the slots, then their totals
    row = table.splitlines()[2]
    assert row.split()[:6] == ["slot1@host", "[????????]", "[??????]", "Unclaimed", "??", "[????]"]
    # no Memory; no EnteredCurrentActivity: the time since 1970 (as condor_status), cut to 12 characters
    assert re.search(r" \[\?{4}\]\d{5}\+\d\d:\d\d:$", row), row
    assert table.splitlines()[-4].split() == ["Total", "0", "0", "0", "0", "0", "0", "0", "0", "0"]
    assert table.splitlines()[-2].strip() == "(Omitted 1 malformed ads in computed attribute totals)"
    factories = _status(collector, "-factory").splitlines()
    assert factories[0].split()[:2] == ["Name", "GLIDEIN_Site"] and factories[2].split()[:2] == [
        "e1@g@f",
        "SiteA",
    ]
    kinds = [line.split()[0] for line in _status(collector, "-any").splitlines()[2:]]
    assert sorted(kinds) == ["Collector", "Machine", "Scheduler", "glidefactory", "glidefactory"]
    assert _status(collector, "-factory", "-af", "Name", "Weird").splitlines() == [
        "e1@g@f undefined",
        'e2@g@f a "quoted" \\back',
    ]
    assert _status(
        collector, "-type", "glidefactory", "-constraint", 'GLIDEIN_Site == "SiteB"', "-af", "Name"
    ) == ("e2@g@f\n")
    long = _status(collector, "-startd", "-long")
    ad = classads.parse_ad(long)
    assert classads.eval_attr(ad, "Cpus") == 4
    listed = json.loads(_status(collector, "-any", "-json"))
    assert sorted(item["MyType"] for item in listed) == [
        "Collector",
        "Machine",
        "Scheduler",
        "glidefactory",
        "glidefactory",
    ]


def test_advertise_invalidate_by_name_and_by_query(collector: Running, tmp_path: Path) -> None:
    _advertised(collector, tmp_path)
    one = tmp_path / "one.txt"
    one.write_text('MyType = "Machine"\nName = "slot1@host"\n')
    assert run_glidein(["advertise", "-pool", collector.address, "-invalidate", str(one)]).returncode == 0
    wait_for(lambda: cedar.query(collector.address, "STARTD") == [], timeout=10)
    query = 'MyType = "Query"\nTargetType = "glidefactory"\nRequirements = GLIDEIN_Site == "SiteA"\n'
    result = run_glidein(["advertise", "-pool", collector.address, "-invalidate", "-"], input_text=query)
    assert result.returncode == 0, result.stderr
    wait_for(lambda: len(cedar.query(collector.address, "glidefactory")) == 1, timeout=10)
    assert _status(collector, "-factory", "-af", "Name") == "e2@g@f\n"


def test_one_line_errors(collector: Running, tmp_path: Path) -> None:
    bad = run_glidein(["status", "-pool", collector.address, "-constraint", "bad (("])
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "bad ((" in bad.stderr
    nameless = tmp_path / "nameless.txt"
    nameless.write_text('MyType = "glidefactory"\nX = 1\n')
    result = run_glidein(["advertise", "-pool", collector.address, str(nameless)])
    assert result.returncode == 2 and "ad 1 has no string Name" in result.stderr
    missing = run_glidein(["advertise", "-pool", collector.address, str(tmp_path / "nope.txt")])
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    down = run_glidein(["status", "-pool", "127.0.0.1:1"])
    assert down.returncode == 2 and "no collector answered" in down.stderr
