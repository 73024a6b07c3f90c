"""Projection by search (`Projection.item`) answers what projection line by line answers."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from glidein.pool import cedar
from glidein.pool.collector.ads import Record, build_record
from glidein.pool.collector.projection import Projection, _by_lines

NAMES = ["Cpus", "CpusFree", "cpus", "Site", "Req", "Mid", "Lifetime", "NameX"]
ASKED = [name.lower() for name in NAMES] + ["name", "mytype", "absent", "lastheardfrom"]
VALUES = ["1", "2.5", '"a b"', "true", "UNDEFINED", "Cpus + 1", 'MY.Site == "x" && Mid', "Req || false"]


def _record(pairs: list[tuple[str, str]]) -> Record:
    blob = "".join(f"{name} = {expr}\0" for name, expr in pairs)
    return build_record(f'MyType = "t"\0Name = "n"\0{blob}'.encode(), None, 1000.0, 900.0)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from(VALUES)), max_size=8),
    st.sets(st.sampled_from(ASKED), min_size=1),
)
def test_search_equals_line_by_line(pairs: list[tuple[str, str]], asked: set[str]) -> None:
    record = _record(pairs)
    assert Projection(asked).item(record) == _by_lines(record, asked)


def test_references_are_followed_and_prefixes_are_not_names() -> None:
    record = _record([("CpusFree", "3"), ("Cpus", "4"), ("Mid", "Cpus > 2"), ("Req", "Mid && TARGET.X")])
    reply = cedar.Message(Projection(["req"]).item(record))
    assert reply.get_int() == 1
    assert [name for name, _ in reply.get_ad()] == ["Cpus", "Mid", "Req"]
    reply = cedar.Message(Projection(["CPUS"]).item(record))
    reply.get_int()
    assert reply.get_ad() == [("Cpus", "4")]


def test_names_after_blanks_are_found_line_by_line() -> None:
    record = build_record(b'MyType = "t"\0 Name = "n"\0\tCpus=4\0', None, 1000.0, 900.0)
    reply = cedar.Message(Projection(["cpus", "name"]).item(record))
    reply.get_int()
    assert sorted(name.strip() for name, _ in reply.get_ad()) == ["Cpus", "Name"]
