"""Pilot pressure per entry: glideinWMS's formulas, pure, and each number says what decided it.

The numbers follow glideinWMS's frontend (`glideinFrontendElement.compute_glidein_min_idle`,
`compute_glidein_max_run`, `choose_remove_excess_type`); the names in brackets are its
`limits_triggered` keys, which the glideresource ad publishes as `GlideClientLimit<key>` /
`GlideClientCurb<key>`.

min_idle (ReqIdleGlideins), for an entry open to new pilots (an entry in downtime, or blocked
by its factory as a black hole, gets 0 and 0, as glideinWMS does in downtime: no new pilot, the
running ones kept, since removal only escalates past them when no glidein is left):

1. ``idle = max(prop_mc_idle, min_running)``; ``effective = max(idle - idle_slots, 0)``, the same
   with the old idle jobs (idle >= 10 minutes) for the reserve. `idle_slots` are the USABLE idle
   slots of this group at the entry (see `frontend.glideins`).
2. 0 when a hard limit is reached: glideins at the entry >= running_glideins_per_entry.max
   [TotalGlideinsPerEntry], idle slots at the entry >= idle_vms_per_entry.max
   [IdleGlideinsPerEntry], group or frontend totals >= running_glideins_total.max /
   idle_vms_total.max [Total|IdleGlideinsPerGroup, ...PerFrontend].
3. 0 when `effective` is 0 (no idle job that the idle slots would not take).
4. Otherwise ``min(effective, headroom to every hard limit)``, divided by ramp_up_attenuation
   (truncated), plus the reserve ``min(effective_old // 3, idle_glideins_per_entry.reserve)``,
   capped at idle_glideins_per_entry.max; then halved once per curb reached (idle slots at the
   entry >= idle_vms_per_entry.curb, group and frontend totals >= their curbs); at least 1.

max_run (ReqMaxGlideins) = ``int((max(idle - idle_slots, 0) + running) x relative_to_queue + 1)``
when jobs are idle, `running` (glideins running this group's jobs at the entry) when none is, 0
when neither; 0 in downtime or while blocked.

Removal (ReqRemoveExcess) escalates from history counters kept per (group, entry): cycles with no
idle job matching the entry (`idle0`), cycles where every slot was idle (`glideempty`) and where
there was no slot at all (`glidetotal0`). WAIT after more than `wait_cycles` cycles of idle0;
then IDLE after more than `idle_cycles` of glideempty, ALL after more than `all_cycles` of
glidetotal0 (glideinWMS: 5, 10, 10). The guard `max_level` caps the level ever sent.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

REMOVE_LEVELS = ("NO", "WAIT", "IDLE", "ALL")


@dataclass(frozen=True)
class Cap:
    """A hard maximum and a curb (above the curb requests are halved)."""

    max: int
    curb: int


@dataclass(frozen=True)
class PressurePolicy:
    """The limits of one group (per entry and group) and of the frontend, resolved from config."""

    max_idle: int = 100  # idle_glideins_per_entry.max
    reserve_idle: int = 5  # idle_glideins_per_entry.reserve
    idle_vms_per_entry: Cap = Cap(100, 5)
    max_running: int = 10000  # running_glideins_per_entry.max
    min_running: int = 0  # running_glideins_per_entry.min
    relative_to_queue: float = 1.15  # running_glideins_per_entry.relative_to_queue
    group_idle: Cap = Cap(1000, 200)  # limits.idle_vms_total
    group_total: Cap = Cap(100000, 90000)  # limits.running_glideins_total
    frontend_idle: Cap = Cap(1000, 200)  # frontend limits.idle_vms_total
    frontend_total: Cap = Cap(100000, 90000)  # frontend limits.running_glideins_total
    ramp_up_attenuation: float = 3.0


@dataclass(frozen=True)
class EntryDemand:
    """What the jobs ask of one entry (from `frontend.matching`), in glideins."""

    idle: int  # prop_mc idle jobs (ceil), in glideins' worth of cpus
    old_idle: int  # the same for jobs idle >= 10 minutes
    running_here: int  # glideins at this entry running the group's jobs ("real" in glideinWMS)
    in_downtime: bool = False
    closed_by: str = ""  # why the entry takes no new pilot (downtime, factory block), in words

    @property
    def closed(self) -> str:
        """Why no pilot may be requested here ("" when the entry is open)."""
        return self.closed_by or ("entry in downtime" if self.in_downtime else "")


@dataclass(frozen=True)
class SlotCounts:
    """The group's glideins (slots) at one entry, from the user pool (`frontend.glideins`)."""

    total: int = 0
    idle: int = 0  # usable idle slots
    running: int = 0
    failed: int = 0
    idle_all: int = 0  # every unclaimed slot, usable or not (removal history uses it)


