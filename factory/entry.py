"""Per-entry decisions (pure): how many pilots to submit, which to remove, which held ones to release.

glideinWMS semantics: a client (frontend.group) asks for `ReqIdleGlideins` idle pilots and at most
`ReqMaxGlideins` in all; the factory submits `ReqIdleGlideins - idle pilots of that client`, capped
by ReqMaxGlideins (idle + running + new), the entry's limits (idle, total, held), the entry's own
per-frontend limits, this entry's share of the factory-wide per-frontend and per-security-class
limits (factory/budgets.py), `max_per_cycle` and the submission rate. Shared budgets are dealt out one
pilot at a time round-robin over the clients, so no client starves another. Excess pilots are
removed per `ReqRemoveExcess` (NO | WAIT | IDLE | ALL, with its margin), never more than
`max_removal_share` of the entry's pilots per cycle (mass-removal guard). Idle pilots of a client
whose request vanished (its frontend died) are removed once `client_gone_grace` seconds have passed
since its last request expired (else since its newest pilot was submitted). Every client's decision
is one log line naming the limit that bound it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from glidein.factory.pilot_states import IDLE_STATES, PilotState, PilotView

REMOVE_MODES = ("NO", "WAIT", "IDLE", "ALL")
S = PilotState


@dataclass(frozen=True)
class Limits:
    """Caps on pilots (None = unlimited): idle, total (idle + running + held), held."""

    max_idle: int | None = None
    max_total: int | None = None
    max_held: int | None = None


@dataclass(frozen=True)
class EntryPolicy:
    name: str
    limits: Limits = Limits()
    frontend_limits: Mapping[str, Limits] = field(default_factory=dict)  # key: frontend name
    security_class_limits: Mapping[str, Limits] = field(default_factory=dict)  # key: "frontend:class"
    default_frontend_limits: Limits | None = None  # for a frontend not in frontend_limits
    max_per_cycle: int = 100
    max_removal_share: float = 0.2
    min_removals: int = 1  # the guard always allows this many per cycle
    max_removals: int = 1_000_000  # ... and never more than this
    stale_age: float = 0.0  # seconds an idle pilot may wait at the site; 0 = never stale
    stale_running_age: float = 0.0  # seconds a pilot may run; 0 = no limit
    client_gone_grace: float = 3600.0  # idle pilots of a client without a request; 0 = kept forever
    held_max_releases: int = 3
    held_backoff: float = 60.0  # seconds before the first release; doubles per release
    held_max_backoff: float = 1e9
    held_releases_per_cycle: int = 1_000_000
    recoverable_held: tuple[str, ...] = ("transient", "network", "timeout", "transfer")


@dataclass(frozen=True)
class ClientRequest:
    """A validated glideclient request addressed to one entry."""

    client: str  # "<frontend>.<group>"
    frontend: str
    security_class: str
    req_idle: int
    req_max: int
    remove_excess: str = "NO"
    remove_margin: int = 0
    idle_lifetime: float = 0.0  # 0 = no limit
    jobs_idle: int = 0  # the frontend's job figures for this entry (GlideinMonitorIdle/Running)
    jobs_running: int = 0


@dataclass(frozen=True)
class EntryInputs:
    policy: EntryPolicy
    requests: Sequence[ClientRequest]
    pilots: Sequence[PilotView]
    now: float
    rate_allowance: int  # pilots the submission-rate bucket allows now
    status_ok: bool = True  # False: the backend's status could not be read this cycle
    down_clients: Mapping[str, str] = field(default_factory=dict)  # client -> downtime reason
    blocked_reason: str = ""  # non-empty: black-hole blocked
    # this entry's share of factory-wide limits (factory/budgets.py): "fe:<frontend>" or
    # "sc:<frontend>:<class>" -> new pilots allowed this cycle; a key not listed is unlimited
    shared_budgets: Mapping[str, int] = field(default_factory=dict)
    # client -> ReqExpiry of its last accepted request (factory.db): when a vanished request died
    request_expiries: Mapping[str, float] = field(default_factory=dict)


@dataclass
class ClientOutcome:
    client: str
    idle: int
    running: int
    held: int
    req_idle: int
    req_max: int
    submit: int = 0
    remove: int = 0
    limit: str = "none"
    jobs_idle: int = 0  # as the client's request reports them (monitoring only)
    jobs_running: int = 0


@dataclass
class EntryDecision:
    submit: dict[str, int] = field(default_factory=dict)
    remove: list[tuple[str, str]] = field(default_factory=list)  # (pilot id, reason)
    release: list[str] = field(default_factory=list)
    clients: dict[str, ClientOutcome] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)


class TokenBucket:
    """Submission rate: `rate` pilots/s, at most `burst` at once; time is passed in (pure)."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate, self.burst, self.tokens, self.stamp = rate, burst, float(burst), now

    def available(self, now: float) -> int:
        self.tokens = min(float(self.burst), self.tokens + max(0.0, now - self.stamp) * self.rate)
        self.stamp = now
        return int(self.tokens)

    def take(self, count: int) -> None:
        self.tokens = max(0.0, self.tokens - count)


