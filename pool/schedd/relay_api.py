"""The relay's endpoints of the schedd HTTP API (relay mode only; see relay.py).

Every call needs `Authorization: Bearer <pool token with scope "relay">`, minted with the key the
relay was started with (`--pool-key`): the factory holds the same key file.
  POST /relay/submit   {"pilots": [PilotSpec as JSON]}  -> {"relay", "accepted": [pilot ids]}
                       a pilot id the relay already has is accepted again and not queued twice
  POST /relay/status   {"ids": [pilot ids]}  -> {"relay", "pilots": {id: {"state", "backend_id",
                       "exit_code", "held_reason"}}}; pilots it does not know are left out
  POST /relay/remove   {"ids": [...]} -> {"relay", "removed": [...]}
  POST /relay/release  {"ids": [...]} -> {"relay", "released": [...]}
  GET  /relay/output/<pilot id>  -> {"relay", "pilot_id", "output": base64 (stdout and stderr)}
  GET  /relay/pilots   -> {"relay", "pilots": [{"pilot_id", "stage", "state", "backend_id",
                       "handovers"}]} (operators, tests)
Errors as the rest of the API: 400 bad input, 403 refused token, 404 not a relay / unknown pilot.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from http import HTTPStatus

from glidein.common import tokens
from glidein.common.errors import NotFoundError, SecurityError, SubmitError
from glidein.pool.schedd.relay import Relay

MAX_PILOTS = 1000  # per request
PILOT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_STRINGS = ("env", "labels", "secrets")


def route(  # noqa: PLR0917 - the request's parts, as api.py has them
    relay: Relay | None,
    key: bytes,
    method: str,
    path: str,
    authorization: str,
    body: Callable[[], dict[str, object]],
) -> tuple[HTTPStatus, object]:
    if relay is None:
        raise NotFoundError(f"{path}: this schedd is not a relay (start it with --relay-entry)")
    _authorize(key, authorization)
    reply: dict[str, object] = {"relay": relay.name}
    if method == "GET" and path == "/relay/pilots":
        reply["pilots"] = [
            {"pilot_id": p.pilot_id, "stage": p.stage, "state": p.state, "backend_id": p.backend_id,
             "handovers": p.handovers}
            for p in relay.store.all()
        ]  # fmt: skip
    elif method == "GET" and path.startswith("/relay/output/"):
        pilot_id = _pilot_id(path[len("/relay/output/") :], "path")
        output = relay.output(pilot_id)
        if output is None:
            raise NotFoundError(f"no output of pilot {pilot_id} at this relay")
        reply.update(pilot_id=pilot_id, output=base64.b64encode(output).decode("ascii"))
    elif method == "POST" and path == "/relay/submit":
        specs = _specs(body(), relay.opts.entry)
        reply["accepted"] = relay.store.add(specs, relay.clock())
    elif method == "POST" and path == "/relay/status":
        reply["pilots"] = relay.status_of(_ids(body()))
    elif method == "POST" and path in ("/relay/remove", "/relay/release"):
        column = path.rsplit("/", 1)[1]
        done = relay.store.flag(column, _ids(body()), True, relay.clock())
        reply["removed" if column == "remove" else "released"] = done
    else:
        raise NotFoundError(f"no such endpoint {method} {path}")
    return HTTPStatus.OK, reply


def _authorize(key: bytes, header: str) -> None:
    if not header.startswith("Bearer "):
        raise SecurityError("relay calls need 'Authorization: Bearer <token with scope relay>'")
    tokens.verify(key, header[len("Bearer ") :], "relay")


def _pilot_id(value: object, where: str) -> str:
    if not isinstance(value, str) or not PILOT_ID.fullmatch(value):
        raise SubmitError(f"{where}: pilot id must be 1-64 of A-Z a-z 0-9 _ -")
    return value


def _ids(data: Mapping[str, object]) -> list[str]:
    ids = data.get("ids")
    if not isinstance(ids, list) or len(ids) > 10 * MAX_PILOTS:
        raise SubmitError(f"'ids' must be a list of at most {10 * MAX_PILOTS} pilot ids")
    return [_pilot_id(value, f"ids[{n}]") for n, value in enumerate(ids)]


def _specs(data: Mapping[str, object], entry: str) -> list[dict[str, object]]:
    pilots = data.get("pilots")
    if not isinstance(pilots, list) or not 0 < len(pilots) <= MAX_PILOTS:
        raise SubmitError(f"'pilots' must be a list of 1 to {MAX_PILOTS} pilots")
    return [_spec(spec, f"pilots[{n}]", entry) for n, spec in enumerate(pilots)]


def _spec(spec: object, where: str, entry: str) -> dict[str, object]:
    """One pilot, checked field by field (the first problem named with its place)."""
    if not isinstance(spec, dict):
        raise SubmitError(f"{where}: must be an object")
    _pilot_id(spec.get("pilot_id"), f"{where}.pilot_id")
    if spec.get("entry") != entry:
        raise SubmitError(
            f"{where}.entry: this relay serves entry {entry!r}, not {str(spec.get('entry'))[:80]!r}"
        )
    argv = spec.get("argv")
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise SubmitError(f"{where}.argv: must be a non-empty list of strings")
    if not isinstance(spec.get("client", ""), str):
        raise SubmitError(f"{where}.client: must be a string")
    for name in ("cpus", "memory_mb"):
        value = spec.get(name, 1 if name == "cpus" else 0)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 31:
            raise SubmitError(f"{where}.{name}: must be a non-negative integer")
    for name in _STRINGS:
        value = spec.get(name, {})
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise SubmitError(f"{where}.{name}: must be an object of strings")
    known = {"pilot_id", "entry", "client", "argv", "cpus", "memory_mb", *_STRINGS}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise SubmitError(f"{where}: unknown field {unknown[0][:60]!r}")
    return dict(spec)
