"""Relay mode of `glidein schedd`: a site relay (issue 16) on the embedded default.

Started on a site's head node (`relay_argv`), the schedd takes PILOTS from the factory over its
signed HTTP API (relay_api.py) and hands them to the entry's own submitter inside the site (the
local simulated site, or `sbatch` on Slurm), at most `max_per_cycle` per cycle. Every cycle it
polls the backend, keeps each ended pilot's output, and its schedd ad says it is a relay
(`is_glidein = true`, `GlideinRelayEntry`, `GlideinRelayFactory`: advertise.py). Its pilots live
in the schedd's queue file (relay_store.py), so a relay killed -9 and started again picks up
where it was: nothing lost, nothing handed over twice.

Test hook: GLIDEIN_RELAY_TEST_STOP=before_backend|after_backend makes the relay stop itself
(SIGSTOP) right before / right after the backend's submit call, where a kill -9 is most
dangerous; tests kill it there. Unset in production.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from glidein.common.errors import ConfigError, GlideinError
from glidein.factory.pilot_states import PilotState
from glidein.factory.submitters.base import PilotRef, PilotSpec, Submitter, submitter_class
from glidein.pool.schedd.relay_store import QUEUED, SUBMITTED, SUBMITTING, RelayPilot, RelayStore

log = logging.getLogger(__name__)
S = PilotState
MISSING = "missing"
MAX_OUTPUT = 16 * 1024 * 1024  # the last bytes of a pilot's output the relay keeps
STOP_ENV = "GLIDEIN_RELAY_TEST_STOP"


@dataclass
class RelayOptions:
    entry: str
    factory: str
    submitter: dict[str, Any]  # the entry's `submitter` section (type local, slurm, ...)
    max_per_cycle: int = 10
    interval: float = 5.0
    lifetime: float = 0.0  # seconds the relay runs, then shuts down (0: until stopped)

    def check(self) -> None:
        if not self.entry or not self.factory:
            raise ConfigError("relay: --relay-entry and --relay-factory must not be empty")
        if self.max_per_cycle < 1:
            raise ConfigError(f"relay: --relay-max-per-cycle must be >= 1, got {self.max_per_cycle}")
        if self.interval <= 0:
            raise ConfigError(f"relay: --relay-interval must be > 0, got {self.interval:g}")
        if self.lifetime < 0:
            raise ConfigError(f"relay: --relay-lifetime must be >= 0, got {self.lifetime:g}")


def parse_submitter(text: str) -> dict[str, Any]:
    """The `--relay-submitter` JSON object; ConfigError naming the option otherwise."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"--relay-submitter: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError('--relay-submitter: must be a JSON object such as {"type": "local"}')
    return data


def make_backend(opts: RelayOptions, work_dir: Path) -> Submitter:
    """The entry's own submitter, from its forwarded parameters (validated as in the factory config)."""
    from glidein.common.config.entry import SubmitterParams

    try:
        params = TypeAdapter(SubmitterParams).validate_python(opts.submitter)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"--relay-submitter: {where}: {first['msg']}") from None
    backend: Submitter = submitter_class(params.type)(opts.entry, params, work_dir)
    return backend


def relay_argv(
    opts: RelayOptions,
    *,
    state_dir: str,
    pool_key: str,
    collector: str,
    name: str = "",
    host: str = "127.0.0.1",
    port: int = 0,
    advertise_interval: float = 10.0,
    python: str = sys.executable,
) -> list[str]:
    """The command that starts a relay for `opts.entry` (run on the head node, e.g. by a launcher)."""
    name = name or f"relay-{opts.entry}@{socket.getfqdn()}"
    return [
        python, "-m", "glidein.cli", "schedd", "--state-dir", state_dir, "--pool-key", pool_key,
        "--collector", collector, "--name", name, "--host", host, "--port", str(port),
        "--advertise-interval", f"{advertise_interval:g}",
        "--relay-entry", opts.entry, "--relay-factory", opts.factory,
        "--relay-submitter", json.dumps(opts.submitter, sort_keys=True),
        "--relay-max-per-cycle", str(opts.max_per_cycle), "--relay-interval", f"{opts.interval:g}",
        "--relay-lifetime", f"{opts.lifetime:g}",
    ]  # fmt: skip


def spec_of(pilot: RelayPilot) -> PilotSpec:
    spec = pilot.spec
    return PilotSpec(
        pilot_id=pilot.pilot_id,
        entry=str(spec["entry"]),
        client=str(spec.get("client", "")),
        argv=[str(a) for a in _list(spec, "argv")],
        env=_strings(spec, "env"),
        cpus=int(str(spec.get("cpus", 1))),
        memory_mb=int(str(spec.get("memory_mb", 0))),
        labels=_strings(spec, "labels"),
        secrets=_strings(spec, "secrets"),
    )


