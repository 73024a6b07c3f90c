"""The collector's command logic and store, without sockets (fake clock)."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from glidein.common.errors import ClassAdError
from glidein.pool import cedar
from glidein.pool.collector import planner
from glidein.pool.collector.ads import build_record, to_new_expr
from glidein.pool.collector.commands import Collector
from glidein.pool.collector.store import AdStore

UPDATE_GENERIC = cedar.COMMANDS["UPDATE_AD_GENERIC"]
UPDATE_STARTD = cedar.COMMANDS["UPDATE_STARTD_AD"]
QUERY_ANY = cedar.COMMANDS["QUERY_ANY_ADS"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _msg(ad: cedar.Ad) -> cedar.Message:
    return cedar.Message(cedar.Encoder().put_ad(ad).payload())


def _ad(my_type: str, name: str, **values: cedar.Literal) -> cedar.Ad:
    return cedar.make_ad({"MyType": my_type, "Name": name, **values})


def _query(collector: Collector, constraint: str, command: int = QUERY_ANY, **values: cedar.Literal) -> list:
    request = [*cedar.make_ad({"MyType": "Query", **values}), ("Requirements", constraint)]
    answer = b"".join(collector.answer(collector.query_specs(command, _msg(request)))) + cedar.INT.pack(0)
    reply = cedar.Message(answer)
    ads = []
    while reply.get_int():
        ads.append(cedar.ad_dict(reply.get_ad()))
    return ads


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def collector(clock: Clock) -> Collector:
    return Collector(AdStore(), default_lifetime=100, clock=clock)


def test_update_stamps_replaces_and_hides_private_attributes(collector: Collector, clock: Clock) -> None:
    collector.update(UPDATE_GENERIC, _msg(_ad("glideX", "n1", V=1, ClaimId="secret")), "peer")
    clock.now += 5
    collector.update(UPDATE_GENERIC, _msg(_ad("GLIDEx", "N1", V=2, LastHeardFrom=1)), "peer")
    (ad,) = _query(collector, "true")
    assert cedar.literal(ad["v"]) == 2
    assert cedar.literal(ad["lastheardfrom"]) == 1005
    assert "claimid" not in ad
    assert len(collector.store) == 1


def test_typed_update_defaults_mytype_and_bad_ads_are_rejected(collector: Collector) -> None:
    collector.update(UPDATE_STARTD, _msg([("Name", '"slot1@h"'), ("Cpus", "4")]), "peer")
    assert [cedar.literal(ad["mytype"]) for ad in _query(collector, "Cpus == 4")] == ["Machine"]
    assert collector.update(UPDATE_GENERIC, _msg([("Name", '"x"')]), "peer") is None  # no MyType
    assert collector.update(UPDATE_GENERIC, _msg([("MyType", '"t"')]), "peer") is None  # no Name
    assert collector.update(UPDATE_GENERIC, _msg([*_ad("t", "x"), ("Bad", "1 +")]), "peer") is None
    assert collector.stats.rejected == 3


def test_lifetime_expiry(collector: Collector, clock: Clock) -> None:
    collector.update(UPDATE_GENERIC, _msg(_ad("t", "short", ClassAdLifetime=10)), "peer")
    collector.update(UPDATE_GENERIC, _msg(_ad("t", "default")), "peer")
    clock.now += 11
    assert [cedar.literal(ad["name"]) for ad in _query(collector, "true")] == ["default"]  # hidden at once
    assert collector.store.expire(clock.now) == 1
    clock.now += 90
    assert collector.store.expire(clock.now) == 1
    assert len(collector.store) == 0


def test_projection_limit_and_generic_target(collector: Collector) -> None:
    for i in range(10):
        collector.update(UPDATE_GENERIC, _msg(_ad("glidefactory" if i % 2 else "other", f"e{i}", I=i)), "p")
    generic = cedar.COMMANDS["QUERY_GENERIC_ADS"]
    got = _query(collector, "I > 2", generic, TargetType="glidefactory", Projection="I, Name")
    assert [cedar.literal(ad["i"]) for ad in got] == [3, 5, 7, 9]
    assert all(set(ad) == {"i", "name"} for ad in got)
    assert len(_query(collector, "true", LimitResults=3)) == 3


def test_invalidate_by_constraint_and_by_name(collector: Collector) -> None:
    for i in range(6):
        collector.update(UPDATE_GENERIC, _msg(_ad("t", f"e{i}", I=i)), "p")
    invalidate = cedar.COMMANDS["INVALIDATE_ADS_GENERIC"]
    request = [*cedar.make_ad({"MyType": "Query", "TargetType": "t"}), ("Requirements", "I >= 3")]
    assert collector.invalidate(invalidate, _msg(request), "p") == 3
    assert collector.invalidate(invalidate, _msg(cedar.make_ad({"TargetType": "t", "Name": "E0"})), "p") == 1
    with pytest.raises(ClassAdError, match="without TargetType"):
        collector.invalidate(invalidate, _msg([("Requirements", "true")]), "p")
    assert sorted(cedar.literal(ad["name"]) for ad in _query(collector, "true")) == ["e1", "e2"]


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ('1; MyType = "x"', "';'"),
        ("1 ] [ X = 2", "unbalanced"),
        ("1 /* hide", "comment"),
        ('"open', "unterminated"),
        ("{ 1, 2", "unclosed"),
    ],
)
def test_expressions_that_could_leak_are_refused(expr: str, problem: str) -> None:
    with pytest.raises(ClassAdError, match=problem):
        to_new_expr("A", expr)


def test_safe_expressions_pass() -> None:
    assert to_new_expr("A", '[ a = 1; b = "x;]" ]') == '[ a = 1; b = "x;]" ]'
    assert to_new_expr("A", r'"a\b"') == r'"a\\b"'
    record = build_record(b'MyType = "t"\0Name = "n"\0L = { 1, [ q = 2; r = 3 ] }\0', None, 0.0, 10)
    assert record.expires == 10


@pytest.mark.parametrize(
    ("constraint", "terms"),
    [
        ("true", {}),
        ('MyType == "A"', {"mytype": {"a"}}),
        ('(MyType =?= "a" || MyType == "b") && Name == "N"', {"mytype": {"a", "b"}, "name": {"n"}}),
        ('MyType == "a" || Name == "b"', {}),
        ('GLIDEIN_Site == "X" && Cpus > 2', {"glidein_site": {"x"}}),
        ('x ? MyType == "a" : false', {}),
        ('MyType =!= "a"', {}),
        ('TARGET.MyType == "a"', {}),
        ('"a" == MyType && f(Name == "x")', {"mytype": {"a"}}),
        ('MyType == "a" && X > 1 || Name == "y"', {}),  # || binds looser: not a conjunction
        ('(MyType == "a" && X > 1) || MyType == "b"', {}),
    ],
)
def test_planner_terms(constraint: str, terms: dict[str, set[str]]) -> None:
    assert planner.index_terms(constraint) == terms


TYPES = ["alpha", "Beta", "gamma"]
SITES = ['"S1"', '"s2"', '"S3"', 'strcat("S", "1")', "undefined", None]
NAMES = ["n0", "N1", "n2", "n3"]
ATOMS = [
    *[f'MyType == "{t.upper()}"' for t in TYPES],
    *[f'Name =?= "{n}"' for n in NAMES],
    "X > 2",
    'Site == "S1"',
    'Site =?= "s2" || Site == "S3"',
    "X =?= undefined",
    'MyType == "nothere"',
    'stringListMember(Site, "S1,s2")',  # value filters: evaluated once per distinct Site
    'regexp("^s", Site, "i")',
    'toLower(Site) == "s3"',
    'Site =!= "S1"',
    "isUndefined(Site)",
    'MyType == "ALPHA" && X > 2 || Name == "n0"',
]


@settings(max_examples=300, deadline=None)
@example(
    records=[("alpha", "n0", 1, 'strcat("S", "1")'), ("alpha", "n1", 1, '"S1"'), ("alpha", "n2", 1, '"s2"')],
    atoms=['Site == "S1"'],
    op=" && ",
)
@given(
    st.lists(
        st.tuples(st.sampled_from(TYPES), st.sampled_from(NAMES), st.integers(0, 5), st.sampled_from(SITES)),
        max_size=12,
    ),
    st.lists(st.sampled_from(ATOMS), min_size=1, max_size=3),
    st.sampled_from([" && ", " || "]),
)
def test_indexed_query_equals_full_scan(
    records: list[tuple[str, str, int, str | None]], atoms: list[str], op: str
) -> None:
    store = AdStore(index_min_ads=0, values_share=0)  # always index, always try value filters
    collector = Collector(store, default_lifetime=100, clock=Clock())
    for my_type, name, x, site in records:
        spelling = ("Site", "site", "SITE")[x % 3]  # the index must find every spelling
        ad = _ad(my_type, name, X=x) + ([(spelling, site)] if site else [])
        collector.update(UPDATE_GENERIC, _msg(ad), "p")
    constraint = "(" + op.join(f"({atom})" for atom in atoms) + ")"
    indexed = {
        f"{cedar.literal(ad['name'])}/{cedar.literal(ad['mytype'])}" for ad in _query(collector, constraint)
    }
    scanned = set()
    spec = collector.query_specs(QUERY_ANY, _msg([("Requirements", constraint)]))[0]
    for record in collector.store.matching(collector.store.candidates(None, {}), spec.constraint, 1000.0):
        scanned.add(record.name + "/" + record.my_type)
    assert indexed == scanned


def test_identity_attributes_in_any_spelling() -> None:
    record = build_record(b'mytype = "t"\0NAME="n"\0classadlifetime = 5\0', None, 100.0, 10)
    assert (record.my_type, record.name, record.expires) == ("t", "n", 105.0)
    slot = build_record(b'Name = "slot1@h"\0Cpus = 1\0', "Machine", 0.0, 10)
    assert slot.my_type == "Machine" and b'MyType = "Machine"\0' in slot.blob


def test_projection_brings_what_projected_expressions_reference(collector: Collector) -> None:
    """As condor_collector: `Projection = "Req"` also sends the ad's attributes Req references
    (through other attributes too), so that the client evaluates Req as in the whole ad."""
    ad = _ad("glidefactory", "e1", Site="A", Cpus=4, Other=1)
    ad += [("Req", 'TARGET.Cpus > 1 && MY.Site == "A" && Mid'), ("Mid", "Cpus > 2"), ("Lit", "7")]
    collector.update(UPDATE_GENERIC, _msg(ad), "p")
    (got,) = _query(collector, "true", Projection="Req")
    assert set(got) == {"req", "site", "mid", "cpus"}
    (got,) = _query(collector, "true", Projection="Lit,Name")
    assert set(got) == {"lit", "name"}
