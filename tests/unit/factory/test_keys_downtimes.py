"""Key rotation with a grace period; downtimes by entry, frontend and security class."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from glidein.common import crypto
from glidein.common.errors import NotFoundError
from glidein.factory.downtimes import Downtime, DowntimeStore, client_downtime, entry_down
from glidein.factory.keys import load_keys


def test_keys_created_private_and_rotated_with_grace(tmp_path: Path) -> None:
    sign, box = tmp_path / "k" / "sign.pem", tmp_path / "k" / "box.pem"
    first = load_keys(sign, box, interval=100, grace=50, now=1000.0)
    assert stat.S_IMODE(box.stat().st_mode) == 0o600 and stat.S_IMODE(sign.stat().st_mode) == 0o600
    box_mtime = box.stat().st_mtime
    same = load_keys(sign, box, interval=100, grace=50, now=box_mtime + 10)
    assert same.current_id == first.current_id
    rotated = load_keys(sign, box, interval=100, grace=50, now=box_mtime + 100)
    assert rotated.current_id != first.current_id
    assert set(rotated.open_keys(box_mtime + 120)) == {rotated.current_id, first.current_id}
    assert set(rotated.open_keys(box_mtime + 151)) == {rotated.current_id}
    assert crypto.key_id(rotated.signing) == crypto.key_id(first.signing)  # the signing key stays


def test_downtime_scopes() -> None:
    dts = [
        Downtime("e1", start=100, end=200, comment="e1 down"),
        Downtime("All", "fe2", "All", start=0, end=None, comment="fe2 everywhere"),
        Downtime("e3", "fe1", "analysis", start=0, end=None),
    ]
    assert entry_down(dts, "e1", 150) is not None and entry_down(dts, "e1", 250) is None
    assert entry_down(dts, "e2", 150) is None  # a frontend-only downtime is not entry-wide
    assert client_downtime(dts, "e2", "fe2", "x", 10) is not None
    assert client_downtime(dts, "e3", "fe1", "analysis", 10) is not None
    assert client_downtime(dts, "e3", "fe1", "production", 10) is None


def test_downtime_store(tmp_path: Path) -> None:
    store = DowntimeStore(tmp_path / "f.db")
    ident = store.add(Downtime("e1", start=0, comment="x"))
    assert [d.ident for d in store.all() if d.active(10)] == [ident]
    assert store.end(20, entry="e1") == [ident]
    assert not any(d.active(30) for d in store.all())
    with pytest.raises(NotFoundError):
        store.end(40, entry="e1")
