"""Pressure and removal tables; expected numbers worked by hand from glideinWMS's formulas."""

from __future__ import annotations

import pytest

from glidein.frontend.pressure import (
    Cap,
    EntryDemand,
    PressurePolicy,
    RemovalHistory,
    RemovalPolicy,
    SlotCounts,
    Totals,
    compute,
    removal,
)

P = PressurePolicy()  # glideinWMS defaults: max idle 100, reserve 5, curb 5 idle slots, ramp-up 3


def slots(total: int = 0, idle: int = 0, running: int = 0) -> SlotCounts:
    return SlotCounts(total=total, idle=idle, running=running, idle_all=idle)


# (case, policy, demand, slots, totals, min_idle, max_run, decided_by contains, triggered keys)
TABLE = [
    # 30 idle: int(30/3)=10 + reserve min(30//3, 5)=5 -> 15; max_run int(30*1.15+1)=35
    ("fresh demand", P, EntryDemand(30, 30, 0), slots(), Totals(), 15, 35, "effective idle", ()),
    ("no old jobs, no reserve", P, EntryDemand(30, 0, 0), slots(), Totals(), 10, 35, "+ reserve 0", ()),
    # int(600/3)=200+5 -> capped at 100
    (
        "max idle per entry",
        P,
        EntryDemand(600, 600, 0),
        slots(),
        Totals(),
        100,
        691,
        "idle_glideins_per_entry.max",
        (),
    ),
    # effective 25: int(25/3)=8 + min(25//3, 5)=5 = 13, curb (5 idle slots >= 5) -> 6.5 -> 6
    (
        "entry curb halves",
        P,
        EntryDemand(30, 30, 0),
        slots(5, 5),
        Totals(),
        6,
        29,
        "idle_vms_per_entry.curb",
        ("CurbIdleGlideinsPerEntry",),
    ),
    # five curbs: 13 / 32 -> 0.4 -> raised to 1
    (
        "every curb, at least 1",
        P,
        EntryDemand(30, 30, 0),
        slots(5, 5),
        Totals(95000, 250, 95000, 250),
        1,
        29,
        "minimum of 1",
        (
            "CurbIdleGlideinsPerEntry",
            "CurbTotalGlideinsPerGroup",
            "CurbIdleGlideinsPerGroup",
            "CurbTotalGlideinsPerFrontend",
            "CurbIdleGlideinsPerFrontend",
        ),
    ),
    # group curb only: 15 / 2 = 7
    (
        "group curb",
        P,
        EntryDemand(30, 30, 0),
        slots(),
        Totals(group_total=90000),
        7,
        35,
        "running_glideins_total.curb",
        ("CurbTotalGlideinsPerGroup",),
    ),
    (
        "frontend idle curb",
        P,
        EntryDemand(30, 30, 0),
        slots(),
        Totals(frontend_idle=200),
        7,
        35,
        "frontend limits.idle_vms_total.curb",
        ("CurbIdleGlideinsPerFrontend",),
    ),
    # hard limits -> 0, max_run still computed (200 * 1.15 is 229.99999999999997 in floats, as in
    # glideinWMS, so int(... + 1) is 230)
    (
        "glideins per entry limit",
        P,
        EntryDemand(30, 30, 3),
        slots(10000, 0, 10000),
        Totals(),
        0,
        38,
        "running_glideins_per_entry.max",
        ("TotalGlideinsPerEntry",),
    ),
    (
        "idle slots per entry limit",
        P,
        EntryDemand(300, 300, 0),
        slots(100, 100),
        Totals(),
        0,
        230,
        "idle_vms_per_entry.max",
        ("IdleGlideinsPerEntry",),
    ),
    (
        "group total limit",
        P,
        EntryDemand(30, 30, 0),
        slots(),
        Totals(group_total=100000),
        0,
        35,
        "limits.running_glideins_total.max",
        ("TotalGlideinsPerGroup",),
    ),
    (
        "group idle limit",
        P,
        EntryDemand(30, 30, 0),
        slots(),
        Totals(group_idle=1000),
        0,
        35,
        "limits.idle_vms_total.max",
        ("IdleGlideinsPerGroup",),
    ),
    (
        "frontend total limit",
        P,
        EntryDemand(30, 30, 0),
        slots(),
        Totals(frontend_total=100000),
        0,
        35,
        "frontend limits.running_glideins_total.max",
        ("TotalGlideinsPerFrontend",),
    ),
    (
        "frontend idle limit",
        P,
        EntryDemand(30, 30, 0),
        slots(),
        Totals(frontend_idle=1000),
        0,
        35,
        "frontend limits.idle_vms_total.max",
        ("IdleGlideinsPerFrontend",),
    ),
    # headroom: min(30, 20-15=5)=5 -> int(5/3)=1 + 5 = 6; max_run int((30+15)*1.15+1)=52
    (
        "headroom under running per entry",
        PressurePolicy(max_running=20),
        EntryDemand(30, 30, 15),
        slots(15, 0, 15),
        Totals(),
        6,
        52,
        "headroom under limits.running_glideins_per_entry.max",
        (),
    ),
    ("downtime", P, EntryDemand(30, 30, 5, in_downtime=True), slots(), Totals(), 0, 0, "downtime", ()),
    ("no idle, running", P, EntryDemand(0, 0, 7), slots(7, 0, 7), Totals(), 0, 7, "no idle jobs", ()),
    ("nothing at all", P, EntryDemand(0, 0, 0), slots(), Totals(), 0, 0, "no idle jobs", ()),
    # min running 10: idle raised to 10 -> int(10/3)=3; max_run int(10*1.15+1)=12
    (
        "min running",
        PressurePolicy(min_running=10),
        EntryDemand(0, 0, 0),
        slots(),
        Totals(),
        3,
        12,
        "effective idle",
        (),
    ),
    # 6 usable idle slots take the 4 idle jobs; max_run int((0+0)*1.15+1)=1
    (
        "idle slots cover jobs",
        P,
        EntryDemand(4, 4, 0),
        slots(6, 6),
        Totals(),
        0,
        1,
        "usable idle slots cover",
        (),
    ),
    (
        "no ramp-up attenuation",
        PressurePolicy(ramp_up_attenuation=1.0),
        EntryDemand(2, 0, 0),
        slots(),
        Totals(),
        2,
        3,
        "effective idle",
        (),
    ),
    ("one job, at least 1", P, EntryDemand(1, 0, 0), slots(), Totals(), 1, 2, "minimum of 1", ()),
    # relative_to_queue 2: int((10 - 2 + 4) * 2 + 1) = 25; min: eff 8 -> 2 + min(8//3=2, 5)=4
    (
        "relative to queue",
        PressurePolicy(relative_to_queue=2.0),
        EntryDemand(10, 10, 4),
        slots(6, 2, 4),
        Totals(),
        4,
        25,
        "effective idle",
        (),
    ),
    (
        "small caps",
        PressurePolicy(max_idle=3, idle_vms_per_entry=Cap(10, 2)),
        EntryDemand(50, 50, 0),
        slots(2, 2),
        Totals(),
        1,
        56,
        "idle_vms_per_entry.curb",
        ("CurbIdleGlideinsPerEntry",),
    ),
]


