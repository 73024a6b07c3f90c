"""`glidein status -compact`: one row per machine, its slots rolled up, as condor_status -compact.

The slots asked for are the partitionable and static ones (dynamic slots are counted through
their partitionable parent). Rows are ordered by `join(":", Machine, SlotTypeId)` then Name;
consecutive rows of one machine fold into the first: slots counted, free cpus and memory of the
slots that are not busy summed, the largest slot's memory kept, state/activity codes merged
(`**` when they differ). Totals count a partitionable slot's children by their ChildState.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from glidein.cli.status_format import (
    Cell,
    Column,
    PrintMask,
    calc_width,
    display_headings,
    display_row,
    evaluate_cell,
)
from glidein.cli.status_layouts import TOTAL_KEY_WIDTH, slot_totals
from glidein.cli.status_output import sort_ads, sort_key
from glidein.common import classads

CONSTRAINT = "PartitionableSlot =?= true || DynamicSlot =!= true"
PRIMARY_KEY = 'join(":", Machine, SlotTypeId)'
STATES = (
    "Owner",
    "Unclaimed",
    "Matched",
    "Claimed",
    "Preempting",
    "Shutdown",
    "Delete",
    "Backfill",
    "Drained",
)
ACTIVITIES = ("Idle", "Busy", "Retiring", "Vacating", "Suspended", "Benchmarking", "Killing", "Cleaning")
STATE_LETTERS = dict(zip(STATES, "OUMCPSXFD", strict=True))
ACTIVITY_LETTERS = dict(zip(ACTIVITIES, "ibrvsekc", strict=True))
MIXED = "#"  # children in different states (or activities)
BUSY = ("Matched", "Claimed", "Preempting")
# index of the columns the fold works on
SLOTS, FREE_CPUS, FREE_MEM, ACT_CODE, JOB_STARTS, MAX_SLOT_MEM = 2, 7, 8, 10, 11, 12


def _column(attr: str, heading: str, fmt: str | None, alt: str = " ") -> Column:
    """A column without WIDTH: as wide as its heading, wider for a wider value."""
    return Column(fmt, attr, len(heading), left=True, alt=alt, auto_width=True)


COLUMNS = (
    Column("%s", "Machine", len("Machine"), left=True, auto_width=True),
    _column("Platform", "Platform", "%s"),
    _column("NumDynamicSlots", "Slot", "%4d"),
    replace(_column("SlotType", "s", "%s"), no_prefix=True),
    _column("TotalSlotCpus", "Cpus", "%4d"),
    _column("TotalSlotGpus", "Gpus", "%4d"),
    _column("TotalSlotMemory/1024.0", " TotalGb", "%8.2f"),
    _column("Cpus", "FreCpu", "%6d"),
    _column("Memory/1024.0", " FreeGb ", "%8.2f"),
    _column("TotalLoadAvg*1.0/TotalCpus", "CpuLoad", "%7.2f"),
    Column("%s", "Activity", 2),
    _column("RecentJobStarts/20.0", "Jobs/Min", "%8.2f", alt="_"),
    _column("Max(ChildMemory)/1024.0", "MaxSlotGb", "%9.2f", alt="*"),
)
HEADINGS = ("Machine", "Platform", "Slot", "s", "Cpus", "Gpus", " TotalGb", "FreCpu", " FreeGb ", "CpuLoad",
            "ST", "Jobs/Min", "MaxSlotGb")  # fmt: skip


@dataclass
class Row:
    ad: classads.ClassAd
    cells: list[Cell]
    key: str
    partitionable: bool = False
    busy: bool = False
    cooked: bool = False

    def number(self, index: int) -> float:
        cell = self.cells[index]
        return float(cell.value) if cell.valid and isinstance(cell.value, int | float) else 0.0

    def put(self, index: int, value: float, valid: bool | None = None) -> None:
        cell = self.cells[index]
        cell.value = int(value) if cell.kind == "int" else float(value)
        cell.valid = cell.valid if valid is None else valid


def platform(ad: classads.ClassAd) -> str | None:
    """HTCondor's platform name: `x64/AlmaLinux9` (OpSysShortName on Windows)."""
    opsys = classads.eval_attr(ad, "OpSys")
    name = classads.eval_attr(ad, "OpSysShortName" if opsys == "WINDOWS" else "OpSysAndVer")
    if not isinstance(name, str):
        return None
    arch = classads.eval_attr(ad, "Arch")
    arch = {"X86_64": "x64", "X86": "x86"}.get(arch, arch) if isinstance(arch, str) else ""
    return f"{arch}/{name}"


