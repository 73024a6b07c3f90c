"""The relay monitor: once per factory cycle (before it), for every entry with a relay, look at
the relay (its job, its ad, a query), decide (decide.py) and act: deploy, remove, redeploy with
back-off. One log line per action; the state is saved for the entry workers (state.py).

`glidein factory relay deploy ENTRY` runs the same step for one entry (`force`: deploy now even
during a back-off; still never a second relay while one answers).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from glidein.common.errors import GlideinError
from glidein.factory.relay import state as store
from glidein.factory.relay.decide import Policy, Probe, Step, backoff_delay, decide
from glidein.factory.relay.kinds import RelayKind, relay_kind
from glidein.factory.relay.state import Phase, RelayState

log = logging.getLogger(__name__)
KindFactory = Callable[[Any, str, Path], RelayKind]


def policy_of(relay: Any) -> Policy:
    return Policy(
        lifetime=float(relay.lifetime),
        update_interval=float(relay.update_interval),
        start_timeout=float(relay.start_timeout),
        ping_failures=int(relay.ping_failures),
        backoff=float(relay.backoff),
        max_backoff=float(relay.max_backoff),
    )


def with_relay(entries: Sequence[Any]) -> list[Any]:
    return [
        e
        for e in entries
        if getattr(e, "enabled", True) and getattr(e, "relay", None) is not None and e.relay.enabled
    ]


def probe(kind: RelayKind) -> Probe:
    jobs = kind.jobs()
    if jobs is None:
        return Probe(None)
    ad = kind.find()
    return Probe(jobs, ad, kind.answers(ad) if ad is not None else False)


class RelayMonitor:
    def __init__(
        self,
        state_dir: Path,
        factory: str,
        kinds: KindFactory = relay_kind,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state_dir, self.factory, self.kinds, self.clock = Path(state_dir), factory, kinds, clock

    def tick(self, entries: Sequence[Any]) -> dict[str, RelayState]:
        """One step for every entry with an enabled relay; an entry's failure never stops another."""
        out = {}
        for entry in with_relay(entries):
            try:
                out[entry.name] = self.step(entry)
            except GlideinError as exc:
                log.warning("relay entry=%s monitor failed: %s", entry.name, exc)
            except Exception as exc:  # a bug or the bindings: this entry's relay waits, the factory goes on
                log.error("relay entry=%s monitor failed: %s: %s", entry.name, type(exc).__name__, exc)
                log.debug("relay entry=%s traceback", entry.name, exc_info=exc)
        return out

    def step(self, entry: Any, force: bool = False) -> RelayState:
        """Look, decide, act for one entry, holding its lock: the daemon and `glidein factory relay
        deploy` never act on one entry at once (never two relays)."""
        with store.locked(self.state_dir, entry.name):
            return self._step(entry, force)

    def _step(self, entry: Any, force: bool) -> RelayState:
        kind = self.kinds(entry, self.factory, self.state_dir)
        now = self.clock()
        current = store.load(self.state_dir, entry.name, entry.relay.kind)
        if force and current.phase in (Phase.DOWN, Phase.ABSENT):
            current = current.with_(next_deploy=now)
        seen = probe(kind)
        step = decide(current, seen, policy_of(entry.relay), now)
        final = self._act(kind, step, now, policy_of(entry.relay))
        store.save(self.state_dir, final)
        return final

    def _act(self, kind: RelayKind, step: Step, now: float, policy: Policy) -> RelayState:
        lines = list(step.lines)
        if step.remove:
            try:
                kind.remove(step.remove)
            except GlideinError as exc:  # removed again next cycle (still listed as retired/stray)
                lines.append(f"relay entry={step.state.entry} action=remove_failed error={exc}")
        state = step.state
        if step.deploy:
            state = self._deploy(kind, state, now, policy, lines)
        for line in lines:
            log.info("%s", line)
        return state

    def _deploy(
        self, kind: RelayKind, state: RelayState, now: float, policy: Policy, lines: list[str]
    ) -> RelayState:
        try:
            job = kind.deploy()
        except GlideinError as exc:
            failures = state.failures + 1
            delay = backoff_delay(max(2, failures), policy)
            lines.append(f"relay entry={state.entry} action=deploy_failed error={exc} retry_in={delay:.0f}s")
            return state.with_(phase=Phase.DOWN, failures=failures, next_deploy=now + delay, reason=str(exc))
        if lines:  # the line saying why it is deployed
            lines[0] += f" new_job={job}"
        return state.with_(job_id=job, deploys=state.deploys + 1)
