"""ad_of gives the ad classads.from_dict gives, for any values our ads hold (and falls back otherwise)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from glidein.common import classads, crypto
from glidein.frontend.ad_build import ad_of
from tests.unit.frontend.test_requests import FACTORY_BOX, TRUSTED, entry_ad

EXPRESSIONS = [
    "TARGET.Memory >= RequestMemory",
    'stringListMember(GLIDEIN_Site, "a,b")',
    '{1, 2.5, "x"}',
    '[a = 1; b = "c;d"]',
    "undefined",
    "error",
    "1.0E+300",
    '"tab\\there" + 1',
    'ifThenElse(x > 1, "é", false)',
]
NAMES = st.sampled_from(
    ["Name", "ReqIdleGlideins", "GlideinEncParams", "x", "X2", "true", "a b", "GLIDEIN_Site"]
)
VALUES = st.one_of(
    st.text(max_size=30),
    st.integers(-(2**64), 2**64),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.none(),
    st.sampled_from(EXPRESSIONS).map(classads.parse_expr),
)


@settings(max_examples=300, deadline=None)
@given(values=st.dictionaries(NAMES, VALUES, max_size=6))
def test_ad_of_equals_from_dict(values: dict[str, object]) -> None:
    try:
        want = classads.from_dict(values)
    except classads.ClassAdError:
        return  # from_dict refuses it (a NUL, a huge integer): not a value our ads hold
    got = ad_of(values)
    assert got == want
    assert str(got) == str(want)


def test_request_ad_verifies_and_opens_as_before() -> None:
    """The glideclient ad built from one text still carries the signed values exactly."""
    from glidein.frontend.requests import Request, request_ad, verify_entries

    entry = verify_entries([entry_ad("ce1")], TRUSTED)[0]
    key = crypto.generate_signing_key()
    req = Request(entry, "fe", "main", "frontend", 3, 10, secrets={"GLIDEIN_Token": 'to"k\\en'})
    ad = request_ad(req, key, 7, 600)
    signed = crypto.verify_ad(ad, crypto.public_key_b64(key))
    assert signed["ReqIdleGlideins"] == 3
    blob = ad["GlideinEncParams"]
    assert isinstance(blob, str)
    opened = crypto.open_sealed(FACTORY_BOX, blob, f"fe|{entry.name}@fe.main")
    assert b'to\\"k\\\\en' in opened


def test_strings_that_need_escapes_read_back_the_same() -> None:
    for text in [
        'a"b',
        "back\\slash",
        "\\n not a newline",
        "new\nline",
        "tab\t",
        "é",
        '\\"',
        "\x01",
        "/Expr(x)/",
    ]:
        got = ad_of({"Name": text, "N": 1})
        assert got["Name"] == text
        assert str(got) == str(classads.from_dict({"Name": text, "N": 1}))
