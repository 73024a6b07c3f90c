"""Relay kind `glidein` for the factory's relay monitor (factory/relay/kinds.py): glidein's own
schedd in relay mode (relay.py), deployed as a job through the entry's own submitter.

The relay job is a pilot-like job of the entry's backend (a process of the local site, a Slurm
batch job) whose command is `relay_argv`: it runs `glidein schedd --relay-entry ...` with the
relay's directory (`entries[].relay.dir`, kept across redeployments: a new relay resumes the
queue of the last), the key `<state_dir>/relay.key` (0600, created on first use; the factory
mints the relay's tokens from it), the collector `entries[].relay.collector`, and the entry's
submitter parameters (its work dir made explicit, so the relay hands pilots to the very site
the factory would). Each deployment is a new job `relay-<entry>-<hex>` named likewise
(`relay-<entry>-<hex>@<host>`): the pilots page tells which relay a pilot went through.

Wiring (factory/relay/): KINDS["glidein"] = "glidein.pool.schedd.relay_kind:GlideinRelay"; an
entry of this kind sends ALL its pilot calls (submit, status, remove, release) to
`submitter(name)` of the live relay, and while none is live to `submitter("")`, which fails
(SubmitError) unless a relay is advertised: the factory then submits nothing and, with no status,
marks no pilot lost (pilots still queued in a dead relay are not at the site: asking the site
directly would call them lost).

The relay listens on 127.0.0.1: the factory must run where the relay is reachable on loopback
(the local simulated site; a Slurm cluster of one node). Other head nodes need an address the
factory reaches, not offered yet.
"""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from glidein.common import tokens
from glidein.common.bus import Bus
from glidein.common.errors import ConfigError, GlideinError
from glidein.factory.pilot_states import PilotState
from glidein.factory.relay.decide import RelayAd
from glidein.factory.relay.kinds import Route
from glidein.factory.submitters.base import PilotRef, PilotSpec, Submitter, submitter_class
from glidein.factory.submitters.relay import RelayParams, RelaySubmitter, relay_constraint
from glidein.pool.schedd.relay import RelayOptions, relay_argv

S = PilotState
# the relay job's state as HTCondor's JobStatus, which the monitor reads (1 idle, 2 running, ...)
JOB_STATUS = {S.NEW: 1, S.PENDING: 1, S.IDLE: 1, S.RUNNING: 2, S.REMOVING: 3, S.REMOVED: 3, S.COMPLETED: 4,
              S.FAILED: 4, S.LOST: 4, S.HELD: 5}  # fmt: skip
KEEP_JOBS = 10  # ended relay jobs remembered (the monitor sees them end, then they are dropped)


def _float(ad: Any, name: str, default: float = 0.0) -> float:
    try:
        return float(ad.eval(name))
    except (KeyError, ValueError, TypeError):
        return default


class GlideinRelay:
    """RelayKind "glidein": constructed as GlideinRelay(entry, factory name, factory state dir)."""

    def __init__(self, entry: Any, factory: str, state_dir: Path) -> None:
        relay = entry.relay
        if relay.collector is None:
            raise ConfigError(f"entry {entry.name}: relay.collector is required for a glidein relay")
        self.entry, self.factory, self.state_dir = entry, factory, Path(state_dir)
        self.collector = str(relay.collector)
        self.key_file = self.state_dir / "relay.key"
        self.jobs_file = self.state_dir / "relays" / f"{entry.name}.glidein-jobs.json"
        self.backend: Submitter = submitter_class(entry.submitter.type)(
            entry.name, entry.submitter, self.state_dir
        )
        self.urls: dict[str, str] = {}

    # ------------------------------------------------------------ the relay's jobs
    def _known(self) -> list[str]:
        try:
            data = json.loads(self.jobs_file.read_text())
        except (OSError, ValueError):
            return []
        return [str(i) for i in data] if isinstance(data, list) else []

    def _remember(self, ids: Sequence[str]) -> None:
        self.jobs_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.jobs_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(list(ids)))
        tmp.replace(self.jobs_file)

    def jobs(self) -> Mapping[str, int] | None:
        known = self._known()
        if not known:
            return {}
        try:
            found = self.backend.status([PilotRef(i, "") for i in known])
        except GlideinError:
            return None
        out = {i: JOB_STATUS[found[i].state] for i in known if i in found}
        ended = [i for i in known if out.get(i, 4) not in (1, 2)]
        keep = [i for i in known if i not in ended] + ended[-KEEP_JOBS:]
        if keep != known:
            self._remember(keep)
        return out

    def remove(self, job_ids: Sequence[str]) -> None:
        found = self.backend.status([PilotRef(i, "") for i in job_ids])
        self.backend.remove([PilotRef(i, found[i].backend_id if i in found else "") for i in job_ids])

    # ------------------------------------------------------------ the relay's ad and API
    def find(self) -> RelayAd | None:
        """The freshest ad of the entry's relays (what the monitor's RelayAd holds), or None."""
        ads = Bus([self.collector], timeout=10.0).query(
            "Scheduler", relay_constraint(self.entry.name, self.factory)
        )
        if not ads:
            return None
        ad = max(ads, key=lambda a: _float(a, "GlideinRelayUpdateTime"))
        name = str(ad.eval("Name"))
        self.urls[name] = str(ad.eval("ScheddHttpAddress"))
        heard = _float(ad, "LastHeardFrom", _float(ad, "GlideinRelayUpdateTime"))
        return RelayAd(name, heard, _float(ad, "GlideinRelayStartTime"))

    def submitter(self, name: str) -> RelaySubmitter:
        """The entry's pilots' submitter while the relay `name` is live."""
        params = RelayParams(
            (self.collector,), self.factory, str(self.key_file), self.urls.get(name, ""), name=name
        )
        return RelaySubmitter(self.entry.name, params, self.state_dir)

    def answers(self, ad: Any) -> bool:
        try:
            self.submitter(str(ad.name)).status([PilotRef("relay-ping", "")])
        except GlideinError:
            return False
        return True

    def route(self, name: str) -> Route:
        return Route(name)

    # ------------------------------------------------------------ deployment
    def options(self) -> RelayOptions:
        params = self.entry.submitter.model_dump(mode="json")
        site = getattr(self.backend, "site", None) or getattr(self.backend, "out_dir", None)
        if site is not None:
            params["work_dir"] = str(site)  # the relay's default would be under its own directory
        relay = self.entry.relay
        per_cycle = int(getattr(getattr(self.entry, "limits", None), "max_per_cycle", 10) or 10)
        return RelayOptions(
            self.entry.name,
            self.factory,
            params,
            max_per_cycle=per_cycle,
            interval=min(5.0, float(relay.update_interval)),
            lifetime=float(relay.lifetime),
        )

    def deploy(self) -> str:
        if not self.key_file.exists():
            self.key_file.parent.mkdir(parents=True, exist_ok=True)
            tokens.generate_key(self.key_file)
        relay = self.entry.relay
        job_id = f"relay-{self.entry.name}-{uuid.uuid4().hex[:8]}"
        argv = relay_argv(
            self.options(),
            state_dir=relay.relay_dir(self.entry.name),
            pool_key=str(self.key_file),
            collector=self.collector,
            name=f"{job_id}@{socket.getfqdn()}",
            advertise_interval=float(relay.update_interval),
        )
        env = {"SLURM_CONF": relay.slurm_conf} if relay.slurm_conf else {}
        spec = PilotSpec(job_id, self.entry.name, "relay", argv, env=env)
        self.backend.submit([spec])  # SubmitError: the monitor backs off
        self._remember([*self._known(), job_id])
        return job_id
