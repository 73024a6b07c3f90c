"""The README's five-minute tour as written, on a real `glidein demo --jobs 20 --keep`: each command
of its shell block runs in its own `bash` with no environment but what `DIR/env.sh` sets (plain
`glidein submit etc/demo/jobs.sub`, `q`, `rm`, `status`, `explain`, `factory status`), and the
last one, `glidein demo --stop`, leaves nothing of the demo running."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.test_demo import _processes_using
from tests.procs import GLIDEIN

ROOT = Path(__file__).resolve().parents[2]
TOUR_START = ". /tmp/glidein-demo-XXXX/env.sh"


def tour_commands() -> list[str]:
    """The command lines of the README block that starts with `. /tmp/glidein-demo-XXXX/env.sh`."""
    blocks = re.findall(r"^```\n(.*?)^```", (ROOT / "README.md").read_text(), re.S | re.M)
    tour = [block for block in blocks if block.startswith(TOUR_START + "\n")]
    assert len(tour) == 1, f"README.md: one block starting with {TOUR_START!r}"
    return [line for line in tour[0].splitlines()[1:] if line.strip()]


def tour_names() -> tuple[set[str], set[str], set[str]]:
    """What the tour's text names: files in DIR, files in the repository, factory entries."""
    text = (ROOT / "README.md").read_text()
    tour = text[text.index("## A five-minute tour") : text.index("## Documents")]
    in_dir = set(re.findall(r"(?:DIR|\$GLIDEIN_DEMO_DIR)/([\w./-]*\w)", tour))
    in_repo = set(re.findall(r"(?<![\w/])((?:etc|docs)/[\w./-]*\w)", tour))
    return in_dir, in_repo, set(re.findall(r"\b(?:LOCAL|SLURM)_\w+", tour))


def _run(env_file: Path, command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`command` in bash with only HOME and what `env_file` sets (`env -i`)."""
    script = f". {shlex.quote(str(env_file))} && {command}"
    return subprocess.run(
        ["env", "-i", f"HOME={cwd}", "bash", "-c", script],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _check(command: str, out: str, demo: Path) -> None:
    """What each command of the tour must print."""
    words = command.split("#", maxsplit=1)[0].split()
    if words[:2] == ["glidein", "submit"]:
        assert "20 job(s) submitted to cluster 2." in out
    elif words == ["glidein", "q"]:
        assert "-- Schedd: demo_schedd" in out and re.search(r"\b2\.0\b", out)  # batch or -nobatch
    elif words[:2] == ["glidein", "rm"]:
        job = words[2] if "." in words[2] else words[2] + r"\.\d+"
        assert re.search(rf"^Job {job} marked for removal$", out, re.M)
    elif "-factory" in words:
        names = set(re.findall(r"(LOCAL_\w+)@demo@demo_factory", out))
        assert names == {"LOCAL_SlowQueue", "LOCAL_Flaky", "LOCAL_BlackHole"}
    elif "glideclient" in words:
        assert len(re.findall(r"^LOCAL_\w+@demo@demo_factory@demo_frontend\.main ", out, re.M)) == 3
    elif words[:3] == ["glidein", "frontend", "explain"]:
        assert "entry LOCAL_Flaky@demo@demo_factory" in out and "request" in out
    elif words[:3] == ["glidein", "factory", "status"]:
        assert re.search(r"^LOCAL_BlackHole .*failed validation or died at once", out, re.M)
    elif words[:3] == ["glidein", "demo", "--stop"]:
        assert f"stopped the demo in {demo}: 8 processes (collector-wms (" in out


def test_the_tour_block_is_found_and_names_the_real_files() -> None:
    commands = tour_commands()
    assert commands[0].startswith("glidein submit etc/demo/jobs.sub")
    assert commands[-1].startswith("glidein demo --stop $GLIDEIN_DEMO_DIR")
    in_dir, in_repo, entries = tour_names()
    assert {"env.sh", "factory.yaml", "frontend.yaml"} <= in_dir and "etc/demo/jobs.sub" in in_repo
    assert {"LOCAL_SlowQueue", "LOCAL_Flaky", "LOCAL_BlackHole", "SLURM_Local"} <= entries


@pytest.mark.timeout(400)
def test_readme_tour_on_a_kept_demo(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    argv = [*GLIDEIN, "demo", "--jobs", "20", "--keep", "--dir", str(demo), "--slurm", "no"]
    work = tmp_path / "checkout"  # `etc/demo/jobs.sub` as the tour names it, its output kept here
    shutil.copytree(ROOT / "etc" / "demo", work / "etc" / "demo")
    try:
        run = subprocess.run(
            [*argv, "--timeout", "180", "--interval", "2"],
            capture_output=True,
            text=True,
            timeout=260,
            check=False,
        )
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
        env_file = demo / "env.sh"
        in_dir, in_repo, entries = tour_names()
        assert [name for name in sorted(in_dir) if not (demo / name).exists()] == []
        made = {"etc/demo/out"}  # where the tour's jobs write
        assert [name for name in sorted(in_repo - made) if not (ROOT / name).exists()] == []
        configs = (demo / "factory.yaml").read_text() + (ROOT / "etc/demo/slurm_entry.yaml").read_text()
        assert [entry for entry in sorted(entries) if f"name: {entry}" not in configs] == []
        assert f"in another shell: . {env_file}" in run.stdout
        assert f"  export GLIDEIN_SCHEDD_DIR={demo / 'schedd'}" in run.stdout
        for command in tour_commands():
            result = _run(env_file, command, work)
            output = result.stdout + result.stderr
            assert result.returncode == 0, f"{command}\n{output[-3000:]}"
            _check(command, result.stdout, demo)
    finally:
        subprocess.run(
            [*GLIDEIN, "demo", "--stop", str(demo)], check=False, capture_output=True, text=True, timeout=120
        )
    assert _processes_using(demo) == []
