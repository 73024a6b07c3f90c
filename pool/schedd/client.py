"""A small client of the schedd HTTP API, used by the CLI (and usable by the frontend).

Where the CLI finds the schedd (first that applies):
  URL:     `-schedd URL`, else $GLIDEIN_SCHEDD, else <state dir>/schedd.address
  state:   `--state-dir`/`-state-dir`, else $GLIDEIN_SCHEDD_DIR, else ~/.glidein/schedd
  secret:  <state dir>/local.secret (needed by submit, rm, hold and release only)
"""

from __future__ import annotations

import getpass
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from glidein.common.errors import GlideinError, NotFoundError, SecurityError, SubmitError

DEFAULT_STATE_DIR = "~/.glidein/schedd"


def default_state_dir() -> Path:
    return Path(os.environ.get("GLIDEIN_SCHEDD_DIR") or DEFAULT_STATE_DIR).expanduser()


@dataclass
class ScheddClient:
    url: str
    secret: str | None = None
    timeout: float = 120.0
    token: str | None = None  # a pool token, sent as `Authorization: Bearer` (a relay's /relay/* calls)

    @classmethod
    def locate(cls, url: str | None = None, state_dir: str | None = None) -> ScheddClient:
        directory = Path(state_dir).expanduser() if state_dir else default_state_dir()
        url = url or os.environ.get("GLIDEIN_SCHEDD")
        if not url:
            try:
                url = (directory / "schedd.address").read_text().strip()
            except OSError:
                raise GlideinError(
                    f"no schedd address: pass -schedd URL, set GLIDEIN_SCHEDD, or start a schedd with "
                    f"--state-dir {directory}"
                ) from None
        try:
            secret: str | None = (directory / "local.secret").read_text().strip()
        except OSError:
            secret = None
        return cls(url.rstrip("/"), secret)

    def _call(self, method: str, path: str, body: object = None) -> object:
        data = None if body is None else json.dumps(body).encode()
        if not self.url.startswith(("http://", "https://")):
            raise GlideinError(f"schedd URL must be http:// or https://, got {self.url!r}")
        request = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310 - checked above
        request.add_header("Content-Type", "application/json")
        if self.secret:
            request.add_header("X-Glidein-Secret", self.secret)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:  # noqa: S310 - the schedd URL the user gave
                raw = reply.read()
        except urllib.error.HTTPError as exc:
            raise _error(exc) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise GlideinError(f"cannot reach the schedd at {self.url}: {reason}") from None
        return json.loads(raw) if raw else None

    def call(self, method: str, path: str, body: object = None) -> dict[str, object]:
        """Any endpoint that answers a JSON object (the relay's /relay/*)."""
        result = self._call(method, path, body)
        if not isinstance(result, dict):
            raise GlideinError(f"schedd at {self.url}: {method} {path} did not answer a JSON object")
        return result

    def status(self) -> dict[str, object]:
        result = self._call("GET", "/status")
        assert isinstance(result, dict)
        return result

    def submit(self, text: str, filename: str, iwd: str, owner: str) -> dict[str, object]:
        body = {"text": text, "filename": filename, "iwd": iwd, "owner": owner}
        result = self._call("POST", "/submit", body)
        assert isinstance(result, dict)
        return result

    def jobs(
        self, constraint: str = "true", include_done: bool = False, limit: int = 0
    ) -> list[dict[str, object]]:
        query = {"constraint": constraint, "all": "1" if include_done else "0", "limit": str(limit)}
        result = self._call("GET", "/jobs?" + urllib.parse.urlencode(query))
        assert isinstance(result, list)
        return result

    def autoclusters(self, constraint: str = "true") -> list[dict[str, object]]:
        result = self._call("GET", "/autoclusters?" + urllib.parse.urlencode({"constraint": constraint}))
        assert isinstance(result, list)
        return result

    def remove(self, ids: list[str], constraint: str | None = None) -> list[str]:
        return self.act("remove", ids, constraint)

    def act(
        self, verb: str, ids: list[str], constraint: str | None = None, reason: str | None = None
    ) -> list[str]:
        """`verb` ("remove", "hold", "release") on jobs by id and/or constraint; the ids acted on."""
        body = {"ids": ids, "constraint": constraint, "user": getpass.getuser(), "reason": reason}
        result = self._call("POST", f"/{verb}", body)
        assert isinstance(result, dict)
        key = {"remove": "removed", "hold": "held", "release": "released"}[verb]
        return [str(job) for job in result.get(key, [])]


def _error(exc: urllib.error.HTTPError) -> GlideinError:
    try:
        message = str(json.loads(exc.read()).get("error", exc.reason))
    except (ValueError, AttributeError, OSError):
        message = str(exc.reason)
    if exc.code in (401, 403):
        return SecurityError(message)
    if exc.code in (404, 410):
        return NotFoundError(message)
    return SubmitError(message)
