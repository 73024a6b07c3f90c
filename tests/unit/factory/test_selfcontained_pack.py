"""Packing a stage into a self-contained pilot (factory/selfcontained.py): what is packed, one file
per stage, old ones pruned, and the batch-script form that carries it verbatim."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from glidein.common.errors import SubmitError
from glidein.factory import selfcontained, staging


def _stage(tmp: Path, constant: str) -> Path:
    stage_dir = tmp / "stage"
    spec = staging.StagingSpec(stage_dir, "http://127.0.0.1:9", entries={"e1": []})
    spec.entry_constants = {"e1": {"GLIDEIN_Site": constant}}
    staging.stage(spec)
    return stage_dir


def test_the_packed_pilot_holds_the_wrapper_and_every_file_of_every_level(tmp_path: Path) -> None:
    stage_dir = _stage(tmp_path, "A")
    pilot = selfcontained.pack(stage_dir, tmp_path / "packed")
    data = pilot.path.read_bytes()
    head, _, payload = data.partition(b"\n" + selfcontained.PAYLOAD_LINE.encode())
    assert head.startswith(b"#!/usr/bin/env python3") and os.access(pilot.path, os.X_OK)
    assert hashlib.sha256(payload).hexdigest() == pilot.sha256
    names = {line.split(b" ")[1].decode() for line in payload.splitlines()}
    staged = {p.name for p in stage_dir.iterdir()} - {"stages.json", "current.json"}
    assert names == {"glidein_startup.py"} | {f"stage/{n}" for n in staged}
    assert pilot.args() == ["-packed_sha256", pilot.sha256]


def test_one_file_per_stage_and_old_ones_pruned(tmp_path: Path) -> None:
    out = tmp_path / "packed"
    first = selfcontained.pack(_stage(tmp_path, "A"), out)
    assert selfcontained.pack(tmp_path / "stage", out) == first  # same stage: same file
    old = out / "glidein_pilot.0123456789abcdef0123.py"
    old.write_text("an old stage's pilot")
    os.utime(old, (1, 1))
    second = selfcontained.pack(_stage(tmp_path, "B"), out, keep_s=3600)
    assert second.path != first.path and second.sha256 != first.sha256
    assert not old.exists() and first.path.exists()  # the previous one is recent: kept


def test_a_batch_script_carries_the_pilot_byte_for_byte(tmp_path: Path) -> None:
    pilot = selfcontained.pack(_stage(tmp_path, "A"), tmp_path / "packed")
    argv = ["python3", str(pilot.path), "-entry", "e 1", *pilot.args()]
    embedded = selfcontained.shell_embedded(argv)
    assert embedded is not None and str(pilot.path) not in "\n".join(embedded[0])
    lines, command = embedded
    assert command.endswith(f"\"$packed\" -entry 'e 1' -packed_sha256 {pilot.sha256}")
    script = "\n".join([*lines, 'cat "$packed"; rm -f "$packed"', ""])
    (tmp_path / "job.sh").write_text(script)
    out = subprocess.run(["/bin/sh", str(tmp_path / "job.sh")], capture_output=True, check=True, timeout=30)
    assert out.stdout == pilot.path.read_bytes()
    assert selfcontained.shell_embedded(["python3", "glidein_startup.py", "-entry", "e1"]) is None


def test_a_pilot_holding_the_end_line_is_not_embedded(tmp_path: Path) -> None:
    bad = tmp_path / "glidein_pilot.x.py"
    bad.write_text(f"print(1)\n{selfcontained.HEREDOC}\nrm -rf x\n")
    with pytest.raises(SubmitError, match="cannot embed"):
        selfcontained.shell_embedded(["python3", str(bad), "-packed_sha256", "00"])


def test_the_stage_the_arguments_come_from_is_packed_even_after_a_newer_one(tmp_path: Path) -> None:
    _stage(tmp_path, "A")
    older = staging.load_result(tmp_path / "stage")
    _stage(tmp_path, "B")  # written between the cycle's reading of the stage and its packing
    newer = staging.load_result(tmp_path / "stage")
    pilot = selfcontained.pack(tmp_path / "stage", tmp_path / "packed", result=older)
    payload = pilot.path.read_bytes().partition(selfcontained.PAYLOAD_LINE.encode())[2]
    names = {line.split(b" ")[1].decode() for line in payload.splitlines()}

    def signature(result: staging.StageResult) -> str:
        return f"stage/signature.{result.entries['e1'].descript.split('.')[1]}.txt"

    assert signature(older) in names and signature(newer) not in names
    assert selfcontained.pack(tmp_path / "stage", tmp_path / "packed").path != pilot.path  # the newer
