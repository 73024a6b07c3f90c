"""The output block a self-contained pilot writes into its stdout (pilot_wrapper/unpack.py) and what
the factory accepts of it (factory/selfcontained.py): round trip, bounds checked before parsing,
one clear line for what is refused."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import logging
from pathlib import Path

import pytest

from glidein.factory import selfcontained
from glidein.factory.selfcontained import UnpackError, collect, read_block
from glidein.pilot_wrapper import unpack

REPORT = {"pilot_id": "p1", "status": "success", "failure_class": None, "step": "startd", "exit_code": 0}


def block_of(body: object) -> bytes:
    text = base64.b64encode(gzip.compress(json.dumps(body).encode())).decode()
    lines = [text[i : i + 76] for i in range(0, len(text), 76)]
    end = f"{unpack.OUTPUT_END}{hashlib.sha256(text.encode()).hexdigest()} ===="
    return "\n".join([unpack.OUTPUT_BEGIN, *lines, end, ""]).encode()


def test_round_trip_through_noisy_output_keeps_the_log_tail_and_the_report() -> None:
    log_text = "".join(f"line {i}\n" for i in range(100000))  # ~1 MB: only the tail comes back
    block = unpack.output_block(REPORT, log_text).encode()
    # stderr lines interleaved in the block (the local site merges stdout and stderr)
    noisy = block.replace(b"\n", b"\n2026-12-07T06:00:00 report to factory failed\n", 3)
    report, text = read_block(b"earlier output\n" + noisy + b"later output\n")
    assert report == REPORT
    assert text.endswith("line 99999\n") and len(text.encode()) <= unpack.MAX_LOG_BACK
    assert "line 0\n" not in text


def test_a_huge_report_keeps_its_outcome() -> None:
    report = dict(REPORT, results=[{"output": "x" * 1000}] * 1000)
    got, _ = read_block(unpack.output_block(report, "").encode())
    assert got == REPORT | {"time": None, "message": None} and "results" not in got


@pytest.mark.parametrize(
    ("output", "why"),
    [
        (b"no block at all\n", "no output block"),
        (unpack.output_block(REPORT, "log")[:-60].encode(), "no end line"),
        (block_of({"format": 1, "report": {"status": "maybe"}, "log": ""}), "needs status"),
        (block_of([1, 2]), "needs status"),
    ],
)
def test_refused_blocks_say_why(output: bytes, why: str) -> None:
    with pytest.raises(UnpackError, match=why):
        read_block(output)


def test_one_changed_character_fails_the_block_hash() -> None:
    block = bytearray(unpack.output_block(REPORT, "some log").encode())
    index = block.index(b"\n", len(unpack.OUTPUT_BEGIN) + 2) - 3
    block[index] = ord("A") if block[index] != ord("A") else ord("B")
    with pytest.raises(UnpackError, match="SHA-256 differs"):
        read_block(bytes(block))


def test_sizes_are_bounded_before_decoding() -> None:
    big = b"A" * (selfcontained.MAX_BLOCK + 10)
    output = unpack.OUTPUT_BEGIN.encode() + b"\n" + big + b"\n" + unpack.OUTPUT_END.encode() + b"0" * 64
    with pytest.raises(UnpackError, match="larger than"):
        read_block(output)
    bomb = {"format": 1, "report": REPORT, "log": "\0" * (selfcontained.MAX_JSON + 1)}  # small once gzip'd
    with pytest.raises(UnpackError, match="unpacked"):
        read_block(block_of(bomb))


def test_collect_stores_once_and_refuses_with_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "p1.out"
    out.write_text("stuff\n" + unpack.output_block(REPORT, "the pilot log\n"))
    assert collect(tmp_path / "state", "p1", out) == "stored"
    stored = tmp_path / "state" / "pilots" / "p1"
    assert json.loads((stored / "report.json").read_text()) == REPORT
    assert (stored / "log.txt").read_text() == "the pilot log\n"
    assert collect(tmp_path / "state", "p1", out) == "already"
    bad = tmp_path / "p2.out"
    bad.write_text("killed before the end\n")
    with caplog.at_level(logging.WARNING):
        assert collect(tmp_path / "state", "p2", bad) == "refused"
        assert collect(tmp_path / "state", "p2", bad) == "already"  # read once: no repeated line
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [f"pilot=p2 packed output refused: no output block in the pilot's stdout ({bad})"]
    assert collect(tmp_path / "state", "p3", tmp_path / "missing.out") == "refused"
