"""The table a chaos run prints, and whether it passed (pure formatting of measured figures)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from chaos_kit.daemons import Kill, Proc
from chaos_kit.tally import BlockedSite, Figures


@dataclass
class Outcome:
    jobs: Figures
    kills: list[Kill]
    crashes: Counter[str]
    runaway: list[Proc]
    blocked: list[BlockedSite]
    wall: float  # seconds from the first job submitted to the last done (or the timeout)
    finished: bool  # every job left the queue before the timeout
    good_blocked: list[str]  # working sites seen blocked as black holes during the run (information)

    @property
    def sent_to_blocked(self) -> int:
        return sum(b.sent_after for b in self.blocked)

    @property
    def ok(self) -> bool:
        return not (self.jobs.lost or self.jobs.twice or self.runaway or self.sent_to_blocked)


def _ids(procs: list[int], most: int = 12) -> str:
    if not procs:
        return ""
    shown = ", ".join(str(p) for p in procs[:most])
    return f"  (procs {shown}{', ...' if len(procs) > most else ''})"


def _kills(kills: list[Kill]) -> str:
    victims = Counter(k.victim for k in kills)
    signals = Counter(k.signal for k in kills)
    parts = ", ".join(f"{name} {n}" for name, n in sorted(victims.items()))
    sigs = ", ".join(f"{name} {n}" for name, n in sorted(signals.items()))
    return f"{len(kills)}  ({parts}; {sigs})" if kills else "0"


def _blocked(blocked: list[BlockedSite], t0: float) -> str:
    parts = []
    for b in blocked:
        when = "never blocked" if b.since is None else f"from {b.since - t0:+.0f} s"
        parts.append(f"{b.entry} {when}: {b.sent_after} of {b.submitted} submitted")
    return "; ".join(parts)


def format_table(out: Outcome, t0: float) -> str:
    """t0: wall-clock time of the submission (block times are shown relative to it)."""
    jobs = out.jobs
    done = jobs.submitted - len(jobs.lost)
    rate = 60.0 * done / out.wall if out.wall > 0 else 0.0
    runaway = Counter(p.kind for p in out.runaway)
    rows = [
        ("kills", _kills(out.kills)),
        ("daemon exits nobody caused", str(sum(out.crashes.values())) + _crashes(out.crashes)),
        ("jobs submitted", str(jobs.submitted)),
        ("jobs done once", str(jobs.done_once)),
        ("jobs lost", f"{len(jobs.lost)}{_ids(jobs.lost)}"),
        ("jobs run twice", f"{len(jobs.twice)}{_ids(jobs.twice)}"),
        ("  (schedd: jobs started more than once)", str(jobs.restarted)),
        ("  (schedd: done but never ran to the end)", f"{len(jobs.no_record)}{_ids(jobs.no_record)}"),
        ("  (schedd: done with exit code != 0)", f"{len(jobs.bad_exit)}{_ids(jobs.bad_exit)}"),
        ("runaway pilots", f"{len(out.runaway)}" + (f"  ({_counter(runaway)})" if runaway else "")),
        ("pilots sent to blocked sites", f"{out.sent_to_blocked}  ({_blocked(out.blocked, t0)})"),
        ("  (working sites blocked as black holes)", f"{len(out.good_blocked)}{_names(out.good_blocked)}"),
        ("wall time", f"{out.wall:.0f} s" + ("" if out.finished else " (timeout)")),
        ("jobs/min", f"{rate:.0f}"),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {value}" for name, value in rows]
    lines.append(
        "result: " + ("OK" if out.ok else "FAILED (lost, run twice, runaway or blocked-site figure > 0)")
    )
    return "\n".join(lines)


def _names(names: list[str]) -> str:
    return f"  ({', '.join(names)})" if names else ""


def _counter(counts: Counter[str]) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(counts.items()))


def _crashes(crashes: Counter[str]) -> str:
    return f"  ({_counter(crashes)})" if crashes else ""
