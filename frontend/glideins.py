"""Glideins per entry from the user pool's slot ads: total, running, idle (only usable ones), failed.

A slot belongs to a group's request at an entry when its `GLIDECLIENT_Name` (HTCondor glideins)
or `GLIDEIN_Client` (embedded startd) is `<frontend>.<group>` and
`GLIDEIN_Entry_Name@GLIDEIN_Name@GLIDEIN_Factory` is the entry ad's Name (glideinWMS's
getClientCondorStatus).

States as glideinWMS: idle = Unclaimed/Idle; running = Claimed with Busy or Retiring; failed =
Drained/Retiring. Unlike glideinWMS (gwms#332, #405), an idle slot counts as idle only when it is
USABLE (rule `usable`, the default): not past GLIDEIN_ToRetire (unless count_retiring), at least
`min_lifetime` seconds before GLIDEIN_ToDie, and free Cpus, Memory (and GPUs with check_gpus)
enough for at least one idle job that matches the entry. What a job needs comes from its own
autocluster (never from another job of its class, running or held: issue 18). Usable idle slots are
also capped by the idle jobs that fit them: five 2 GB slots beside one 1 GB job and ten 16 GB
jobs count 1 usable, 4 `surplus` (they would take none of the big jobs). Rule `all` counts every
idle slot.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from glidein.common import classads
from glidein.common.classads import ClassAd, ExprTree
from glidein.common.config.frontend import UsableIdle
from glidein.frontend.pressure import SlotCounts, Totals


class Need(NamedTuple):
    """What one idle job asks of a slot (a tuple: hashed fast, it keys the per-entry counts)."""

    cpus: float = 1.0
    memory: float = 0.0
    gpus: float = 0.0

    def fits(self, other: Need) -> bool:
        """`self` asks no more than `other` in every resource (other dominates self)."""
        return self.cpus <= other.cpus and self.memory <= other.memory and self.gpus <= other.gpus


def _value(ad: ClassAd, name: str) -> object:
    """A literal attribute as is (fast), an expression evaluated (MY = the ad)."""
    try:
        value = ad[name]  # not ad.get: Mapping.get's extra frame is felt over 50,000 slots a cycle
    except KeyError:
        return None
    return classads.eval_attr(ad, name) if isinstance(value, ExprTree) else value


def _number(ad: ClassAd, name: str, default: float) -> float:
    value = _value(ad, name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return float(value)


def job_need(job: ClassAd) -> Need:
    return Need(
        max(_number(job, "RequestCpus", 1.0), 1.0),
        _number(job, "RequestMemory", 0.0),
        _number(job, "RequestGPUs", 0.0),
    )


def minimal_needs(needs: Iterable[Need]) -> list[Need]:
    """The needs no other need is smaller than in every resource (enough to test a slot)."""
    out: list[Need] = []
    for need in sorted(set(needs), key=lambda n: (n.cpus, n.memory, n.gpus)):
        if not any(kept.fits(need) for kept in out):
            out.append(need)
    return out


@dataclass
class EntrySlots:
    """The group's slots at one entry, and why idle slots were not counted."""

    total: int = 0
    idle: int = 0
    idle_all: int = 0
    running: int = 0
    failed: int = 0
    jobs_running: int = 0  # jobs on the running slots (embedded startd: JobsRunning; else 1 a slot)
    not_usable: Counter[str] = field(default_factory=Counter)

    def counts(self) -> SlotCounts:
        return SlotCounts(self.total, self.idle, self.running, self.failed, self.idle_all)


def _str(ad: ClassAd, name: str) -> str | None:
    value = _value(ad, name)
    return value if isinstance(value, str) else None


def slot_client(ad: ClassAd) -> str | None:
    return _str(ad, "GLIDECLIENT_Name") or _str(ad, "GLIDEIN_Client")


def slot_entry(ad: ClassAd) -> str | None:
    """`entry@glidein@factory` of the slot, or None when it does not say."""
    parts = [_str(ad, n) for n in ("GLIDEIN_Entry_Name", "GLIDEIN_Name", "GLIDEIN_Factory")]
    if any(p is None for p in parts):
        return None
    return "@".join(p for p in parts if p is not None)