# ---------------------------------------------------------------- counting


@dataclass
class _Counts:
    idle: Counter[str] = field(default_factory=Counter)
    running: Counter[str] = field(default_factory=Counter)
    held: Counter[str] = field(default_factory=Counter)
    total: Counter[str] = field(default_factory=Counter)

    def add(self, key: str, pilot: PilotView) -> None:
        if pilot.state in IDLE_STATES:
            self.idle[key] += 1
        elif pilot.state == S.RUNNING:
            self.running[key] += 1
        elif pilot.state == S.HELD:
            self.held[key] += 1
        self.total[key] += 1


def _count(pilots: Sequence[PilotView], requests: Sequence[ClientRequest]) -> _Counts:
    """Counts keyed by client, "fe:<frontend>", "sc:<frontend>:<class>" and "entry"."""
    classes = {r.client: r.security_class for r in requests}
    counts = _Counts()
    for pilot in pilots:
        if pilot.state in (S.COMPLETED, S.FAILED, S.REMOVED, S.LOST):
            continue
        sec = pilot.security_class or classes.get(pilot.client, "")
        for key in (pilot.client, f"fe:{pilot.frontend}", f"sc:{pilot.frontend}:{sec}", "entry"):
            counts.add(key, pilot)
    return counts


# ---------------------------------------------------------------- submissions


def _own_cap(req: ClientRequest, counts: _Counts) -> tuple[int, str]:
    want = req.req_idle - counts.idle[req.client]
    room = req.req_max - counts.idle[req.client] - counts.running[req.client]
    if room < want:
        return max(0, room), "ReqMaxGlideins"
    return max(0, want), "none" if want > 0 else "ReqIdleGlideins"


def _shared_checks(policy: EntryPolicy, req: ClientRequest) -> list[tuple[str, str, Limits]]:
    checks = [("entry", "entry", policy.limits)]
    fe = policy.frontend_limits.get(req.frontend, policy.default_frontend_limits)
    if fe is not None:
        checks.append((f"fe:{req.frontend}", "frontend", fe))
    sc = policy.security_class_limits.get(f"{req.frontend}:{req.security_class}")
    if sc is not None:
        checks.append((f"sc:{req.frontend}:{req.security_class}", "security_class", sc))
    return checks


def _blocked_by(checks: list[tuple[str, str, Limits]], counts: _Counts) -> str | None:
    for key, label, limits in checks:
        if limits.max_held is not None and counts.held[key] >= limits.max_held:
            return f"{label}.max_held"
        if limits.max_idle is not None and counts.idle[key] >= limits.max_idle:
            return f"{label}.max_idle"
        if limits.max_total is not None and counts.total[key] >= limits.max_total:
            return f"{label}.max_total"
    return None


def _factory_keys(req: ClientRequest) -> tuple[tuple[str, str], ...]:
    return (
        (f"fe:{req.frontend}", "factory.frontend"),
        (f"sc:{req.frontend}:{req.security_class}", "factory.security_class"),
    )


def _over_share(shared: dict[str, int], req: ClientRequest) -> str | None:
    """The factory-wide limit whose share for this entry is used up, or None."""
    return next((label for key, label in _factory_keys(req) if key in shared and shared[key] <= 0), None)


