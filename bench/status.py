"""`glidein status` output benchmark: how long the condor_status layouts take for N slots.

Synthetic slot ads (8 static slots per machine, a partitionable slot with dynamic children on
every fourth machine), no collector: the figure is the formatting alone (the query is the bus's,
measured by bench/collector.py). Prints one line per layout and size; about 30 s.
Run: .venv/bin/python bench/status.py [N ...]   (default 1000 10000)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from glidein.cli.status_args import parse_status_args
from glidein.cli.status_compact import compact_sort, render_compact
from glidein.cli.status_format import render_custom
from glidein.cli.status_layouts import render_table
from glidein.cli.status_output import long_form, sort_ads, xml_form
from glidein.common import classads


def slot(i: int) -> classads.ClassAd:
    machine = f"wn{i // 8}.example.org"
    kind = "Partitionable" if (i // 8) % 4 == 0 and i % 8 == 0 else "Static"
    state, activity = (("Claimed", "Busy"), ("Unclaimed", "Idle"), ("Owner", "Idle"))[i % 3]
    return classads.parse_ad(
        f'MyType = "Machine"\nName = "slot{i % 8 + 1}@{machine}"\nMachine = "{machine}"\n'
        f'OpSys = "LINUX"\nOpSysAndVer = "AlmaLinux9"\nArch = "X86_64"\nSlotType = "{kind}"\n'
        f"PartitionableSlot = {str(kind == 'Partitionable').lower()}\nSlotTypeId = {1 + (kind == 'Static')}\n"
        f'State = "{state}"\nActivity = "{activity}"\n'
        f"CondorLoadAvg = {i % 100 / 100}\nMemory = {1024 * (i % 4 + 1)}\nCpus = {i % 4 + 1}\n"
        f"TotalSlotCpus = 8\nTotalSlotMemory = 16384\nEnteredCurrentActivity = {1_700_000_000 - i}\n"
        f'MyCurrentTime = 1700003725\nChildState = {{"Claimed", "Claimed"}}\nGLIDEIN_Site = "Site{i % 7}"\n'
    )


def timed(name: str, count: int, call: Callable[[], str]) -> None:
    start = time.perf_counter()
    text = call()
    elapsed = time.perf_counter() - start
    rate = count / elapsed
    print(f"{name:<24} {count:>7} slots  {elapsed:7.3f} s  {rate:>9.0f} slots/s  {len(text):>9} chars")


def one_size(count: int) -> None:
    ads = [slot(i) for i in range(count)]
    table = parse_status_args([])
    autoformat = parse_status_args(["-af", "Name", "Cpus * 2", 'strcat(GLIDEIN_Site, "/", State)'])
    timed("sort (Machine, Name)", count, lambda: str(len(sort_ads(ads, ["Machine", "Name"]))))
    timed("default table + totals", count, lambda: render_table(table, sort_ads(ads, ["Machine", "Name"])))
    timed("-af with expressions", count, lambda: render_custom(autoformat.mask, ads))
    timed("-compact", count, lambda: render_compact(ads, compact_sort([])))
    timed("-long", count, lambda: long_form(ads))
    timed("-xml", count, lambda: xml_form(ads))


if __name__ == "__main__":
    for size in [int(word) for word in sys.argv[1:]] or [1000, 10000]:
        one_size(size)