def _activity_code(ad: classads.ClassAd) -> Cell:
    state, activity = classads.eval_attr(ad, "State"), classads.eval_attr(ad, "Activity")
    state_letter = STATE_LETTERS.get(state, " ") if isinstance(state, str) else " "
    act_letter = ACTIVITY_LETTERS.get(activity, " ") if isinstance(activity, str) else " "
    valid = isinstance(activity, str) and activity in ACTIVITY_LETTERS
    valid = valid or (isinstance(activity, str) and activity in STATE_LETTERS)
    return Cell(state_letter + act_letter, valid, "string")


def _consensus(values: object, letters: dict[str, str], wins: str) -> str:
    """The children's common state (or activity) letter: `#` when they differ, `wins` wins."""
    found = ""
    for value in values if isinstance(values, list) else []:
        letter = letters.get(value, "") if isinstance(value, str) else ""
        if letter and letter != found:
            if not found:
                found = letter
            elif letter == wins:
                return letter
            else:
                found = MIXED
    return found


def _rolled_up(ad: classads.ClassAd, code: str) -> str:
    """A partitionable slot's state/activity code merged with its children's (ChildState, ChildActivity)."""
    child_state = _consensus(classads.eval_attr(ad, "ChildState"), STATE_LETTERS, "P")
    child_act = _consensus(classads.eval_attr(ad, "ChildActivity"), ACTIVITY_LETTERS, "v")
    bsc, bac = child_state or " ", child_act or " "
    asc, aac = code[0], code[1]
    cpus = classads.eval_attr(ad, "Cpus")
    exhausted = isinstance(cpus, int | float) and not isinstance(cpus, bool) and cpus < 0.1
    if (asc, aac) == ("U", "i") and exhausted:
        asc, aac = bsc, bac
    elif asc == "D" and bsc == "C":
        asc = bsc
    asc = bsc if bsc == "P" else asc
    aac = bac if bac == "v" else aac
    if child_state and asc != bsc:
        asc = "*"
    if child_act and aac != bac:
        aac = "*"
    return asc + aac


def _row(ad: classads.ClassAd, key: str) -> Row:
    own = (1, 3, ACT_CODE)  # rendered below
    cells = [Cell() if index in own else evaluate_cell(column, ad) for index, column in enumerate(COLUMNS)]
    name = platform(ad)
    cells[1] = Cell(name, name is not None, "string")
    tag = classads.eval_attr(ad, "SlotType")
    tag = tag if isinstance(tag, str) else ""
    cells[3] = Cell({"Static": "S", "Partitionable": " "}.get(tag, tag[:1]), True, "string")
    cells[ACT_CODE] = _activity_code(ad)
    partitionable = classads.eval_attr(ad, "PartitionableSlot") is True
    if partitionable:
        cells[ACT_CODE].value = _rolled_up(ad, str(cells[ACT_CODE].value))
    state = classads.eval_attr(ad, "State")
    busy = state in BUSY and not (partitionable and state == "Claimed")
    return Row(ad, cells, key, partitionable, busy)


def _slot_label(key: str) -> str:
    """The slot name in a sort key's second line (`slot2` of `slot2@host`), as condor_status 25.13
    takes it: only when the second sort key is the Name."""
    second = key.split("\n")[1] if key.count("\n") >= 1 else ""
    name, at, _ = second.partition("@")
    return name if at and key.count("\n") >= 2 else ""