def _gate(inputs: EntryInputs, req: ClientRequest) -> str | None:
    """A reason to submit nothing at all for this client, or None."""
    if not inputs.status_ok:
        return "status_unknown"
    if inputs.blocked_reason:
        return "blocked"
    if req.client in inputs.down_clients:
        return "downtime"
    return None


def _allocate(inputs: EntryInputs, counts: _Counts, outcomes: dict[str, ClientOutcome]) -> dict[str, int]:
    """Round-robin, one pilot at a time, over clients until each meets a cap."""
    caps: dict[str, int] = {}
    reqs = {r.client: r for r in inputs.requests}
    for req in inputs.requests:
        gate = _gate(inputs, req)
        cap, label = (0, gate) if gate else _own_cap(req, counts)
        outcomes[req.client].limit = label
        if cap > 0:
            caps[req.client] = cap
    given: Counter[str] = Counter()
    budget = {"max_per_cycle": inputs.policy.max_per_cycle, "submit_rate": inputs.rate_allowance}
    shared = dict(inputs.shared_budgets)
    active = sorted(caps)
    while active:
        for client in list(active):
            req = reqs[client]
            checks = _shared_checks(inputs.policy, req)
            reason = next((name for name, left in budget.items() if left <= 0), None)
            reason = reason or _blocked_by(checks, counts) or _over_share(shared, req)
            if reason is not None:
                outcomes[client].limit = reason
                active.remove(client)
                continue
            given[client] += 1
            for name in budget:
                budget[name] -= 1
            for key, _label in _factory_keys(req):
                if key in shared:
                    shared[key] -= 1
            for key, _label, _limits in checks:
                counts.idle[key] += 1
                counts.total[key] += 1
            if given[client] >= caps[client]:
                active.remove(client)
    return dict(given)


# ---------------------------------------------------------------- removals and held pilots


def _newest_first(pilots: list[PilotView]) -> list[PilotView]:
    return sorted(pilots, key=lambda p: (-p.submit_time, p.pilot_id))


def _excess(req: ClientRequest, pilots: list[PilotView]) -> list[tuple[PilotView, str]]:
    mode = req.remove_excess
    if mode not in ("WAIT", "IDLE", "ALL"):
        return []
    states = {S.PENDING} if mode == "WAIT" else {S.PENDING, S.IDLE}
    idle = [p for p in pilots if p.state in IDLE_STATES]
    over = len(idle) - (req.req_idle + req.remove_margin)
    out: list[tuple[PilotView, str]] = []
    if over > 0:
        cands = _newest_first([p for p in idle if p.state in states])[:over]
        out += [(p, f"ReqRemoveExcess={mode}") for p in cands]
    if mode == "ALL":
        running = [p for p in pilots if p.state == S.RUNNING]
        over_total = len(idle) - len(out) + len(running) - (req.req_max + req.remove_margin)
        if over_total > 0:
            out += [(p, "ReqRemoveExcess=ALL") for p in _newest_first(running)[:over_total]]
    return out


def _aged(inputs: EntryInputs, by_client: dict[str, list[PilotView]]) -> list[tuple[PilotView, str]]:
    out: list[tuple[PilotView, str]] = []
    reqs = {r.client: r for r in inputs.requests}
    stale = inputs.policy.stale_age
    for client, pilots in by_client.items():
        lifetime = reqs[client].idle_lifetime if client in reqs else 0.0
        for p in pilots:
            if p.state == S.RUNNING and 0 < inputs.policy.stale_running_age < inputs.now - p.state_since:
                out.append((p, "stale_running_age"))
            if p.state not in (S.PENDING, S.IDLE):
                continue
            age = inputs.now - p.submit_time
            if lifetime > 0 and age > lifetime:
                out.append((p, "ReqIdleLifetime"))
            elif stale > 0 and age > stale:
                out.append((p, "stale_age"))
    return out


