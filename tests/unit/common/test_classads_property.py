"""Property tests: the fast one-way matcher agrees with plain evaluation and two-way matching on
random job/slot pairs; every ad round-trips through every syntax."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glidein.common import classads as ca

# Typed attributes, as real ads have them: numbers, strings and booleans never mix.
NUM_NAMES = ["RequestMemory", "Memory", "Cpus", "Derived", "Missing"]
STR_NAMES = ["Owner", "GLIDEIN_Site", "Sites", "Missing"]
SCOPES = st.sampled_from(["", "MY.", "TARGET."])


def _ref(names: list[str]) -> st.SearchStrategy[str]:
    return st.builds(lambda scope, name: scope + name, SCOPES, st.sampled_from(names))


nums = st.recursive(
    st.one_of(st.integers(-5, 5000).map(str), _ref(NUM_NAMES)),
    lambda c: st.builds(lambda a, op, b: f"({a} {op} {b})", c, st.sampled_from(["+", "-", "*"]), c),
    max_leaves=4,
)
strs = st.one_of(
    st.sampled_from(['"SiteA"', '"SiteB"', '"sitea"', '"SiteA,SiteB"', '"alice"', '""']), _ref(STR_NAMES)
)
bool_atoms = st.one_of(
    st.sampled_from(["true", "false", "undefined"]),
    _ref(["Flag"]),
    st.builds(
        lambda a, op, b: f"({a} {op} {b})", nums, st.sampled_from(["<", "<=", "==", "!=", ">=", ">"]), nums
    ),
    st.builds(lambda a, op, b: f"({a} {op} {b})", strs, st.sampled_from(["==", "!=", "=?=", "=!="]), strs),
    st.builds(lambda a, op: f"({a} {op} undefined)", st.one_of(nums, strs), st.sampled_from(["=?=", "=!="])),
    st.builds(lambda a, b: f"stringListMember({a}, {b})", strs, strs),
    st.builds(lambda a, b, c: f"member({a}, {{{b}, {c}}})", nums, nums, nums),
    st.builds(lambda a: f"isUndefined({a})", st.one_of(nums, strs)),
)


def _bool_compound(c: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds(lambda a, op, b: f"({a} {op} {b})", c, st.sampled_from(["&&", "||"]), c),
        st.builds(lambda a: f"!({a})", c),
        st.builds(lambda a, b, d: f"ifThenElse({a}, {b}, {d})", c, c, c),
    )


bools = st.recursive(bool_atoms, _bool_compound, max_leaves=10)
TYPED = {"Flag": bools, "Derived": nums, "RequestMemory": nums, "Memory": nums, "Cpus": nums}


def _typed_ad(draw: st.DrawFn, names: list[str]) -> ca.ClassAd:
    ad = ca.ClassAd()
    for name in names:
        if draw(st.booleans()):
            ad[name] = ca.parse_expr(draw(TYPED.get(name, strs)))
    ad["Requirements"] = ca.parse_expr(draw(bools))
    return ad


@st.composite
def pairs(draw: st.DrawFn) -> tuple[ca.ClassAd, ca.ClassAd]:
    job = _typed_ad(draw, ["RequestMemory", "Owner", "Sites", "Flag", "Derived"])
    slot = _typed_ad(draw, ["Memory", "Cpus", "GLIDEIN_Site", "Flag", "Sites"])
    return job, slot


# Anything goes (ill-typed too): for round trips and for the exact matcher.
ANY_OPS = ["+", "-", "*", "/", "<", "==", "!=", ">=", "&&", "||", "=?=", "=!="]
any_atoms = st.one_of(
    st.integers(-5, 2**62).map(str),
    st.sampled_from(['"SiteA"', '"a\\"b"', "true", "false", "undefined", "error", "2.5", '{1, "x"}']),
    _ref([*NUM_NAMES, *STR_NAMES, "Flag"]),
)
any_exprs = st.recursive(
    any_atoms,
    lambda c: st.one_of(
        st.builds(lambda a, op, b: f"({a} {op} {b})", c, st.sampled_from(ANY_OPS), c),
        st.builds(lambda a, b: f"stringListMember({a}, {b})", c, c),
        st.builds(lambda a, b: f"[x = {a}; y = {b}].y", c, c),
    ),
    max_leaves=8,
)


@st.composite
def any_pairs(draw: st.DrawFn) -> tuple[ca.ClassAd, ca.ClassAd]:
    ads = []
    for names in (["RequestMemory", "Owner", "Flag", "Derived"], ["Memory", "Cpus", "Flag", "Sites"]):
        ad = ca.ClassAd()
        for name in names:
            if draw(st.booleans()):
                ad[name] = ca.parse_expr(draw(any_exprs))
        ad["Requirements"] = ca.parse_expr(draw(any_exprs))
        ads.append(ad)
    return ads[0], ads[1]


SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(pairs())
def test_one_way_matcher_agrees_with_two_way(pair: tuple[ca.ClassAd, ca.ClassAd]) -> None:
    job, slot = pair
    matcher = ca.OneWayMatcher(job)
    one_way = ca.is_true(ca.evaluate(job.lookup("Requirements"), job, slot))
    assert matcher.matches(slot) is one_way, matcher.flattened
    assert matcher.matches_both(slot) is ca.symmetric_match(job, slot)
    if ca.symmetric_match(job, slot):
        assert job.symmetricMatch(slot)  # classad2 agrees (it also accepts non-zero numbers)


@SETTINGS
@given(any_pairs())
def test_exact_matcher_agrees_on_any_expression(pair: tuple[ca.ClassAd, ca.ClassAd]) -> None:
    job, slot = pair
    matcher = ca.OneWayMatcher(job, exact=True)
    assert matcher.matches(slot) is ca.is_true(ca.evaluate(job.lookup("Requirements"), job, slot))
    assert matcher.matches_both(slot) is ca.symmetric_match(job, slot)


@SETTINGS
@given(any_pairs())
def test_random_ads_round_trip_every_syntax(pair: tuple[ca.ClassAd, ca.ClassAd]) -> None:
    for ad in pair:
        for text in (ca.to_new(ad), ca.to_json(ad), ca.to_old(ad), json.dumps(ca.to_json_obj(ad))):
            back = ca.parse_ad(text)
            assert ca.to_dict(back) == ca.to_dict(ad), text
        assert ca.to_dict(ca.from_old_pairs(ca.to_old_pairs(ad))) == ca.to_dict(ad)


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\0"), max_size=40))
def test_any_string_round_trips(value: str) -> None:
    ad = ca.from_dict({"S": value, "L": [value], "N": {"S": value}})
    assert ca.evaluate(ca.quote(value)) == value
    for text in (ca.to_new(ad), ca.to_json(ad), json.dumps(ca.to_json_obj(ad))):
        assert ca.to_dict(ca.parse_ad(text)) == {"S": value, "L": [value], "N": {"S": value}}
    assert ca.to_dict(ca.from_old_pairs(ca.to_old_pairs(ad)))["S"] == value
    if "\n" not in value:
        assert ca.to_dict(ca.parse_ad(ca.to_old(ad)))["S"] == value