@pytest.mark.parametrize(
    ("policy", "demand", "counts", "totals", "want_idle", "want_max", "why", "keys"),
    [case[1:] for case in TABLE],
    ids=[case[0] for case in TABLE],
)
def test_pressure_table(
    policy: PressurePolicy,
    demand: EntryDemand,
    counts: SlotCounts,
    totals: Totals,
    want_idle: int,
    want_max: int,
    why: str,
    keys: tuple[str, ...],
) -> None:
    result = compute(policy, demand, counts, totals)
    assert (result.min_idle, result.max_run) == (want_idle, want_max)
    assert why in result.decided_by
    assert tuple(t.key for t in result.triggered) == keys


def test_trigger_text_names_count_and_bound() -> None:
    result = compute(P, EntryDemand(30, 30, 0), slots(5, 5), Totals())
    assert result.triggered[0].text() == "limits.idle_vms_per_entry.curb (count=5, curb=5)"
    assert result.triggered[0].is_curb


R = RemovalPolicy()  # glideinWMS: WAIT after 5 cycles, IDLE/ALL after 10; guard IDLE


@pytest.mark.parametrize(
    ("policy", "history", "idle_jobs", "counts", "level", "margin", "after"),
    [
        (R, RemovalHistory(), 0, slots(), "NO", 0, RemovalHistory(1, 1, 1)),
        (R, RemovalHistory(5, 0, 0), 0, slots(4, 1, 3), "WAIT", 0, RemovalHistory(6, 0, 0)),
        (R, RemovalHistory(5, 10, 0), 0, slots(4, 4), "IDLE", 0, RemovalHistory(6, 11, 0)),
        (R, RemovalHistory(5, 9, 0), 0, slots(4, 4), "WAIT", 0, RemovalHistory(6, 10, 0)),
        # ALL wanted, the guard (max_level IDLE) caps it
        (R, RemovalHistory(5, 10, 10), 0, slots(), "IDLE", 0, RemovalHistory(6, 11, 11)),
        (
            RemovalPolicy(max_level="ALL"),
            RemovalHistory(5, 10, 10),
            0,
            slots(),
            "ALL",
            0,
            RemovalHistory(6, 11, 11),
        ),
        (
            RemovalPolicy(max_level="NO"),
            RemovalHistory(50, 50, 50),
            0,
            slots(),
            "NO",
            0,
            RemovalHistory(51, 51, 51),
        ),
        # idle jobs reset idle0: no removal whatever the slots do
        (R, RemovalHistory(50, 50, 50), 3, slots(), "NO", 0, RemovalHistory(0, 51, 51)),
        (
            RemovalPolicy(margin=2),
            RemovalHistory(5, 0, 0),
            0,
            slots(4, 1, 3),
            "WAIT",
            2,
            RemovalHistory(6, 0, 0),
        ),
        (
            RemovalPolicy(wait_cycles=0),
            RemovalHistory(),
            0,
            slots(2, 0, 2),
            "WAIT",
            0,
            RemovalHistory(1, 0, 0),
        ),
    ],
)
def test_removal_table(
    policy: RemovalPolicy,
    history: RemovalHistory,
    idle_jobs: int,
    counts: SlotCounts,
    level: str,
    margin: int,
    after: RemovalHistory,
) -> None:
    result = removal(policy, history, idle_jobs, counts)
    assert (result.level, result.margin, result.history) == (level, margin, after)


def test_removal_escalates_over_cycles() -> None:
    policy, history, levels = RemovalPolicy(max_level="ALL"), RemovalHistory(), []
    for _ in range(12):
        result = removal(policy, history, 0, slots())
        history = result.history
        levels.append(result.level)
    assert levels == ["NO"] * 5 + ["WAIT"] * 5 + ["ALL"] * 2
