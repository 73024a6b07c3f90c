"""Pilots through a site relay: glidein's own schedd in relay mode on the site's head node.

The relay is found by its ad on the factory's collectors (MyType "Scheduler", `is_glidein =?=
true`, GlideinRelayEntry == the entry, GlideinRelayFactory == the factory; the freshest wins) and
spoken to over its HTTP API (pool/schedd/relay_api.py) with a pool token of scope "relay" minted
from `key_file`, the key the relay was started with. The relay hands the pilots to the entry's
own submitter inside the site and answers their status and output.

Which relay a pilot went through: backend ids are `<relay name>/<id>` (the pilot id until the
relay has handed it over, then the site's own id), and `relay_name` is the relay of the last call.
A relay that cannot be found or reached is a SubmitError: the factory submits nothing and, the
status unknown, marks nothing lost.

Parameters (any object with these attributes, e.g. RelayParams): collectors (list of host:port),
factory (name), key_file (pool key path), url (optional: skip the lookup), timeout (seconds),
name (optional: only the relay of this name).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from glidein.common import classads, tokens
from glidein.common.bus import Bus
from glidein.common.errors import GlideinError, SubmitError
from glidein.factory.pilot_states import PilotState
from glidein.factory.submitters.base import BackendStatus, PilotRef, PilotSpec
from glidein.pool.schedd.client import ScheddClient

log = logging.getLogger(__name__)
TOKEN_LIFETIME_S = 300
SUBMIT_CHUNK = 500  # pilots per submit call (the relay takes at most 1000)
IDS_CHUNK = 5000  # pilot ids per status/remove/release call (the relay takes at most 10000)


@dataclass(frozen=True)
class RelayParams:
    collectors: tuple[str, ...] = ()
    factory: str = ""
    key_file: str = ""
    url: str = ""
    timeout: float = 30.0
    name: str = ""  # this relay only (the one the factory's monitor found live)


@dataclass(frozen=True)
class RelayAd:
    name: str
    url: str
    updated: int


def relay_constraint(entry: str, factory: str, name: str = "") -> str:
    named = f" && Name =?= {classads.quote(name)}" if name else ""
    return (
        f"is_glidein =?= true && GlideinRelayEntry =?= {classads.quote(entry)}"
        f" && GlideinRelayFactory =?= {classads.quote(factory)}{named}"
    )


def freshest(ads: Sequence[classads.ClassAd]) -> RelayAd | None:
    """The relay ad updated last (a relay restarted on another port leaves a stale ad a while)."""
    found = []
    for ad in ads:
        try:
            name, url = str(ad.eval("Name")), str(ad.eval("ScheddHttpAddress"))
            updated = int(str(ad.eval("GlideinRelayUpdateTime")))
        except (KeyError, ValueError, TypeError):
            continue
        found.append(RelayAd(name, url, updated))
    return max(found, key=lambda r: r.updated, default=None)


def find_relay(collectors: Sequence[str], entry: str, factory: str, name: str = "") -> RelayAd | None:
    ads = Bus(list(collectors), timeout=10.0).query("Scheduler", relay_constraint(entry, factory, name))
    return freshest(ads)


def spec_json(spec: PilotSpec) -> dict[str, object]:
    return {
        "pilot_id": spec.pilot_id,
        "entry": spec.entry,
        "client": spec.client,
        "argv": list(spec.argv),
        "env": dict(spec.env),
        "cpus": spec.cpus,
        "memory_mb": spec.memory_mb,
        "labels": dict(spec.labels),
        "secrets": dict(spec.secrets),
    }


class RelaySubmitter:
    def __init__(self, entry: str, params: object, work_dir: Path) -> None:
        self.entry = entry
        collectors = getattr(params, "collectors", None) or ()
        self.collectors = [collectors] if isinstance(collectors, str) else [str(c) for c in collectors]
        self.factory = str(getattr(params, "factory", "") or "")
        self.key_file = str(getattr(params, "key_file", "") or "")
        self.url = str(getattr(params, "url", "") or "")
        self.timeout = float(getattr(params, "timeout", 30.0) or 30.0)
        self.name = str(getattr(params, "name", "") or "")
        self.out_dir = Path(work_dir) / "relay" / entry
        self.relay_name = ""
        self._client: ScheddClient | None = None

    def status_key(self) -> str:
        return f"relay:{self.factory}:{self.entry}"

    def client(self) -> ScheddClient:
        """A client of the entry's relay (looked up once per submitter), with a fresh token."""
        if self._client is None:
            url, name = self.url, self.url
            if not url:
                try:
                    found = find_relay(self.collectors, self.entry, self.factory, self.name)
                except GlideinError as exc:
                    raise SubmitError(f"entry {self.entry}: cannot look up its relay: {exc}") from None
                if found is None:
                    raise SubmitError(
                        f"entry {self.entry}: no relay advertised on {','.join(self.collectors) or '(none)'}"
                        f" ({relay_constraint(self.entry, self.factory, self.name)})"
                    )
                url, name = found.url, found.name
            self.relay_name = name
            self._client = ScheddClient(url.rstrip("/"), timeout=self.timeout)
        try:
            key = tokens.load_key(self.key_file)
        except GlideinError as exc:
            raise SubmitError(f"entry {self.entry}: relay key: {exc}") from None
        self._client.token = tokens.mint(
            key, f"factory:{self.factory}", ["relay"], TOKEN_LIFETIME_S, self.factory
        )
        return self._client

    def _call(self, method: str, path: str, body: object = None) -> dict[str, object]:
        client = self.client()
        try:
            reply = client.call(method, path, body)
        except GlideinError as exc:
            raise SubmitError(f"entry {self.entry}: relay {self.relay_name}: {exc}") from None
        self.relay_name = str(reply.get("relay") or self.relay_name)
        return reply

    def submit(self, pilots: Sequence[PilotSpec], route: Mapping[str, str] | None = None) -> dict[str, str]:
        """`route` (the relay monitor's submit commands) has nothing to say to an embedded relay."""
        out: dict[str, str] = {}
        for start in range(0, len(pilots), SUBMIT_CHUNK):
            chunk = [spec_json(p) for p in pilots[start : start + SUBMIT_CHUNK]]
            try:
                reply = self._call("POST", "/relay/submit", {"pilots": chunk})
            except SubmitError:
                if out:
                    break  # keep what was accepted; the rest waits for the next cycle
                raise
            accepted = reply.get("accepted")
            if not isinstance(accepted, list):
                raise SubmitError(f"entry {self.entry}: relay {self.relay_name} answered no 'accepted' list")
            out.update((str(pid), f"{self.relay_name}/{pid}") for pid in accepted)
        return out

    def status(self, pilots: Sequence[PilotRef]) -> dict[str, BackendStatus]:
        out: dict[str, BackendStatus] = {}
        for start in range(0, len(pilots), IDS_CHUNK):
            ids = [p.pilot_id for p in pilots[start : start + IDS_CHUNK]]
            known = self._call("POST", "/relay/status", {"ids": ids}).get("pilots")
            if not isinstance(known, dict):
                raise SubmitError(f"entry {self.entry}: relay {self.relay_name} answered no 'pilots' object")
            for pilot_id, data in known.items():
                try:
                    out[str(pilot_id)] = _status(str(pilot_id), data, self.relay_name)
                except (KeyError, ValueError, TypeError):
                    relay = self.relay_name
                    log.warning("entry=%s relay %s: bad status for pilot %s", self.entry, relay, pilot_id)
        return out

    def remove(self, pilots: Sequence[PilotRef]) -> None:
        self._each("/relay/remove", pilots)

    def release(self, pilots: Sequence[PilotRef]) -> None:
        self._each("/relay/release", pilots)

    def _each(self, path: str, pilots: Sequence[PilotRef]) -> None:
        for start in range(0, len(pilots), IDS_CHUNK):
            self._call("POST", path, {"ids": [p.pilot_id for p in pilots[start : start + IDS_CHUNK]]})

    def stdout_path(self, pilot_id: str) -> Path:
        """The pilot's output, fetched from the relay into <work dir>/relay/<entry>/<pilot id>.out
        (the path is returned even when the fetch failed: one warning, the file then absent)."""
        path = self.out_dir / f"{pilot_id}.out"
        try:
            reply = self._call("GET", f"/relay/output/{pilot_id}")
            data = base64.b64decode(str(reply.get("output", "")), validate=True)
            self.out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
        except (SubmitError, OSError, binascii.Error) as exc:
            log.warning(
                "entry=%s pilot=%s cannot fetch its output from the relay: %s", self.entry, pilot_id, exc
            )
        return path


def _status(pilot_id: str, data: object, relay: str) -> BackendStatus:
    if not isinstance(data, dict):
        raise TypeError("not an object")
    code = data.get("exit_code")
    return BackendStatus(
        pilot_id,
        PilotState(str(data["state"])),
        f"{relay}/{data.get('backend_id') or pilot_id}",
        code if isinstance(code, int) and not isinstance(code, bool) else None,
        str(data.get("held_reason") or ""),
    )
