"""`glidein submit` as condor_submit users expect it, against a real schedd process: warnings for
unused lines (the real condor_submit's wording), -dry-run, standard input, refused submissions
that use no cluster id, and each subcommand's own usage on a bad option."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from glidein.common.errors import ConfigError
from glidein.pool.condor.release import find_release
from tests.integration.pool.pool_helpers import Pool, script
from tests.procs import Processes, run_glidein

TYPO = "executable = {exe}\nrequirments = TARGET.Memory > 1\narguments = \"a 'b c'\"\nqueue 2\n"


def _condor_submit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    try:
        binary = find_release().bin("condor_submit")
    except ConfigError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and no HTCondor: {exc}")
        pytest.skip(f"needs HTCondor: {exc}")
    env = {**os.environ, "CONDOR_CONFIG": "/dev/null"}
    return subprocess.run(
        [str(binary), *args], capture_output=True, text=True, timeout=60, env=env, check=False, cwd=cwd
    )


def test_typo_warning_dry_run_and_arguments_as_condor_submit(processes: Processes, tmp_path: Path) -> None:
    exe = script(tmp_path / "run.sh", "exit 0\n")
    (tmp_path / "job.sub").write_text(TYPO.format(exe=exe))
    real = _condor_submit("-dry-run", "real.ads", "job.sub", cwd=tmp_path)
    ours = run_glidein(["submit", "-dry-run", str(tmp_path / "ours.ads"), str(tmp_path / "job.sub")])
    assert ours.returncode == real.returncode == 0, ours.stderr
    warning = "WARNING: the line 'requirments = TARGET.Memory > 1' was unused by {}. Is it a typo?"
    assert warning.format("condor_submit") in real.stderr
    assert warning.format("glidein submit") in ours.stderr
    assert ours.stdout == real.stdout == "Dry-Run job(s)..\n2 job(s) dry-run to cluster 1.\n"

    def attrs(path: Path) -> list[dict[str, str]]:
        blocks = path.read_text().strip("\n").split("\n\n")
        return [dict(line.split("=", 1) for line in block.splitlines()) for block in blocks]

    real_ads, our_ads = attrs(tmp_path / "real.ads"), attrs(tmp_path / "ours.ads")
    assert [ad["ProcId"] for ad in our_ads] == [ad["ProcId"] for ad in real_ads] == ["0", "1"]
    for name in ("ClusterId", "Cmd", "Iwd", "JobPrio", "RequestCpus", "RequestMemory", "JobUniverse"):
        assert our_ads[0][name] == real_ads[0][name], name
    assert our_ads[0]["Arguments"] == real_ads[0]["Arguments"] == "\"a b' 'c\""  # canonical, no outer quotes

    pool = Pool(processes, tmp_path)
    pool.start_schedd()
    queued = pool.glidein("submit", str(tmp_path / "job.sub"))
    assert queued.returncode == 0 and warning.format("glidein submit") in queued.stderr
    assert pool.glidein("q", "-af", "Arguments", "Args").stdout.splitlines() == ["a b' 'c undefined"] * 2


def test_refused_submissions_use_no_cluster_id_and_stdin_works(processes: Processes, tmp_path: Path) -> None:
    pool = Pool(processes, tmp_path)
    pool.start_schedd()
    exe = script(tmp_path / "run.sh", "exit 0\n")
    bad = [
        f'executable = {exe}\narguments = "a b\nqueue\n',
        f"executable = {exe}\nshould_transfer_files = NO\nqueue\n",
        f"executable = {exe}\ngetenv = true\nqueue\n",
        f"executable = {exe}\nnotification = Always\nqueue\n",
    ]
    for text in bad:
        refused = pool.submit(text)
        assert refused.returncode == 2 and refused.stderr.startswith("glidein submit: error: job.sub:2: ")
    good = run_glidein(
        ["submit", "-"], input_text=f"executable = {exe}\nnotification = never\nqueue\n", env=pool.env
    )
    assert good.returncode == 0, good.stderr
    assert good.stdout.splitlines()[-1] == "1 job(s) submitted to cluster 1."  # the refusals took no id
    job = json.loads(pool.glidein("q", "-json").stdout)[0]
    assert (job["JobNotification"], job["Iwd"]) == (0, os.getcwd())


def test_subcommand_errors_print_that_subcommands_usage() -> None:
    for argv, usage in (
        (["q", "-bogus"], "usage: glidein q "),
        (["submit", "x.sub", "--nope"], "usage: glidein submit "),
        (["hold", "-what"], "usage: glidein hold "),
        (
            ["factory", "downtime", "list", "--config", "x.yaml", "--zzz"],
            "usage: glidein factory downtime list ",
        ),
    ):
        out = run_glidein(argv)
        assert out.returncode == 2 and out.stderr.startswith(usage), (argv, out.stderr)
        assert "unrecognized arguments" in out.stderr
    assert "usage: glidein [-h]" in run_glidein(["--bogus"]).stderr
    hold = run_glidein(["q", "-hold", "-schedd", "http://127.0.0.1:1"])
    assert "ignored explicit argument" not in hold.stderr and "cannot reach the schedd" in hold.stderr
