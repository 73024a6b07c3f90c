"""One frontend cycle's decisions, without I/O: jobs + entries + slots -> requests, and why.

`decide_group` matches a group's jobs to the verified entries, counts the group's glideins per
entry (usable idle only), computes the pressure and the removal level per entry, and returns one
`EntryDecision` each: what `explain` prints and what the request and glideresource ads carry.
The daemon (`frontend.daemon`) does the queries, the advertising and the state files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from glidein.common import classads
from glidein.common.classads import ClassAd
from glidein.common.config.frontend import FrontendConfig, FrontendTotals, Group, GroupLimits
from glidein.frontend.glideins import EntrySlots, count_slots
from glidein.frontend.match_memo import MatchMemo
from glidein.frontend.matching import EntryMatch, JobCluster, MatchResult, match
from glidein.frontend.pressure import (
    Cap,
    EntryDemand,
    Pressure,
    PressurePolicy,
    Removal,
    RemovalHistory,
    RemovalPolicy,
    ceil_count,
    compute,
    removal,
)
from glidein.frontend.requests import Entry, ResourceInfo
from glidein.frontend.shares import EntryWeight, entry_weights


def pressure_policy(limits: GroupLimits, totals: FrontendTotals) -> PressurePolicy:
    """The config's limits as the pure pressure policy (glideinWMS names in `frontend.pressure`)."""
    return PressurePolicy(
        max_idle=limits.idle_glideins_per_entry.max,
        reserve_idle=limits.idle_glideins_per_entry.reserve,
        idle_vms_per_entry=Cap(limits.idle_vms_per_entry.max, limits.idle_vms_per_entry.curb),
        max_running=limits.running_glideins_per_entry.max,
        min_running=limits.running_glideins_per_entry.min,
        relative_to_queue=limits.running_glideins_per_entry.relative_to_queue,
        group_idle=Cap(limits.idle_vms_total.max, limits.idle_vms_total.curb),
        group_total=Cap(limits.running_glideins_total.max, limits.running_glideins_total.curb),
        frontend_idle=Cap(totals.idle_vms_total.max, totals.idle_vms_total.curb),
        frontend_total=Cap(totals.running_glideins_total.max, totals.running_glideins_total.curb),
        ramp_up_attenuation=limits.ramp_up_attenuation,
    )


def removal_policy(group: Group) -> RemovalPolicy:
    r = group.removal
    return RemovalPolicy(r.max_level, r.wait_cycles, r.idle_cycles, r.all_cycles, r.margin)


@dataclass
class EntryDecision:
    """Everything decided for one (group, entry), with the reasons."""

    entry: Entry
    group: str
    match: EntryMatch
    slots: EntrySlots
    pressure: Pressure
    removal: Removal
    weight: EntryWeight | None = None  # its weight in the split of shared jobs (group rank)
    share: float = 1.0  # its weight over the sum of the group's entries' weights

    def resource_info(self) -> ResourceInfo:
        m, s, p = self.match, self.slots, self.pressure
        return ResourceInfo(
            jobs_idle=m.idle_share,
            jobs_idle_matching=m.count,
            jobs_idle_effective=p.effective_idle,
            jobs_idle_old=m.old_count,
            jobs_idle_unique=m.hereonly,
            jobs_running=m.running,
            jobs_running_here=s.jobs_running,
            glideins_total=s.total,
            glideins_idle=s.idle,
            glideins_running=s.running,
            glideins_failed=s.failed,
            request_idle=p.min_idle,
            request_max_run=p.max_run,
        )

    def monitor(self) -> dict[str, int]:
        """The entry's job and glidein figures for the glideclient ad (`GlideinMonitor<name>`, as
        glideinWMS's): Idle/OldIdle/Running count every job that matches the entry (a job matching
        three entries counts at each); RunningHere the jobs running on the group's pilots at this
        entry; IdleShare (ours) this entry's whole share of the group's idle jobs, which add up
        over the entries to the group's matched idle jobs."""
        m, s = self.match, self.slots
        return {
            "Idle": m.count,
            "OldIdle": m.old_count,
            "IdleShare": m.idle_share,
            "Running": m.running,
            "RunningHere": s.jobs_running,
            "GlideinsTotal": s.total,
            "GlideinsIdle": s.idle,
            "GlideinsRunning": s.running,
            "GlideinsFailed": s.failed,
        }

    def jobs_here(self) -> tuple[int, int]:
        """(idle, running) jobs of this entry for pages and /metrics: its whole share of the group's
        idle jobs and the jobs running on its pilots. Summed over the entries they give the group's
        figures; a job that matches every entry is counted once, not at each."""
        return self.match.idle_share, self.slots.jobs_running

    def log_line(self) -> str:
        m, s, p, r = self.match, self.slots, self.pressure, self.removal
        unusable = ",".join(f"{k}:{v}" for k, v in sorted(s.not_usable.items())) or "-"
        return (
            f"entry={self.entry.name} group={self.group} idle_jobs={m.count} prop={m.prop:.1f} "
            f"prop_mc={m.prop_mc:.1f} running_jobs={m.running} glideins={s.total} usable_idle={s.idle} "
            f"unusable_idle={unusable} running={s.running} req_idle={p.min_idle} req_max={p.max_run} "
            f"remove={r.level} weight={self.weight.weight if self.weight else 1.0:.3g} by={p.decided_by!r}"
        )


@dataclass
class GroupOutcome:
    group: str
    decisions: list[EntryDecision]
    match: MatchResult


def entry_passes(entry: Entry, constraint: str) -> bool:
    """The group's factory constraint, evaluated with MY = the entry ad."""
    return constraint.strip().lower() == "true" or classads.evaluate(constraint, entry.ad) is True


def decide_group(
    config: FrontendConfig,
    group: Group,
    *,
    clusters: Sequence[JobCluster],
    entries: Sequence[Entry],
    slot_ads: Sequence[ClassAd],
    history: Mapping[str, RemovalHistory],
    now: float,
    memo: MatchMemo | None = None,
) -> GroupOutcome:
    chosen = [e for e in entries if entry_passes(e, group.factory_constraint)]
    names = [e.name for e in chosen]
    weights = entry_weights(group.rank, [e.ad for e in chosen], names)
    # an entry in downtime or blocked takes no share of the jobs it matches: the open entries get it
    values = [0.0 if e.closed_reason() else w.weight for e, w in zip(chosen, weights, strict=True)]
    total = sum(values)
    result = match(group.match_expr, clusters, [e.ad for e in chosen], names, values, memo=memo)
    needs = {name: m.needs for name, m in result.entries.items()}
    pool = count_slots(slot_ads, f"{config.name}.{group.name}", needs, group.usable_idle, now)
    policy, r_policy = pressure_policy(group.limits, config.limits), removal_policy(group)
    decisions = []
    for entry, weight, value in zip(chosen, weights, values, strict=True):
        counts = result.entries[entry.name]
        slots = pool.entries.get(entry.name, EntrySlots())
        demand = EntryDemand(
            ceil_count(counts.prop_mc),
            ceil_count(counts.old_prop_mc),
            slots.running,
            entry.in_downtime,
            entry.closed_reason(),
        )
        pressure = compute(policy, demand, slots.counts(), pool.totals)
        remove = removal(r_policy, history.get(entry.name, RemovalHistory()), counts.count, slots.counts())
        share = value / total if total > 0 else 1.0 / len(chosen)
        decisions.append(EntryDecision(entry, group.name, counts, slots, pressure, remove, weight, share))
    return GroupOutcome(group.name, decisions, result)
