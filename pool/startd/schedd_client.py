"""The startd's side of the schedd HTTP API (see pool/schedd/api.py). Stdlib, Python >= 3.6."""

import json
import urllib.error
import urllib.request
from typing import Any, Dict, Optional

from glidein.pool.startd.slot import Pairs


class ScheddUnavailable(Exception):
    """The schedd could not be reached or answered an error; try again later."""


class Rejected(ScheddUnavailable):
    """The schedd refused the request itself (HTTP 400, 404, 413...): sending it again cannot help."""


class ClaimGone(Exception):
    """The schedd no longer knows the claim (lease lost, job removed): stop the job."""


class Refused(Exception):
    """The schedd refused our token."""


class ScheddClient(object):
    def __init__(self, url: str, token: str, timeout: float = 30.0) -> None:
        self.url = url
        if not url.startswith(("http://", "https://")):
            raise ValueError("schedd_url must be http:// or https://, got {!r}".format(url))
        self.token = token
        self.timeout = timeout

    def _post(self, path: str, body: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        data = json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self.url + path, data=data, method="POST")  # noqa: S310 - checked in __init__
        request.add_header("Content-Type", "application/json")
        request.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:  # noqa: S310 - the schedd URL from startd.json
                raw = reply.read()
                status = reply.status
        except urllib.error.HTTPError as exc:
            message = exc.read().decode("utf-8", "replace")[:300]
            if exc.code in (401, 403):
                raise Refused(message) from None
            if exc.code == 410:
                raise ClaimGone(message) from None
            if 400 <= exc.code < 500 and exc.code not in (408, 429):
                raise Rejected("HTTP {}: {}".format(exc.code, message)) from None
            raise ScheddUnavailable("HTTP {}: {}".format(exc.code, message)) from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ScheddUnavailable(str(getattr(exc, "reason", exc))) from None
        if status == 204 or not raw:
            return None
        try:
            data = json.loads(raw.decode("utf-8"))
        except ValueError:
            raise ScheddUnavailable("schedd answered something that is not JSON") from None
        if not isinstance(data, dict):
            raise ScheddUnavailable("schedd answered a JSON value that is not an object")
        return data

    def claim(self, name: str, slot: Pairs) -> Optional[Dict[str, Any]]:
        return self._post("/claim", {"name": name, "slot": [list(pair) for pair in slot]})

    def heartbeat(self, claim_id: str) -> None:
        self._post("/claims/{}/heartbeat".format(claim_id), {})

    def complete(self, claim_id: str, exit_code: int, stdout_b64: str, stderr_b64: str) -> None:
        body = {"exit_code": exit_code, "stdout": stdout_b64, "stderr": stderr_b64}
        self._post("/claims/{}/complete".format(claim_id), body)

    def release(self, claim_id: str, reason: str) -> None:
        self._post("/claims/{}/release".format(claim_id), {"reason": reason})
