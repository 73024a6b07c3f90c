"""The pure parts of `glidein status`: its command line, print masks, ordering and renderers.

What the whole command prints is compared with the real condor_status in
tests/integration/condor/test_status_condor.py; these check the pieces' rules one by one.
"""

from __future__ import annotations

import random

import pytest

from glidein.cli.status_args import parse_status_args
from glidein.cli.status_compact import compact_rows, compact_sort
from glidein.cli.status_format import PrintMask, autoformat, format_column, format_time, render_custom
from glidein.cli.status_layouts import LAYOUTS, first_cell
from glidein.cli.status_output import long_form, natural_cmp, sort_ads, xml_form
from glidein.common import classads
from glidein.common.errors import ClassAdError, ConfigError, GlideinError


def _ads(*texts: str) -> list[classads.ClassAd]:
    return [classads.parse_ad(text) for text in texts]


def test_options_shorten_as_condor_status_allows() -> None:
    options = parse_status_args(["-const", "Cpus > 1", "-l", "-tot", "-lim", "3", "-sch", "a@b"])
    assert (options.output, options.totals, options.limit, options.my_type) == ("long", True, 3, "Scheduler")
    assert options.constraint() == '(Cpus > 1) && ((Name == "a@b" || Machine == "a@b"))'
    assert parse_status_args([]).my_type == "Machine"  # the slots by default
    assert parse_status_args(["-startd"]).layout == "startd"
    assert parse_status_args(["-subsystem", "glidefactory"]).my_type == "glidefactory"


