"""`glidein frontend run|explain`: the frontend daemon, and why each request is what it is."""

from __future__ import annotations

import argparse

from glidein.cli.common import Subparsers, add_command
from glidein.common.config import load_frontend_config
from glidein.common.errors import GlideinError
from glidein.frontend.cycle import EntryDecision, GroupOutcome
from glidein.frontend.daemon import Frontend, Runner


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser("frontend", help="the frontend: requests pilots for waiting jobs")
    commands = parser.add_subparsers(dest="frontend_command", metavar="COMMAND", required=True)
    run = add_command(commands, "run", _run, "run the frontend daemon (SIGTERM stops it, SIGHUP reloads)")
    run.add_argument("--config", required=True, help="frontend YAML configuration")
    run.add_argument("--once", action="store_true", help="one cycle, then exit")
    explain = add_command(
        commands, "explain", _explain, "per entry: matched idle jobs, usable idle slots, the request and why"
    )
    explain.add_argument("--config", required=True, help="frontend YAML configuration")
    explain.add_argument("--group", help="only this group")
    explain.add_argument("--entry", help="only entries whose Name or EntryName is this")


def _run(args: argparse.Namespace) -> int:
    return Runner(args.config, once=args.once).run()


def _explain(args: argparse.Namespace) -> int:
    config = load_frontend_config(args.config)
    groups = [g for g in config.groups if args.group in (None, g.name)]
    if not groups:
        raise GlideinError(f"no group {args.group!r} in {args.config}")
    frontend = Frontend(config)
    snap = frontend.snapshot()
    for group in groups:
        if not group.enabled:
            print(f"group {group.name}: disabled (sends no requests)")
            continue
        outcome = frontend.decide(snap, group)
        if outcome is None:
            print(f"group {group.name}: no schedd answered, no request this cycle")
            continue
        print("\n".join(explain_lines(outcome, args.entry)))
    return 0


def _wanted(decision: EntryDecision, entry: str | None) -> bool:
    return entry is None or entry in (decision.entry.name, decision.entry.attr("EntryName"))


def explain_lines(outcome: GroupOutcome, entry: str | None = None) -> list[str]:
    m = outcome.match
    lines = [
        f"group {outcome.group}: {m.idle} idle and {m.running} running jobs in {m.job_classes} job "
        f"classes, {m.unmatched} idle match no entry; keyed by {', '.join(m.key_attrs) or '-'}; "
        f"{m.evaluations} evaluations"
    ]
    for decision in outcome.decisions:
        if _wanted(decision, entry):
            lines += _entry_lines(decision)
    if len(lines) == 1:
        lines.append("  (no entry)" if entry is None else f"  (no entry {entry!r} in this group)")
    return lines


def _entry_lines(d: EntryDecision) -> list[str]:
    m, s, p, r = d.match, d.slots, d.pressure, d.removal
    unusable = ", ".join(f"{k} {v}" for k, v in sorted(s.not_usable.items())) or "none"
    closed = d.entry.closed_reason()
    limits = "; ".join([closed] * bool(closed) + [t.text() for t in p.triggered]) or "none"
    down = "  [in downtime]" if d.entry.in_downtime else "  [blocked]" if d.entry.blocked else ""
    return [
        f"  entry {d.entry.name}{down}",
        f"    matched idle jobs : {m.count} (prop {m.prop:.1f}, share {m.idle_share}, in glideins "
        f"{m.prop_mc:.1f}, only here {m.hereonly}, old {m.old_count}); matched running jobs {m.running}, "
        f"{s.jobs_running} on its pilots",
        f"    glideins          : {s.total} total, {s.idle} usable idle (not usable: {unusable}), "
        f"{s.running} running, {s.failed} failed",
        f"    request           : ReqIdleGlideins={p.min_idle} ReqMaxGlideins={p.max_run} "
        f"ReqRemoveExcess={r.level} margin={r.margin}",
        f"    idle decided by   : {p.decided_by}",
        f"    max decided by    : {p.max_run_by or p.decided_by}",
        f"    limits and curbs  : {limits}",
        f"    weight (rank)     : {d.weight.text() if d.weight else '1 (even split)'}; "
        f"{d.share:.0%} of the jobs every entry matches",
        f"    removal           : {r.reason}",
    ]