def unusable_reason(ad: ClassAd, needs: Sequence[Need], rule: UsableIdle, now: float) -> str | None:
    """Why an idle slot cannot take any of `needs`, or None when it is usable."""
    if rule.rule == "all":
        return None
    retire = _number(ad, "GLIDEIN_ToRetire", 0.0)
    if retire and now >= retire and not rule.count_retiring:
        return "retiring"
    die = _number(ad, "GLIDEIN_ToDie", 0.0)
    if die and die - now < rule.min_lifetime:
        return "lifetime"
    return _short_of(ad, needs, rule.check_gpus)


def free_of(ad: ClassAd, check_gpus: bool) -> Need:
    """What an idle slot offers (GPUs taken as unlimited when they are not checked)."""
    gpus = _number(ad, "GPUs", 0.0) if check_gpus else float("inf")
    return Need(_number(ad, "Cpus", 1.0), _number(ad, "Memory", 0.0), gpus)


def _short_of(ad: ClassAd, needs: Sequence[Need], check_gpus: bool) -> str | None:
    """The resource the slot lacks for every need (None: some need fits; no needs: fits)."""
    if not needs:
        return None
    free = free_of(ad, check_gpus)
    if any(need.fits(free) for need in needs):
        return None
    for resource in ("cpus", "memory", "gpus"):
        if not any(getattr(need, resource) <= getattr(free, resource) for need in needs):
            return resource
    return "resources"


def _jobs_on(ad: ClassAd) -> int:
    """Jobs a running slot runs: the embedded startd's JobsRunning (one pilot, several jobs), else 1."""
    value = _value(ad, "JobsRunning")
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    return 1


def slot_state(ad: ClassAd) -> str:
    """idle, running, failed or other, as glideinWMS's getIdle/Running/FailedCondorStatus."""
    state, activity = _str(ad, "State"), _str(ad, "Activity")
    if state == "Unclaimed" and activity == "Idle":
        return "idle"
    if state == "Claimed" and activity in ("Busy", "Retiring"):
        return "running"
    if state == "Drained" and activity == "Retiring":
        return "failed"
    return "other"


@dataclass
class PoolCounts:
    """One group's slots per entry, the group's totals and the frontend's totals."""

    entries: dict[str, EntrySlots]
    totals: Totals


def count_slots(
    slots: Iterable[ClassAd],
    client: str,
    needs: Mapping[str, Mapping[Need, int]],
    rule: UsableIdle,
    now: float,
) -> PoolCounts:
    """Count `client`'s (`<frontend>.<group>`) slots per entry; `needs` per entry ad Name: the idle
    jobs that match the entry, by what they ask of a slot."""
    frontend = client.split(".", 1)[0] + "."
    entries: dict[str, EntrySlots] = {}
    smallest = {name: minimal_needs(by_need) for name, by_need in needs.items()}
    frees: dict[str, Counter[Need]] = {}
    group_total = group_idle = fe_total = fe_idle = 0
    for ad in slots:
        owner = slot_client(ad)
        if owner is None or not owner.startswith(frontend):
            continue
        state = slot_state(ad)
        fe_total += 1
        fe_idle += state == "idle"
        if owner != client:
            continue
        group_total += 1
        group_idle += state == "idle"
        entry = slot_entry(ad)
        if entry is None:
            continue
        counts = entries.setdefault(entry, EntrySlots())
        counts.total += 1
        if state == "idle":
            counts.idle_all += 1
            reason = unusable_reason(ad, smallest.get(entry, ()), rule, now)
            if reason is None:
                counts.idle += 1
                frees.setdefault(entry, Counter())[free_of(ad, rule.check_gpus)] += 1
            else:
                counts.not_usable[reason] += 1
        elif state == "running":
            counts.running += 1
            counts.jobs_running += _jobs_on(ad)
        elif state == "failed":
            counts.failed += 1
    if rule.rule != "all":
        for entry, free in frees.items():
            _cap_usable(entries[entry], free, needs.get(entry, {}))
    return PoolCounts(entries, Totals(group_total, group_idle, fe_total, fe_idle))


def _cap_usable(counts: EntrySlots, frees: Mapping[Need, int], needs: Mapping[Need, int]) -> None:
    """No more usable idle slots than idle jobs that fit one of them; the rest are `surplus`."""
    if not needs:
        return
    fitting = sum(n for need, n in needs.items() if any(need.fits(free) for free in frees))
    surplus = counts.idle - fitting
    if surplus > 0:
        counts.idle -= surplus
        counts.not_usable["surplus"] += surplus
