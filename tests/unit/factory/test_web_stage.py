"""The factory web serves regular files of the stage dir only, never what a symlink points to."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from glidein.factory.web import PilotWebServer, WebConfig, make_server


@pytest.fixture
def web(tmp_path: Path) -> Iterator[tuple[PilotWebServer, Path]]:
    stage, state = tmp_path / "stage", tmp_path / "state"
    stage.mkdir()
    state.mkdir()
    server = make_server(WebConfig(stage, state, port=0))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, stage
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def get(server: PilotWebServer, name: str) -> tuple[int, bytes]:
    url = f"http://127.0.0.1:{server.server_address[1]}/{name}"
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return int(reply.status), reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def test_symlinks_out_of_the_stage_are_not_served(web: tuple[PilotWebServer, Path], tmp_path: Path) -> None:
    server, stage = web
    secret = tmp_path / "state" / "signing.key"
    secret.write_text("PRIVATE KEY\n")
    (stage / "description.abc.json").write_text("{}\n")
    (stage / "signing.key").symlink_to(secret)  # a link planted in the stage dir
    (stage / "outside").symlink_to(tmp_path / "state")
    assert get(server, "description.abc.json") == (200, b"{}\n")
    assert get(server, "signing.key")[0] == 404
    assert get(server, "outside")[0] == 404
