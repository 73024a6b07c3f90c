"""factory/web.py pure parts: report tokens, the report key file, storing logs and reports."""

from __future__ import annotations

import json
from http import HTTPStatus
from pathlib import Path

import pytest

from glidein.common.errors import ConfigError
from glidein.factory.web import WebConfig, load_or_create_report_key, read_report, report_token, store


def test_report_key_is_created_0600_and_reused(tmp_path: Path) -> None:
    key = load_or_create_report_key(tmp_path / "keys" / "report.key")
    assert len(key) == 32 and (tmp_path / "keys" / "report.key").stat().st_mode & 0o777 == 0o600
    assert load_or_create_report_key(tmp_path / "keys" / "report.key") == key
    assert report_token(key, "p1") != report_token(key, "p2") and len(report_token(key, "p1")) == 64
    (tmp_path / "bad.key").write_text("zz\n")
    with pytest.raises(ConfigError, match=r"bad\.key: not a hex report key"):
        load_or_create_report_key(tmp_path / "bad.key")


def test_log_is_capped_and_report_is_final(tmp_path: Path) -> None:
    config = WebConfig(stage_dir=tmp_path, state_dir=tmp_path / "state", max_log_bytes=10)
    assert store(config, "p1", "log", b"0123456") == (HTTPStatus.OK, "")
    assert store(config, "p1", "log", b"789abcdef") == (HTTPStatus.OK, "")
    assert (tmp_path / "state" / "pilots" / "p1" / "log.txt").read_bytes() == b"0123456789"
    assert store(config, "p1", "log", b"more")[0] == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert store(config, "p1", "report", b'{"status": "maybe"}')[0] == HTTPStatus.BAD_REQUEST
    report = {"status": "success", "exit_code": 0}
    assert store(config, "p1", "report", json.dumps(report).encode()) == (HTTPStatus.OK, "")
    assert read_report(tmp_path / "state", "p1") == report
    assert store(config, "p1", "report", json.dumps(report).encode())[0] == HTTPStatus.CONFLICT
    assert read_report(tmp_path / "state", "nobody") is None


def test_unwritable_state_dir_is_a_503_then_the_report_is_taken(tmp_path: Path) -> None:
    config = WebConfig(stage_dir=tmp_path, state_dir=tmp_path / "state")
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "pilots").write_text("not a directory")  # as a full or read-only disk fails
    report = json.dumps({"status": "failure", "failure_class": "Network"}).encode()
    status, why = store(config, "p1", "report", report)
    assert status == HTTPStatus.SERVICE_UNAVAILABLE and "cannot store the report" in why
    assert store(config, "p1", "log", b"x")[0] == HTTPStatus.SERVICE_UNAVAILABLE
    (tmp_path / "state" / "pilots").unlink()
    assert store(config, "p1", "report", report) == (HTTPStatus.OK, "")