def _same_machine(left: str, right: str) -> tuple[bool, bool]:
    """condor_status's same_primary_key: (same machine, other slot type). The keys' first lines
    (machine:slot type id) must agree, digits after a ':' aside (that is another slot type)."""
    first, second = left.partition("\n")[0], right.partition("\n")[0]
    if len(first) != len(second):
        return False, False
    other_type = False
    for index, (a, b) in enumerate(zip(first, second, strict=True)):
        if a != b:
            if index and first[index - 1] == ":" and a.isdigit() and b.isdigit():
                other_type = True
            else:
                return False, False
    return True, other_type


def _cook(row: Row) -> None:
    """A static slot's first fold: its memory is the largest slot's, it counts as one slot."""
    if row.partitionable or row.cooked:
        return
    row.put(MAX_SLOT_MEM, row.number(FREE_MEM), True)
    if row.busy:
        row.put(FREE_CPUS, 0)
        row.put(FREE_MEM, 0.0)
    row.put(SLOTS, 1, True)
    row.cooked = True


def _fold(into: Row, row: Row) -> None:
    own_mem = row.number(MAX_SLOT_MEM if row.partitionable else FREE_MEM)
    into.put(MAX_SLOT_MEM, max(into.number(MAX_SLOT_MEM), own_mem))
    if row.partitionable or not row.busy:
        into.put(FREE_MEM, into.number(FREE_MEM) + own_mem)
        into.put(FREE_CPUS, into.number(FREE_CPUS) + row.number(FREE_CPUS))
    slots = into.number(SLOTS) if into.cells[SLOTS].valid else 1
    into.put(SLOTS, slots + (row.number(SLOTS) if row.partitionable else 1), True)
    into.put(JOB_STARTS, into.number(JOB_STARTS) + row.number(JOB_STARTS))
    mine, theirs = str(into.cells[ACT_CODE].value), str(row.cells[ACT_CODE].value)
    merged = "".join(a if a == b else "*" for a, b in zip(mine, theirs, strict=True))
    into.cells[ACT_CODE].value = merged


def compact_rows(
    ads: Sequence[classads.ClassAd], sort: Sequence[str], mask: PrintMask | None = None
) -> list[Row]:
    """The rows left after folding each machine's slots into its first one; the auto-width
    columns of `mask` grow to every slot's value (before folding, as condor_status)."""
    exprs = [classads.parse_expr(text) for text in sort]
    rows = [_row(ad, sort_key(ad, exprs, 0)) for ad in sort_ads(ads, sort)]
    columns = mask.columns if mask is not None else []
    for row in rows if columns else []:
        for column, cell in zip(columns, row.cells, strict=True):
            if cell.valid and column.auto_width:
                column.width = max(column.width, calc_width(column, cell))
    shown: list[Row] = []
    for row in rows:
        same, other_type = _same_machine(row.key, shown[-1].key) if shown else (False, False)
        if same and not other_type:
            _cook(shown[-1])
            _fold(shown[-1], row)
            continue
        if shown:
            _cook(shown[-1])
        label = _slot_label(row.key)
        if same and label:  # the machine's next slot type: indented slot name
            row.cells[0] = Cell("   " + label, True, "string")
        shown.append(row)
    if shown:
        _cook(shown[-1])
    return shown


def render_compact(ads: Sequence[classads.ClassAd], sort: Sequence[str]) -> str:
    mask = PrintMask([replace(column) for column in COLUMNS], list(HEADINGS), "", " ", "", "\n")
    rows = compact_rows(ads, sort, mask)
    out = [display_headings(mask) + "\n"] if rows else []
    out += [display_row(mask, row.cells) for row in rows]
    if ads:
        keys = [platform(ad) or "" for ad in ads]
        out.append("\n" + slot_totals(ads, keys, rollup=True))
    return "".join(out)


def compact_sort(sort: Sequence[str], no_sort: bool = False) -> list[str]:
    """condor_status's rule: the machine (with the slot type) is always the first key."""
    rest = list(sort) if sort or no_sort else ["Machine", "Name"]
    if rest and rest[0].lower() == "machine":
        rest = rest[1:]
    return [PRIMARY_KEY, *rest]


__all__ = ["CONSTRAINT", "TOTAL_KEY_WIDTH", "compact_sort", "render_compact"]