@dataclass(frozen=True)
class Totals:
    """Glideins of the whole group and of the whole frontend (every entry)."""

    group_total: int = 0
    group_idle: int = 0
    frontend_total: int = 0
    frontend_idle: int = 0


@dataclass(frozen=True)
class Trigger:
    """A limit or curb that was reached: glideinWMS key, our config path, the count and bound."""

    key: str
    path: str
    count: int
    bound: int

    @property
    def is_curb(self) -> bool:
        return self.key.startswith("Curb")

    def text(self) -> str:
        kind = "curb" if self.is_curb else "limit"
        return f"{self.path} (count={self.count}, {kind}={self.bound})"


@dataclass(frozen=True)
class Pressure:
    """The request for one entry and why."""

    min_idle: int
    max_run: int
    effective_idle: int
    decided_by: str  # what set min_idle, in words an operator can act on
    max_run_by: str
    triggered: tuple[Trigger, ...] = ()


# One hard limit or curb: glideinWMS key, config path, count getter, bound getter.
_Check = tuple[str, str, Callable[[SlotCounts, Totals], int], Callable[[PressurePolicy], int]]

_LIMITS: tuple[_Check, ...] = (
    (
        "TotalGlideinsPerEntry",
        "limits.running_glideins_per_entry.max",
        lambda s, t: s.total,
        lambda p: p.max_running,
    ),
    (
        "IdleGlideinsPerEntry",
        "limits.idle_vms_per_entry.max",
        lambda s, t: s.idle,
        lambda p: p.idle_vms_per_entry.max,
    ),
    (
        "TotalGlideinsPerGroup",
        "limits.running_glideins_total.max",
        lambda s, t: t.group_total,
        lambda p: p.group_total.max,
    ),
    (
        "IdleGlideinsPerGroup",
        "limits.idle_vms_total.max",
        lambda s, t: t.group_idle,
        lambda p: p.group_idle.max,
    ),
    (
        "TotalGlideinsPerFrontend",
        "frontend limits.running_glideins_total.max",
        lambda s, t: t.frontend_total,
        lambda p: p.frontend_total.max,
    ),
    (
        "IdleGlideinsPerFrontend",
        "frontend limits.idle_vms_total.max",
        lambda s, t: t.frontend_idle,
        lambda p: p.frontend_idle.max,
    ),
)

_CURBS: tuple[_Check, ...] = (
    (
        "CurbIdleGlideinsPerEntry",
        "limits.idle_vms_per_entry.curb",
        lambda s, t: s.idle,
        lambda p: p.idle_vms_per_entry.curb,
    ),
    (
        "CurbTotalGlideinsPerGroup",
        "limits.running_glideins_total.curb",
        lambda s, t: t.group_total,
        lambda p: p.group_total.curb,
    ),
    (
        "CurbIdleGlideinsPerGroup",
        "limits.idle_vms_total.curb",
        lambda s, t: t.group_idle,
        lambda p: p.group_idle.curb,
    ),
    (
        "CurbTotalGlideinsPerFrontend",
        "frontend limits.running_glideins_total.curb",
        lambda s, t: t.frontend_total,
        lambda p: p.frontend_total.curb,
    ),
    (
        "CurbIdleGlideinsPerFrontend",
        "frontend limits.idle_vms_total.curb",
        lambda s, t: t.frontend_idle,
        lambda p: p.frontend_idle.curb,
    ),
)


def _reached(
    checks: tuple[_Check, ...], policy: PressurePolicy, slots: SlotCounts, totals: Totals
) -> list[Trigger]:
    out = []
    for key, path, count_of, bound_of in checks:
        count, bound = count_of(slots, totals), bound_of(policy)
        if count >= bound:
            out.append(Trigger(key, path, count, bound))
    return out


def _headroom(policy: PressurePolicy, slots: SlotCounts, totals: Totals) -> list[tuple[int, str]]:
    """Room left under each hard limit that bounds a new request (glideinWMS's min() terms)."""
    return [
        (bound_of(policy) - count_of(slots, totals), f"headroom under {path}")
        for key, path, count_of, bound_of in _LIMITS
        if key != "IdleGlideinsPerEntry"
    ]


