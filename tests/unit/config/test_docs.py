"""docs/CONFIG.md is generated from the schema and must be up to date."""

from __future__ import annotations

from pathlib import Path

from glidein.common.config import docs


def test_config_reference_is_up_to_date() -> None:
    assert docs.DOC_PATH.read_text() == docs.render(), (
        "docs/CONFIG.md is out of date: run `python -m glidein.common.config.docs`"
    )


def test_reference_documents_every_field_with_its_default() -> None:
    text = docs.render()
    assert "| `max_idle` | int >= 0 | `2000` | Idle (queued) pilots of all clients. |" in text
    assert "| `hash_algorithm` | 'sha1' or 'sha256' | `'sha256'` |" in text
    assert "### `entries[].submitter (type: slurm)` (SlurmSubmitter)" in text
    assert "### `groups[]` (Group)" in text


def test_check_mode_detects_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "CONFIG.md"
    stale.write_text("old\n")
    assert docs.main(["--check", "--output", str(stale)]) == 1
    assert docs.main(["--output", str(stale)]) == 0
    assert docs.main(["--check", "--output", str(stale)]) == 0