def _gone(inputs: EntryInputs, by_client: dict[str, list[PilotView]], lines: list[str]) -> list[PilotView]:
    """Idle pilots of clients whose request vanished more than `client_gone_grace` seconds ago."""
    grace, asking = inputs.policy.client_gone_grace, {r.client for r in inputs.requests}
    out: list[PilotView] = []
    for client, pilots in sorted(by_client.items()):
        idle = [p for p in pilots if p.state in (S.PENDING, S.IDLE)]
        if grace <= 0 or client in asking or not idle:
            continue
        since = inputs.request_expiries.get(client, max(p.submit_time for p in pilots))
        if inputs.now - since > grace:
            out += idle
            lines.append(
                f"entry={inputs.policy.name} client={client} idle={len(idle)} action=remove "
                f"limit=client_gone request_gone_since={since:.0f} grace={grace:.0f}"
            )
    return out


def _removals(inputs: EntryInputs, decision: EntryDecision) -> None:
    by_client: dict[str, list[PilotView]] = {}
    for p in inputs.pilots:
        by_client.setdefault(p.client, []).append(p)
    wanted = _aged(inputs, by_client)
    wanted += [(p, "client_gone") for p in _gone(inputs, by_client, decision.lines)]
    for req in inputs.requests:
        wanted += _excess(req, by_client.get(req.client, []))
    chosen: dict[str, tuple[PilotView, str]] = {}
    for pilot, reason in wanted:
        chosen.setdefault(pilot.pilot_id, (pilot, reason))
    live = sum(1 for p in inputs.pilots if p.state in IDLE_STATES | {S.RUNNING, S.HELD})
    policy = inputs.policy
    budget = min(policy.max_removals, max(policy.min_removals, math.floor(policy.max_removal_share * live)))
    picks = list(chosen.values())
    if len(picks) > budget:
        decision.lines.append(
            f"entry={inputs.policy.name} wanted_remove={len(picks)} remove={budget} "
            f"limit=max_removal_share share={inputs.policy.max_removal_share} pilots={live}"
        )
        picks = picks[:budget]
    for pilot, reason in picks:
        decision.remove.append((pilot.pilot_id, reason))
        if pilot.client in decision.clients:
            decision.clients[pilot.client].remove += 1


def _held(inputs: EntryInputs, decision: EntryDecision) -> None:
    policy = inputs.policy
    for p in inputs.pilots:
        if p.state != S.HELD:
            continue
        reason = p.held_reason.lower()
        recoverable = any(word in reason for word in policy.recoverable_held)
        if not recoverable or p.releases >= policy.held_max_releases:
            why = "unrecoverable" if not recoverable else f"released {p.releases} times"
            decision.remove.append((p.pilot_id, f"held {why}"))
            decision.lines.append(
                f"entry={policy.name} pilot={p.pilot_id} client={p.client} held_reason={p.held_reason!r} "
                f"action=remove limit={'held_unrecoverable' if not recoverable else 'held_max_releases'}"
            )
        elif len(decision.release) < policy.held_releases_per_cycle and inputs.now - p.state_since >= min(
            policy.held_max_backoff, policy.held_backoff * 2**p.releases
        ):
            decision.release.append(p.pilot_id)
            decision.lines.append(
                f"entry={policy.name} pilot={p.pilot_id} client={p.client} held_reason={p.held_reason!r} "
                f"action=release release={p.releases + 1}/{policy.held_max_releases}"
            )


# ---------------------------------------------------------------- the decision


def decide(inputs: EntryInputs) -> EntryDecision:
    """Everything one entry should do this cycle; no side effects."""
    counts = _count(inputs.pilots, inputs.requests)
    decision = EntryDecision()
    for req in sorted(inputs.requests, key=lambda r: r.client):
        c = req.client
        decision.clients[c] = ClientOutcome(
            c, counts.idle[c], counts.running[c], counts.held[c], req.req_idle, req.req_max,
            jobs_idle=req.jobs_idle, jobs_running=req.jobs_running,
        )  # fmt: skip
    decision.submit = _allocate(inputs, counts, decision.clients)
    if inputs.status_ok:
        _held(inputs, decision)
        _removals(inputs, decision)
    for client, outcome in decision.clients.items():
        outcome.submit = decision.submit.get(client, 0)
        decision.lines.append(
            f"entry={inputs.policy.name} client={client} idle={outcome.idle} running={outcome.running} "
            f"held={outcome.held} req_idle={outcome.req_idle} req_max={outcome.req_max} "
            f"submit={outcome.submit} remove={outcome.remove} limit={outcome.limit}"
        )
    return decision