def min_idle(policy: PressurePolicy, demand: EntryDemand, slots: SlotCounts, totals: Totals) -> Pressure:
    """ReqIdleGlideins for one entry (max_run left 0; see `compute`)."""
    idle = max(demand.idle, policy.min_running)
    effective = max(idle - slots.idle, 0)
    effective_old = max(max(demand.old_idle, 0) - slots.idle, 0)
    if demand.closed:
        return Pressure(0, 0, effective, demand.closed, demand.closed)
    limits = _reached(_LIMITS, policy, slots, totals)
    if limits:
        return Pressure(0, 0, effective, f"limit reached: {limits[0].text()}", "", tuple(limits))
    if effective <= 0:
        why = "no idle jobs" if idle <= 0 else f"{slots.idle} usable idle slots cover {idle} idle jobs"
        return Pressure(0, 0, 0, why, "")
    value: float = effective
    decided = f"{effective} effective idle jobs"
    for room, why in _headroom(policy, slots, totals):
        if room < value:
            value, decided = room, why
    value = int(value / policy.ramp_up_attenuation)
    reserve = min(effective_old // 3, policy.reserve_idle)
    value += reserve
    decided += f", / ramp_up_attenuation {policy.ramp_up_attenuation:g}, + reserve {reserve}"
    if value > policy.max_idle:
        value, decided = policy.max_idle, f"limits.idle_glideins_per_entry.max ({policy.max_idle})"
    curbs = _reached(_CURBS, policy, slots, totals)
    for _curb in curbs:
        value /= 2
    if curbs:
        decided += ", halved by " + ", ".join(c.text() for c in curbs)
    if value < 1:
        value = 1
        decided += ", raised to the minimum of 1 while jobs wait"
    return Pressure(int(value), 0, effective, decided, "", tuple(curbs))


def max_run(policy: PressurePolicy, demand: EntryDemand, slots: SlotCounts) -> tuple[int, str]:
    """ReqMaxGlideins for one open entry, and why."""
    idle = max(demand.idle, policy.min_running)
    real = demand.running_here
    if idle + real <= 0:
        return 0, "no idle and no running jobs"
    if idle <= 0:
        return real, f"{real} glideins running jobs, no idle job"
    effective = max(idle - slots.idle, 0)
    value = int((effective + real) * policy.relative_to_queue + 1)
    return value, (
        f"({effective} effective idle + {real} running) x relative_to_queue {policy.relative_to_queue:g} + 1"
    )


def compute(policy: PressurePolicy, demand: EntryDemand, slots: SlotCounts, totals: Totals) -> Pressure:
    """min_idle and max_run for one entry, with what decided each."""
    result = min_idle(policy, demand, slots, totals)
    if demand.closed:
        return result
    value, why = max_run(policy, demand, slots)
    return replace(result, max_run=value, max_run_by=why)


# ---------------------------------------------------------------- removal escalation


@dataclass(frozen=True)
class RemovalPolicy:
    max_level: str = "IDLE"  # the guard: highest level ever sent
    wait_cycles: int = 5
    idle_cycles: int = 10
    all_cycles: int = 10
    margin: int = 0


@dataclass(frozen=True)
class RemovalHistory:
    """Consecutive cycles (per group and entry) with no idle job, all slots idle, no slot."""

    idle0: int = 0
    glideempty: int = 0
    glidetotal0: int = 0


@dataclass(frozen=True)
class Removal:
    level: str
    margin: int
    history: RemovalHistory
    reason: str


def removal(policy: RemovalPolicy, history: RemovalHistory, idle_jobs: int, slots: SlotCounts) -> Removal:
    """The ReqRemoveExcess level for this cycle and the updated history.

    `idle_jobs` is the straight count of idle jobs matching the entry; `slots.idle_all` counts
    every unclaimed slot (a slot that cannot run a job is not in use either).
    """
    idle0 = history.idle0 + 1 if idle_jobs == 0 else 0
    empty = history.glideempty + 1 if slots.idle_all >= slots.total else 0
    total0 = history.glidetotal0 + 1 if slots.total == 0 else 0
    new = RemovalHistory(idle0, empty, total0)
    wait = idle0 > policy.wait_cycles
    if wait and total0 > policy.all_cycles:
        level, reason = "ALL", f"no idle job for {idle0} cycles and no glidein for {total0} cycles"
    elif wait and empty > policy.idle_cycles:
        level, reason = "IDLE", f"no idle job for {idle0} cycles and every glidein idle for {empty} cycles"
    elif wait:
        level, reason = "WAIT", f"no idle job for {idle0} cycles"
    else:
        level, reason = (
            "NO",
            "jobs are waiting" if idle0 == 0 else f"no idle job for {idle0} cycles (waiting)",
        )
    cap = REMOVE_LEVELS.index(policy.max_level)
    if REMOVE_LEVELS.index(level) > cap:
        level, reason = policy.max_level, f"{reason}; {level} capped by removal.max_level"
    return Removal(level, policy.margin if level != "NO" else 0, new, reason)


def ceil_count(value: float) -> int:
    """glideinWMS rounds proportional job counts up."""
    return math.ceil(value - 1e-9)