def _list(spec: Mapping[str, object], key: str) -> list[object]:
    value = spec.get(key, [])
    return list(value) if isinstance(value, list) else []


def _strings(spec: Mapping[str, object], key: str) -> dict[str, str]:
    value = spec.get(key, {})
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _set_event() -> threading.Event:
    event = threading.Event()
    event.set()  # not running
    return event


def _stop_here(point: str) -> None:
    if os.environ.get(STOP_ENV) == point:
        log.warning("relay stops itself at %s (%s is set: a test)", point, STOP_ENV)
        # to this very thread: it stops on its way out of the call, not some instructions later
        signal.pthread_kill(threading.get_ident(), signal.SIGSTOP)
        time.sleep(1.0)  # and should it run on a moment (resumed by SIGCONT), nothing moves meanwhile


@dataclass
class Relay:
    opts: RelayOptions
    store: RelayStore
    backend: Submitter
    out_dir: Path  # kept outputs: <out_dir>/<pilot id>.out
    name: str = "relay"
    clock: Callable[[], float] = time.time
    started: float = field(default_factory=time.time)
    done: threading.Event = field(default_factory=_set_event)  # set when `run` has returned

    def describe(self) -> dict[str, object]:
        """What /status (and so the relay's ad) says about the relay."""
        return {
            "entry": self.opts.entry,
            "factory": self.opts.factory,
            "started": int(self.started),
            "backend": self.opts.submitter.get("type", ""),
            "pilots": self.store.totals(),
        }

    def run(self, stop: threading.Event) -> None:
        """Cycles until `stop`; a failing cycle is logged and the next one tries again. At the end
        of its lifetime it sets `stop` (the schedd shuts down: the factory's monitor deploys the next)."""
        self.done.clear()
        try:
            while True:
                try:
                    self.cycle()
                except (GlideinError, OSError, ValueError) as exc:
                    log.error("relay entry=%s cycle failed: %s", self.opts.entry, exc)
                if self.opts.lifetime and self.clock() - self.started >= self.opts.lifetime:
                    log.info(
                        "relay entry=%s lifetime of %gs over: stopping", self.opts.entry, self.opts.lifetime
                    )
                    stop.set()
                if stop.wait(self.opts.interval):
                    return
        finally:
            self.done.set()

    def close(self, timeout: float = 60.0) -> None:
        """After `run` has returned (its current backend call may take a while), close the store."""
        self.done.wait(timeout)
        self.store.close()

    def cycle(self) -> dict[str, int]:
        """One pass: resolve unconfirmed hand-overs, removals, releases, new pilots, status."""
        counts = {"recovered": self.recover()}
        counts["removed"] = self._removals()
        counts["released"] = self._releases()
        counts["handed"] = self._hand_over()
        counts["ended"] = self._poll()
        if any(counts.values()):
            log.info("relay entry=%s %s", self.opts.entry, " ".join(f"{k}={v}" for k, v in counts.items()))
        return counts

    def recover(self) -> int:
        """Pilots left `submitting` (a relay killed during the hand-over, or a submit that failed):
        the backend, asked by pilot id, says whether it has them."""
        pending = self.store.in_stage(SUBMITTING)
        if not pending:
            return 0
        found = self.backend.status([PilotRef(p.pilot_id, "") for p in pending])
        now = self.clock()
        taken = {p.pilot_id: found[p.pilot_id].backend_id for p in pending if p.pilot_id in found}
        self.store.submitted(taken, now)
        self.store.requeue([p.pilot_id for p in pending if p.pilot_id not in found], now)
        for pilot in pending:
            where = f"backend_id={taken[pilot.pilot_id]}" if pilot.pilot_id in taken else "queued again"
            log.info(
                "relay entry=%s pilot=%s unconfirmed hand-over: %s", self.opts.entry, pilot.pilot_id, where
            )
        return len(pending)

    def _hand_over(self) -> int:
        taken = self.store.take(self.opts.max_per_cycle, self.clock())
        if not taken:
            return 0
        _stop_here("before_backend")
        try:
            accepted = self.backend.submit([spec_of(p) for p in taken])
        except GlideinError as exc:  # left `submitting`: the next cycle asks the backend (recover)
            log.warning(
                "relay entry=%s backend submit failed for %d pilots: %s", self.opts.entry, len(taken), exc
            )
            return 0
        _stop_here("after_backend")
        self.store.submitted(accepted, self.clock())
        for pilot_id, backend_id in accepted.items():
            log.info(
                "relay entry=%s pilot=%s handed to the backend backend_id=%s",
                self.opts.entry,
                pilot_id,
                backend_id,
            )
        return len(accepted)

    def _removals(self) -> int:
        asked = [p for p in self.store.all() if p.remove and not p.final]
        now = self.clock()
        for pilot in asked:
            if pilot.stage == QUEUED:
                self.store.set_state(pilot.pilot_id, S.REMOVED.value, now)
        handed = [PilotRef(p.pilot_id, p.backend_id) for p in asked if p.stage == SUBMITTED]
        if handed:
            self.backend.remove(handed)
            self.store.flag("remove", [r.pilot_id for r in handed], False, now)
        return len(asked)

    def _releases(self) -> int:
        asked = [PilotRef(p.pilot_id, p.backend_id) for p in self.store.all() if p.release and not p.final]
        if asked:
            self.backend.release(asked)
            self.store.flag("release", [r.pilot_id for r in asked], False, self.clock())
        return len(asked)

    def _poll(self) -> int:
        handed = self.store.in_stage(SUBMITTED)
        if not handed:
            return 0
        statuses = self.backend.status([PilotRef(p.pilot_id, p.backend_id) for p in handed])
        now = self.clock()
        changed: list[tuple[str, str, int | None, str]] = []
        ended = []
        for pilot in handed:
            status = statuses.get(pilot.pilot_id)
            if status is None:
                self._missing(pilot, now)
                continue
            if status.state.value != pilot.state or status.exit_code != pilot.exit_code:
                changed.append((pilot.pilot_id, status.state.value, status.exit_code, status.held_reason))
            if status.state in (S.COMPLETED, S.FAILED, S.REMOVED):
                ended.append(pilot.pilot_id)
        for pilot_id in ended:  # the output kept before the end is recorded: none is ever missed
            self.keep_output(pilot_id)
        self.store.set_states(changed, now)
        return len(ended)

    def _missing(self, pilot: RelayPilot, now: float) -> None:
        if pilot.state != MISSING:
            log.warning("relay entry=%s pilot=%s not listed by the backend", self.opts.entry, pilot.pilot_id)
            self.store.set_state(pilot.pilot_id, MISSING, now)

    def _backend_output(self, pilot_id: str) -> Path | None:
        where = getattr(self.backend, "stdout_path", None)
        return Path(where(pilot_id)) if where is not None else None

    def keep_output(self, pilot_id: str) -> None:
        source = self._backend_output(pilot_id)
        if source is None or not source.is_file():
            return
        self.out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.out_dir / f"{pilot_id}.out.tmp"
        tmp.write_bytes(_tail(source))
        tmp.replace(self.out_dir / f"{pilot_id}.out")

    def output(self, pilot_id: str) -> bytes | None:
        """The pilot's output (stdout and stderr): the kept copy, else what the backend has so far."""
        kept = self.out_dir / f"{pilot_id}.out"
        if kept.is_file():
            return kept.read_bytes()
        source = self._backend_output(pilot_id)
        return _tail(source) if source is not None and source.is_file() else None

    def status_of(self, ids: Sequence[str]) -> dict[str, dict[str, object]]:
        """What the relay knows of these pilots (unknown and `missing` ones are left out)."""
        out: dict[str, dict[str, object]] = {}
        for pilot_id, pilot in self.store.get(ids).items():
            if pilot.state == MISSING:
                continue
            out[pilot_id] = {
                "state": pilot.state,
                "backend_id": pilot.backend_id,
                "exit_code": pilot.exit_code,
                "held_reason": pilot.held_reason,
            }
        return out


def _tail(path: Path) -> bytes:
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - MAX_OUTPUT))
        return handle.read()


def make_relay(opts: RelayOptions, state_dir: Path, name: str) -> Relay:
    """The relay of a schedd started in relay mode; its pilots in <state_dir>/queue.sqlite."""
    opts.check()
    backend = make_backend(opts, state_dir / "site")
    store = RelayStore(state_dir / "queue.sqlite")
    relay = Relay(opts, store, backend, state_dir / "relay-output", name)
    log.info(
        "relay mode: entry=%s factory=%s backend=%s max_per_cycle=%d interval=%gs pilots=%s",
        opts.entry,
        opts.factory,
        opts.submitter.get("type"),
        opts.max_per_cycle,
        opts.interval,
        store.totals(),
    )
    return relay