def test_sort_guards_and_disables() -> None:
    options = parse_status_args(["-sort", "Memory", "-sort", "Name"])
    assert options.constraint() == "((Memory) =!= undefined) && ((Name) =!= undefined)"
    assert parse_status_args(["-sort", "no"]).no_sort is True


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["-bogus"], "unknown option -bogus"),
        (["-af"], "-af needs at least one attribute"),
        (["-limit", "x"], "-limit needs a number of ads, not 'x'"),
        (["-format", "%d"], "-format needs 2 more arguments"),
        (["-schedd", "-master"], "-master contradicts -schedd"),
        (["-compact", "-schedd"], "-compact shows slots only, not schedd ads"),
        (["-pool"], "-pool needs 1 more argument"),
        (["-format", "%.999999999f", "Cpus"], "a width or precision above 10000 is not shown"),
        (["-format", "%99999999999999999999d", "Cpus"], "a width or precision above 10000"),
    ],
)
def test_bad_words_are_one_line_errors(words: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_status_args(words)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_bad_expressions_name_the_text() -> None:
    with pytest.raises(ClassAdError, match="a \\(\\("):
        parse_status_args(["-af", "a (("])
    with pytest.raises(ClassAdError):
        parse_status_args(["-constraint", "x =="])


def test_af_stops_at_the_next_dash_word_and_a_lone_dash_ends_it() -> None:
    options = parse_status_args(["-af:h", "Name", "Cpus + 1", "-", "slot1@x"])
    assert [c.attr for c in options.mask.columns] == ["Name", "Cpus + 1"]
    assert options.mask.headings == ["Name", "Cpus + 1"] and options.names == ["slot1@x"]


def test_autoformat_evaluates_expressions_and_options() -> None:
    ads = _ads('Name = "a"\nCpus = 2\nLoad = 0.5\n', 'Name = "bb"\nCpus = 10\n')
    mask = PrintMask()
    autoformat("", ["Name", "Cpus + 1", 'strcat(Name, "-x")', "Missing", "Load"], mask)
    assert render_custom(mask, ads) == "a 3 a-x undefined 0.5\nbb 11 bb-x undefined undefined\n"
    mask = PrintMask()
    autoformat("h,", ["Name", "Cpus"], mask)
    assert render_custom(mask, ads) == "Name, Cpus\na   , 2   \nbb  , 10  \n"  # ',' after, ' ' before
    mask = PrintMask()
    autoformat("lV", ["Name"], mask)
    assert render_custom(mask, ads[:1]) == 'Name = "a"\n'
    mask = PrintMask()
    autoformat("r", ["Cpus * 2", "Cpus"], mask)
    assert render_custom(mask, ads[:1]) == "Cpus * 2 2\n"


def test_format_conversions_want_their_type() -> None:
    ad = _ads('Name = "n"\nCpus = 3\nLoad = 1.25\nExpr = Cpus * 2\n')
    cases = {
        ("%d|", "Cpus"): "3|",
        ("%d|", "Name"): "",  # a string for %d: the whole format prints nothing
        ("%s|", "Cpus"): "3|",  # %s of an attribute that is no string: its expression
        ("%s|", "Expr"): "Cpus * 2|",
        ("%5.1f|", "Load"): "  1.2|",
        ("%x|", "Cpus + 12"): "f|",
        ("%-4s|", "Name"): "n   |",
        ("%V|", "Name"): '"n"|',
        ("100%%|", "Cpus"): "100%%|",  # no conversion: printed as given
        ("%4.1f%%|", "Cpus"): " 3.0%|",
        ("[%d]\\n", "Missing"): "",
        ("%x|", "-5"): "fffffffb|",  # C: the low 32 bits, unsigned
        ("%d|", "123456789012"): "-1097262572|",
        ("%lld|", "123456789012"): "123456789012|",
        ("%c|", "65"): "A|",
        ("%a|", "Cpus * 1.5"): "0x1.2p+2|",
    }
    for (fmt, attr), expected in cases.items():
        mask = PrintMask(columns=[format_column(fmt, attr)])
        assert render_custom(mask, ad) == expected.replace("\\n", "\n"), (fmt, attr)


def test_natural_order_and_default_sort() -> None:
    assert natural_cmp("slot9@h", "slot10@h") < 0 < natural_cmp("slot10@h", "slot9@h")
    assert natural_cmp("a01", "a1") < 0  # more leading zeros come first
    assert natural_cmp("same", "same") == 0
    ads = _ads(*(f'Name = "slot{n}@m"\nMachine = "m"\n' for n in (10, 2, 1)), 'Name = "x"\n')
    names = [classads.eval_attr(ad, "Name") for ad in sort_ads(ads, ["Machine", "Name"])]
    assert names == ["slot1@m", "slot2@m", "slot10@m", "x"]  # undefined Machine sorts as "undefined"
    assert [classads.eval_attr(ad, "Name") for ad in sort_ads(ads, [])] == [
        "slot10@m",
        "slot2@m",
        "slot1@m",
        "x",
    ]


def test_long_and_xml_list_attributes_case_insensitively() -> None:
    ad = _ads('b = 1\nA = "x<y"\nc = {1, 2.5}\nd = x =?= "q"\n')
    assert long_form(ad) == 'A = "x<y"\nb = 1\nc = { 1,2.5 }\nd = x =?= "q"\n\n'
    assert long_form(ad, ["b", "a"]) == 'A = "x<y"\nb = 1\n\n'
    xml = xml_form(ad)
    assert '<a n="A"><s>x&lt;y</s></a>' in xml and "<l><i>1</i><r>2.500000000000000E+00</r></l>" in xml
    assert '<a n="d"><e>x is "q"</e></a>' in xml and xml.endswith("</c>\n\n</classads>\n")


def test_renderers() -> None:
    assert format_time(3725) == "  0+01:02:05" and format_time(2 * 86400 + 59) == "  2+00:00:59"
    slot = _ads(
        'Activity = "Idle"\nEnteredCurrentActivity = 100\nMyCurrentTime = 3825\nCondorLoadAvg = 0.5\n'
    )[0]
    columns = {column.attr: column for column in LAYOUTS["startd"].columns}
    assert first_cell(columns["EnteredCurrentActivity"], slot).value == "  0+01:02:05"
    assert first_cell(columns["CondorLoadAvg"], slot).value == "0.500"
    assert first_cell(columns["Activity"], slot).value == "Idle"
    master = _ads(
        'CondorVersion = "$CondorVersion: 25.13.2 2026-12-02 BuildID: 123 $"\nDetectedMemory = 2048\n'
    )[0]
    columns = {column.attr: column for column in LAYOUTS["master"].columns}
    assert first_cell(columns["CondorVersion"], master).value == "25.13.2.123"
    assert first_cell(columns["DetectedMemory"], master).value == "2.0 GB"


def test_compact_folds_a_machines_slots() -> None:
    ads = _ads(
        'Name = "slot1@m"\nMachine = "m"\nState = "Claimed"\nActivity = "Busy"\nCpus = 2\nMemory = 2048\n',
        'Name = "slot2@m"\nMachine = "m"\nState = "Unclaimed"\nActivity = "Idle"\nCpus = 1\nMemory = 1024\n',
        'Name = "slot1@p"\nMachine = "p"\nSlotTypeId = 1\nPartitionableSlot = true\nState = "Unclaimed"\n'
        'Activity = "Idle"\nCpus = 0\nMemory = 0\nNumDynamicSlots = 2\nChildState = {"Claimed", "Claimed"}\n',
    )
    rows = compact_rows(ads, compact_sort([]))
    assert [str(row.cells[0].value) for row in rows] == ["m", "p"]
    machine, pslot = rows
    # two slots; the busy one's cpus and memory are not free; the largest slot has 2 GB
    assert (machine.number(2), machine.number(7), machine.number(8), machine.number(12)) == (2, 1, 1.0, 2.0)
    assert machine.cells[10].value == "**"  # Claimed/Busy and Unclaimed/Idle
    assert pslot.cells[10].value == "C "  # an exhausted partitionable slot: its children's state
    assert compact_sort(["Memory"]) == ['join(":", Machine, SlotTypeId)', "Memory"]
    assert compact_sort([], no_sort=True) == ['join(":", Machine, SlotTypeId)']


def test_random_formats_print_or_fail_in_one_line() -> None:
    """Random -format strings and -af options over odd values: text or a GlideinError, never a crash."""
    ads = _ads(
        'Name = "a"\nCpus = 3\nL = 1.5\nS = "x%sy"\nB = true\nLi = {1, "a", [x = 1]}\nE = 1/0\n'
        "Big = 9223372036854775807\nMachine = 1\nState = {1}\nEnteredCurrentActivity = 1e300\n",
        'Name = "b"\nMachine = "m"\n',
    )
    rng = random.Random(19)
    pieces = ["%", "-", "0", "#", " ", "+", "'", "5", ".", "3", "l", "h", "x", "\\n", "\\"]
    attrs = ["Name", "Cpus", "L", "S", "B", "Li", "E", "Big", "Missing", "Cpus/0", "L*1e300*1e300", "-Big"]
    for _ in range(3000):
        fmt = "".join(rng.choice([*pieces, rng.choice("diouxXcfFeEgGaAsvVrRTY%pnq*")]) for _ in range(6))
        words = ["-format", fmt, rng.choice(attrs)]
        if rng.random() < 0.4:
            words = ["-af:" + "".join(rng.sample("lhVrjtng,TY", 3)), rng.choice(attrs), rng.choice(attrs)]
        try:
            render_custom(parse_status_args(words).mask, ads)
        except GlideinError as exc:
            assert "\n" not in str(exc)
