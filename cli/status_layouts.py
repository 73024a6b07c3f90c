"""condor_status's default tables: the columns of each kind of ad and the totals below them.

Each layout is the print format condor_status 25.x has built in (HTCondor's prettyPrint.cpp),
written here as `Column`s: fixed widths, WIDTH AUTO columns that grow to their widest value,
`OR ??` placeholders (`[????]`) for a missing value, and named renderers (activity time,
load average, version, memory). Output is as condor_status writes it into a pipe (no cropping
to the terminal width). Slots and schedds get a summary table; the others none.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from glidein.cli.status_args import StatusOptions
from glidein.cli.status_format import (
    ALT_QUESTION,
    Cell,
    Column,
    PrintMask,
    Renderer,
    display_headings,
    display_row,
    evaluate_cell,
    evaluate_rows,
    format_time,
    printf,
)
from glidein.common import classads

TOTAL_KEY_WIDTH = 14
SLOT_STATES = ("Owner", "Claimed", "Unclaimed", "Matched", "Preempting", "Drained", "Backfill")


def _q(column: Column) -> Column:
    """`OR ??`: a missing value shows as [???] across the column."""
    return replace(column, alt=ALT_QUESTION, wide_alt=True)


def _auto(attr: str, heading: str, fmt: str | None = "%s") -> Column:
    return Column(fmt, attr, len(heading), left=True, auto_width=True)


def _fixed(attr: str, heading: str, fmt: str) -> Column:
    """A printf column without WIDTH: as wide as its heading, wider for a wider value."""
    return Column(fmt, attr, len(heading), left=True, auto_width=True)


@dataclass(frozen=True)
class Layout:
    columns: tuple[Column, ...]
    headings: tuple[str, ...]
    totals: str | None = None  # "slots", "schedd"


def _glidein_layout(*attrs: str) -> Layout:
    return Layout(tuple(_auto(attr, attr, "%v") for attr in attrs), attrs)


LAYOUTS: dict[str, Layout] = {
    "startd": Layout(
        (
            _q(Column("%s", "Name", 34, left=True, auto_width=True)),
            _q(Column("%s", "OpSys", 10, left=True)),
            _q(Column("%s", "Arch", 8, left=True)),
            _q(_auto("State", "State")),
            _q(Column(None, "Activity", 8, left=True, render="activity")),
            _q(Column(None, "CondorLoadAvg", 6, truncate=True, render="load_avg")),
            _q(Column("%6d", "Memory", 6)),
            Column(
                None, "EnteredCurrentActivity", 12, truncate=True, no_prefix=True, alt="-", render="atime"
            ),
        ),
        ("Name", "OpSys", "Arch", "State", "Activity", "LoadAv", "Mem", "  ActvtyTime"),
        "slots",
    ),
    "schedd": Layout(
        (
            _auto("Name", "Name"),
            _auto("Machine", "Machine"),
            _fixed("TotalRunningJobs", "RunningJobs", "%11d"),
            _fixed("TotalIdleJobs", "  IdleJobs", "%10d"),
            _fixed("TotalHeldJobs", "  HeldJobs", "%10d"),
        ),
        ("Name", "Machine", "RunningJobs", "  IdleJobs", "  HeldJobs"),
        "schedd",
    ),
    "collector": Layout(
        (
            _auto("Name", "Name"),
            Column("%s", "Machine", 18, left=True),
            _fixed("RunningJobs", "RunningJobs", "%11d"),
            _fixed("IdleJobs", "  IdleJobs", "%10d"),
            _fixed("HostsTotal", "HostsTotal", "%10d"),
        ),
        ("Name", "Machine", "RunningJobs", "  IdleJobs", "HostsTotal"),
    ),
    "master": Layout(
        (
            _auto("Name", "Name"),
            Column(None, "CondorVersion", 14, left=True, render="version"),
            _q(Column("%4d", "DetectedCpus", 4)),
            _q(Column(None, "DetectedMemory", 10, render="readable_mb")),
            Column(None, "DaemonStartTime", 13, render="elapsed_time"),
        ),
        ("Name", "Version", "Cpus", "  Memory", "   Uptime"),
    ),
    "any": Layout(
        (
            Column("%s", 'MyType ?: "None"', 18, left=True),
            Column("%s", 'TargetType ?: "None"', 18, left=True),
            replace(Column("%s", "Name", 41, left=True), alt=ALT_QUESTION),
        ),
        ("MyType", "TargetType", "Name"),
    ),
    # glidein's own: the ads of the glideinWMS protocol (condor_status has no such flags)
    "factory": _glidein_layout(
        "Name", "GLIDEIN_Site", "GLIDEIN_In_Downtime",
        "GlideinMonitorTotalStatusIdle", "GlideinMonitorTotalStatusRunning",
    ),
    "frontend": _glidein_layout("Name", "ReqIdleGlideins", "ReqMaxGlideins", "ReqRemoveExcess"),
}  # fmt: skip


def _int_attr(ad: classads.ClassAd, name: str) -> int | None:
    value = classads.eval_attr(ad, name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(column: Column, ad: classads.ClassAd) -> float | None:
    value = classads.eval_attr(ad, column.attr)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _activity(column: Column, ad: classads.ClassAd) -> Cell:
    activity = classads.eval_attr(ad, "Activity")
    if not isinstance(activity, str) or not activity:
        return Cell("??", True, "string")
    if activity == "Idle" and classads.eval_attr(ad, "OCU") is True:
        return Cell("OCU", True, "string")
    return Cell(activity, True, "string")


def _load_avg(column: Column, ad: classads.ClassAd) -> Cell:
    value = _number(column, ad)
    return Cell(None, False, "string") if value is None else Cell(printf("%.3f", value), True, "string")


def _since(column: Column, ad: classads.ClassAd, now_attrs: Sequence[str], clamp: bool) -> Cell:
    """Seconds from the column's time to the first of `now_attrs`; a missing start counts as 0
    (condor_status then shows the time since 1970)."""
    start = _number(column, ad) or 0.0
    now = next((n for n in (_int_attr(ad, a) for a in now_attrs) if n is not None), None)
    if now is None:
        return Cell(None, False, "string")
    elapsed = now - int(start)
    return Cell(format_time(max(elapsed, 0) if clamp else elapsed), True, "string")


def _activity_time(column: Column, ad: classads.ClassAd) -> Cell:
    return _since(column, ad, ("MyCurrentTime", "LastHeardFrom"), clamp=True)


def _elapsed_time(column: Column, ad: classads.ClassAd) -> Cell:
    return _since(column, ad, ("LastHeardFrom",), clamp=False)


def _version(column: Column, ad: classads.ClassAd) -> Cell:
    """`$CondorVersion: 25.13.2 2026-12-02 BuildID: 1 $` -> `25.13.2` (and `.1` with a build id)."""
    text = classads.eval_attr(ad, column.attr)
    if not isinstance(text, str) or not text:
        return Cell(None, False, "string")
    words = text.split()
    version = words[1] if len(words) > 1 else ""
    rest = words[2:]
    date = rest[0] if rest else ""
    rest = rest[1:] if len(date) > 7 and date[4:5] == "-" and date[7:8] == "-" else rest[3:]
    if rest and rest[0].startswith("B"):
        rest = rest[1:]
    if rest and not rest[0].startswith("$"):
        version += "." + rest[0].split("-")[0]
    return Cell(version[:21], True, "string")


def _readable_mb(column: Column, ad: classads.ClassAd) -> Cell:
    value = _number(column, ad)
    if value is None:
        return Cell("        ", True, "string")
    size, power = value * 1024.0 * 1024.0, 0
    while size > 1024.0 and power < 4:
        size, power = size / 1024.0, power + 1
    return Cell(printf("%.1f %s", size, ("B ", "KB", "MB", "GB", "TB")[power]), True, "string")


RENDERERS: dict[str, Renderer] = {
    "activity": _activity,
    "load_avg": _load_avg,
    "atime": _activity_time,
    "elapsed_time": _elapsed_time,
    "version": _version,
    "readable_mb": _readable_mb,
}


def _mask(layout: Layout) -> PrintMask:
    columns = [replace(column) for column in layout.columns]
    return PrintMask(columns, list(layout.headings), "", " ", "", "\n")


def render_table(options: StatusOptions, ads: Sequence[classads.ClassAd]) -> str:
    """The default output: headings, a blank line, one row per ad, then the totals (if any)."""
    layout = LAYOUTS[options.layout]
    out = []
    if not options.totals:
        mask = _mask(layout)
        rows = evaluate_rows(mask, ads, RENDERERS)
        if ads:
            out.append(display_headings(mask) + "\n")
        out += [display_row(mask, row) for row in rows]
    if ads and layout.totals:
        out.append("\n" + TOTAL_TABLES[layout.totals](ads))
    return "".join(out)


def _slot_totals(ads: Sequence[classads.ClassAd]) -> str:
    return slot_totals(ads)


def slot_totals(ads: Sequence[classads.ClassAd], keys: Sequence[str] = (), rollup: bool = False) -> str:
    """Slots by key (`keys[i]`, else Arch/OpSys) and state; an ad without them is malformed.
    With `rollup` (-compact) a partitionable slot counts its children's states (ChildState) and,
    while it has cpus left, its own."""
    counts: dict[str, dict[str, int]] = {}
    top = dict.fromkeys(SLOT_STATES, 0)
    malformed = 0
    for index, ad in enumerate(ads):
        key = keys[index] if index < len(keys) and keys[index] else _arch_opsys(ad)
        if key is None:
            malformed += 1
            continue
        row = counts.setdefault(key, dict.fromkeys(SLOT_STATES, 0))
        states = [classads.eval_attr(ad, "State")]
        if rollup and classads.eval_attr(ad, "PartitionableSlot") is True:
            children = classads.eval_attr(ad, "ChildState")
            cpus = classads.eval_attr(ad, "Cpus")
            has_cpus = isinstance(cpus, int | float) and cpus >= 0.1
            states = (children if isinstance(children, list) else []) + (states if has_cpus else [])
        for state in states:
            if isinstance(state, str) and state in SLOT_STATES:
                row[state] += 1
                top[state] += 1
            else:
                malformed += 1
    head = printf(
        "%6.6s %5.5s %7.7s %9.9s %7.7s %10.10s %6.6s %8.8s %6.6s\n",
        "Total", "Owner", "Claimed", "Unclaimed", "Matched", "Preempting", "Drain", "Backfill", "BkIdle",
    )  # fmt: skip

    def line(row: dict[str, int]) -> str:
        values = [sum(row.values()), *(row[s] for s in ("Owner", "Claimed", "Unclaimed", "Matched"))]
        values += [row["Preempting"], row["Drained"], row["Backfill"], 0]
        return printf("%6d %5d %7d %9d %7d %10d %6d %8d %6d\n", *values)

    rows = [_key(key, TOTAL_KEY_WIDTH) + line(counts[key]) for key in sorted(counts, key=str.encode)]
    total = _key("Total", TOTAL_KEY_WIDTH) + line(top)
    return _table(head, rows, total, malformed)


def _arch_opsys(ad: classads.ClassAd) -> str | None:
    arch, opsys = classads.eval_attr(ad, "Arch"), classads.eval_attr(ad, "OpSys")
    return f"{arch}/{opsys}" if isinstance(arch, str) and isinstance(opsys, str) else None


def _table(head: str, rows: Sequence[str], total: str, malformed: int) -> str:
    """TrackTotals::displayTotals: header, a line per key, the total, the malformed count."""
    out = [" " * TOTAL_KEY_WIDTH + head, "\n", *rows, "\n" if rows else "", total]
    if malformed:
        out.append(
            f"\n{'':{TOTAL_KEY_WIDTH}}(Omitted {malformed} malformed ads in computed attribute totals)\n\n"
        )
    return "".join(out)


def _key(text: str, width: int) -> str:
    return text[:width].rjust(width)


def _schedd_totals(ads: Sequence[classads.ClassAd]) -> str:
    """Jobs of all schedds; a schedd ad without one of the three counts is malformed."""
    sums = [0, 0, 0]
    malformed = 0
    for ad in ads:
        values = [_int_attr(ad, a) for a in ("TotalRunningJobs", "TotalIdleJobs", "TotalHeldJobs")]
        sums = [total + (value or 0) for total, value in zip(sums, values, strict=True)]
        malformed += None in values
    head = printf("%18s %18s %18s\n", "TotalRunningJobs", "TotalIdleJobs", "TotalHeldJobs")
    total = _key("Total", TOTAL_KEY_WIDTH) + printf("%18d %18d %18d\n", *sums)
    return _table(head, [_key(" ", TOTAL_KEY_WIDTH)], total, malformed)


TOTAL_TABLES: dict[str, Callable[[Sequence[classads.ClassAd]], str]] = {
    "slots": _slot_totals,
    "schedd": _schedd_totals,
}


def first_cell(column: Column, ad: classads.ClassAd) -> Cell:
    """A layout column evaluated alone (for tests of one renderer)."""
    render = RENDERERS.get(column.render or "")
    return render(column, ad) if render else evaluate_cell(column, ad)
