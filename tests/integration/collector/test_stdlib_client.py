"""The stdlib CEDAR client (pool/cedar.py, shipped to worker nodes) against the real collector."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import htcondor2

from glidein.common import classads
from glidein.pool import cedar
from tests.integration.collector.conftest import Running
from tests.procs import wait_for

ROOT = Path(__file__).resolve().parents[3]


def _slot(name: str, cpus: int) -> cedar.Ad:
    ad = cedar.make_ad({"MyType": "Machine", "Name": name, "Cpus": cpus, "State": "Unclaimed"})
    ad.append(("Start", "TARGET.RequestCpus <= MY.Cpus"))
    ad.append(("GLIDEIN_Site", cedar.new_to_old('"Site \\"A\\" \\\\ x"')))
    return ad


def test_advertise_query_invalidate(collector: Running) -> None:
    cedar.advertise(collector.address, [_slot(f"slot{i}@wn", i) for i in range(1, 5)])
    wait_for(lambda: len(cedar.query(collector.address, "STARTD")) == 4, timeout=10)
    got = cedar.query(collector.address, "STARTD", "Cpus >= 3", ["Name", "GLIDEIN_Site"])
    assert sorted(cedar.literal(dict(ad)["Name"]) for ad in got) == ["slot3@wn", "slot4@wn"]
    assert all(cedar.literal(dict(ad)["GLIDEIN_Site"]) == 'Site "A" \\ x' for ad in got)
    (seen,) = htcondor2.Collector(collector.address).query(htcondor2.AdType.Startd, 'Name == "slot2@wn"')
    assert str(seen.lookup("Start")) == "TARGET.RequestCpus <= MY.Cpus"
    assert classads.eval_attr(seen, "GLIDEIN_Site") == 'Site "A" \\ x'
    cedar.invalidate(collector.address, "STARTD", 'Name == "slot1@wn"')
    wait_for(lambda: len(cedar.query(collector.address, "STARTD")) == 3, timeout=10)
    assert cedar.query(collector.address, "ANY", 'MyType == "Collector"', ["Name"])


def test_errors_are_cedar_errors() -> None:
    for call in (lambda: cedar.query("127.0.0.1:1", "ANY"), lambda: cedar.advertise("127.0.0.1:1", [[]])):
        try:
            call()
        except cedar.CedarError as exc:
            assert "127.0.0.1:1" in str(exc)
        else:
            raise AssertionError("no error")


def test_runs_from_a_stdlib_only_bundle(collector: Running, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    (bundle / "glidein" / "pool").mkdir(parents=True)
    shutil.copy(ROOT / "__init__.py", bundle / "glidein" / "__init__.py")
    shutil.copy(ROOT / "pool" / "__init__.py", bundle / "glidein" / "pool" / "__init__.py")
    shutil.copy(ROOT / "pool" / "cedar.py", bundle / "glidein" / "pool" / "cedar.py")
    script = textwrap.dedent(
        """
        import sys
        from glidein.pool import cedar
        cedar.advertise(sys.argv[1], [[("MyType", '"Machine"'), ("Name", '"bundle@wn"')]])
        assert "htcondor2" not in sys.modules and "classad2" not in sys.modules
        """
    )
    result = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            f"import sys; sys.path.insert(0, {str(bundle)!r})\n{script}",
            collector.address,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    wait_for(lambda: len(cedar.query(collector.address, "STARTD", 'Name == "bundle@wn"')) == 1, timeout=10)
