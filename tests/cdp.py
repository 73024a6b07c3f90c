"""A tiny Chrome DevTools Protocol client over `--remote-debugging-pipe` (stdlib only).

Chromium reads commands from fd 3 and writes replies/events to fd 4, each a JSON message
ending in NUL; no WebSocket needed. Used by the browser tests with Debian's /usr/bin/chromium.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
]


class CDPError(Exception):
    pass


def _high_pipe() -> tuple[int, int]:
    """A pipe whose fds are >= 10, so the shell can move them onto 3 and 4 without clobbering."""
    r, w = os.pipe()
    high = fcntl.fcntl(r, fcntl.F_DUPFD_CLOEXEC, 10), fcntl.fcntl(w, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(r)
    os.close(w)
    return high


class Browser:
    """One headless Chromium with a fresh profile; `open_page` gives a CDP session on a new tab."""

    def __init__(self, log_path: Path, window: tuple[int, int] = (1280, 900)) -> None:
        self.profile = tempfile.mkdtemp(prefix="glidein-chromium-")
        to_child_r, self._to_child = _high_pipe()
        self._from_child, from_child_w = _high_pipe()
        flags = [*FLAGS, f"--user-data-dir={self.profile}", f"--window-size={window[0]},{window[1]}"]
        # bash (dash takes single-digit fds only) moves our pipe ends onto fds 3 and 4, then becomes chromium.
        script = f'exec 3<&{to_child_r} 4>&{from_child_w}; exec "$0" "$@"'
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(
                ["bash", "-c", script, CHROMIUM, *flags, "about:blank"],
                pass_fds=(to_child_r, from_child_w),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session: str | None = None,
        timeout: float = 20.0,
    ) -> dict[str, Any]:
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._receive(time.monotonic() + timeout)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise CDPError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))
            self.events.append(reply)

    def wait_event(self, method: str, session: str, timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for i, event in enumerate(self.events):
                if event.get("method") == method and event.get("sessionId") == session:
                    return self.events.pop(i)
            self.events.append(self._receive(deadline))

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_child], [], [], left)[0]:
                raise CDPError("timed out waiting for chromium")
            data = os.read(self._from_child, 1 << 20)
            if not data:
                raise CDPError(f"chromium closed the pipe (exit {self.proc.poll()})")
            self._buf += data
        raw, _, self._buf = self._buf.partition(b"\0")
        return dict(json.loads(raw))

    def open_page(self) -> str:
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = str(self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"])
        self.call("Page.enable", session=session)
        self.call("Network.enable", session=session)
        return session

    def navigate(self, session: str, url: str) -> None:
        self.events = [e for e in self.events if e.get("sessionId") != session]
        self.call("Page.navigate", {"url": url}, session)
        self.wait_event("Page.loadEventFired", session)

    def responses(self, session: str) -> dict[str, int]:
        """URL -> HTTP status of every response seen on the page since its last navigation."""
        return {
            e["params"]["response"]["url"]: int(e["params"]["response"]["status"])
            for e in self.events
            if e.get("method") == "Network.responseReceived" and e.get("sessionId") == session
        }

    def evaluate(self, session: str, expression: str) -> Any:
        """The JSON value of `expression` (promises are awaited)."""
        params = {"expression": expression, "returnByValue": True, "awaitPromise": True}
        result = self.call("Runtime.evaluate", params, session)
        if "exceptionDetails" in result:
            raise CDPError(f"javascript failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, session: str, path: Path) -> None:
        data = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session)
        path.write_bytes(base64.b64decode(data["data"]))

    def close(self) -> None:
        with contextlib.suppress(CDPError, OSError):
            self.call("Browser.close", timeout=5.0)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        for fd in (self._to_child, self._from_child):
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(self.profile, ignore_errors=True)
