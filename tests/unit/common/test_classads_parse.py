"""Parsing and serialising ClassAds in every syntax, with tricky values."""

import json

import pytest

from glidein.common import classads as ca
from glidein.common.errors import ClassAdError

TRICKY_STRINGS = [
    "plain",
    'q"uote',
    "back\\slash",
    "trail\\",
    '\\"',
    'both \\" mixed',
    "\\n is not a newline",
    "new\nline",
    "tab\tand\rcr",
    "uni é ☃ 𝄞",
    "'apos'",
    "",
    "semi; colon ] bracket [ brace } // slash /* star",
    "C:\\path\\to\\file\\",
]


def _tricky_ad() -> ca.ClassAd:
    return ca.from_dict(
        {
            "Big": 2**62,
            "Neg": -(2**63),
            "Pi": 3.141592653589793,
            "Tiny": 1e-300,
            "Yes": True,
            "No": False,
            "Nothing": None,
            "Bad": ca.ERROR,
            "List": [1, "two", [3.5, None], {"k": "v"}],
            "Nested": {"Inner": {"Deep": 'x"y'}, "N": 1},
            "Expr": ca.expr_value('Big + 1 > 0 && stringListMember("a", "a,b")'),
            **{f"S{i}": s for i, s in enumerate(TRICKY_STRINGS)},
        }
    )


def _same(a: ca.ClassAd, b: ca.ClassAd) -> None:
    assert set(a) == set(b)
    for name in a:
        va, vb = ca.to_dict(a)[name], ca.to_dict(b)[name]
        if isinstance(va, float):
            assert vb == pytest.approx(va, rel=1e-15)
        else:
            assert va == vb, name


@pytest.mark.parametrize("syntax", ["new", "json"])
def test_round_trip_tricky_ad(syntax: str) -> None:
    ad = _tricky_ad()
    text = ca.to_new(ad) if syntax == "new" else ca.to_json(ad)
    back = ca.parse_ad(text)
    _same(ad, back)
    assert ca.to_dict(back)["S1"] == 'q"uote'
    assert ca.evaluate("Expr", back) is True


def test_round_trip_old_without_line_breaks() -> None:
    ad = _tricky_ad()
    del ad["S7"]  # a line break cannot be written in old syntax (a carriage return can)
    text = ca.to_old(ad)
    back = ca.parse_ad(text)
    _same(ad, back)
    for i, s in enumerate(TRICKY_STRINGS):
        if i != 7:
            assert back[f"S{i}"] == s


def test_old_syntax_refuses_line_break_naming_attribute() -> None:
    ad = ca.from_dict({"Ok": 1, "Msg": "a\nb"})
    with pytest.raises(ClassAdError, match="attribute Msg: a line break"):
        ca.to_old(ad)


def test_old_syntax_refuses_backslash_ending_string_inside_expression() -> None:
    ad = ca.from_dict({"Ok": ca.expr_value(r'strcat("q\"", "b")'), "End": "C:\\dir\\"})
    assert ca.to_dict(ca.parse_ad(ca.to_old(ad))) == ca.to_dict(ad)
    ad["Bad"] = ca.expr_value(r'strcat("C:\\dir\\", "file")')
    assert ca.evaluate("Bad", ca.parse_ad(ca.to_new(ad))) == "C:\\dir\\file"
    for write in (ca.to_old, ca.to_old_pairs):
        with pytest.raises(ClassAdError, match="attribute Bad: cannot be written in old ClassAd syntax"):
            write(ad)


def test_old_pairs_carry_every_string() -> None:
    ad = _tricky_ad()
    pairs = ca.to_old_pairs(ad)
    assert len(pairs) == len(ad)
    _same(ad, ca.from_old_pairs(pairs))


@pytest.mark.parametrize(
    ("old", "value"),
    [
        (r'"a\b"', "a\\b"),
        (r'"a\"b"', 'a"b'),
        (r'"ends\"', "ends\\"),
        (r'"a\nb"', "a\\nb"),
        (r'"\\"', "\\\\"),
        ('"raw\nline"', "raw\nline"),
        ('"é"', "é"),
    ],
)
def test_old_string_escapes(old: str, value: str) -> None:
    assert ca.evaluate(ca.parse_old_expr(old)) == value
    assert ca.from_old_pairs([("S", old)])["S"] == value


def test_new_string_escapes() -> None:
    assert ca.evaluate(r'"a\nb\t\\\"\101"') == 'a\nb\t\\"A'
    assert ca.parse_ad(r'[s = "\303\251"]')["s"] == "é"


def test_quote_round_trips_and_rejects_nul() -> None:
    for s in TRICKY_STRINGS:
        assert ca.evaluate(ca.quote(s)) == s
    assert ca.quote('a"b') == '"a\\"b"'
    with pytest.raises(ClassAdError, match="NUL"):
        ca.quote("a\0b")


def test_parse_ads_splits_each_syntax() -> None:
    assert [ad["a"] for ad in ca.parse_ads('[a = 1] [a = "]"]\n// c\n[a = [b = 2]]')] == [
        1,
        "]",
        ca.ClassAd("[b=2]"),
    ]
    old = "# comment\na = 1\nb = 2\n\n\n a = 3\n"
    assert [ca.to_dict(ad) for ad in ca.parse_ads(old)] == [{"a": 1, "b": 2}, {"a": 3}]
    js = ca.to_json_list([ca.from_dict({"a": 1}), ca.from_dict({"a": ca.expr_value("x + 1")})])
    ads = ca.parse_ads(js)
    assert ads[0]["a"] == 1 and str(ads[1].lookup("a")) == "x + 1"
    assert ca.parse_ads("[]") == []
    assert ca.to_dict(ca.parse_ad(" [ ] ")) == {}
    assert ca.to_dict(ca.parse_ad("{}")) == {}
    assert [len(ad) for ad in ca.parse_ads("[a = 1] [ ] [b = 2]")] == [1, 0, 1]
    assert [len(ad) for ad in ca.parse_ads("[{}, {}]")] == [0, 0]
    for text in (ca.to_new(ca.ClassAd()), ca.to_json(ca.ClassAd()), ca.to_old(ca.ClassAd()) + "[]"):
        assert len(ca.parse_ad(text)) == 0
    assert ca.parse_ads("  \n") == []
    assert [ad["a"] for ad in ca.parse_ads('{"a": 1} {"a": 2}')] == [1, 2]


def test_json_survives_a_json_library_round_trip() -> None:
    """A JSON decoder turns "\\/Expr(..)\\/" into "/Expr(..)/": both mean an expression, and a
    literal string of that shape still reads back as the same string."""
    ad = ca.from_dict(
        {
            "E": ca.expr_value("a + 1"),
            "Lit": "/Expr(x)/",
            "L": ["/Expr(y)/", ca.expr_value("b")],
            "N": {"Lit": "/Expr(z)/"},
        }
    )
    obj = ca.to_json_obj(ad)
    assert obj["E"] == "/Expr(a + 1)/"
    for text in (ca.to_json(ad), json.dumps(obj), ca.to_json_list([ad])):
        back = ca.parse_ads(text)[0]
        assert ca.to_dict(back) == ca.to_dict(ad)
        assert str(back.lookup("E")) == "a + 1" and back["Lit"] == "/Expr(x)/"


def test_json_types() -> None:
    ad = ca.parse_ad('{"i": 4611686018427387904, "f": 0.5, "s": "x\\ny", "n": null, "l": [1, {"k": true}]}')
    assert ca.to_dict(ad) == {"i": 2**62, "f": 0.5, "s": "x\ny", "n": None, "l": [1, {"k": True}]}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "found 0"),
        ("[a = 1] [b = 2]", "found 2"),
        ("a = 1\n\nb = 2", "found 2"),
        ("[a = 1;", "line 1: bad new-syntax ClassAd '[a = 1;'"),
        ("[a = (1]", "bad new-syntax ClassAd"),
        ("[a = 1]\n junk", "line 2: expected '[', got 'junk'"),
        ('{"a": 1}, {"b": 2}', "line 1: expected '{', got ', {"),
        ("a = 1\nthis is junk\n", "line 2: expected 'Name = expression', got 'this is junk'"),
        ("a = 1\nb = 1 2\n", "line 2: attribute b"),
        ("a = 1\nb = (1\n", "line 2: attribute b: bad ClassAd expression '(1'"),
        ('a = 1; b = "x"', "line 1: attribute a: ';' outside brackets"),
        ('a = "open', "line 1: attribute a: unterminated string"),
        ("a == 1", "expected 'Name = expression'"),
        ('{"a": 1', "line 1: bad JSON ClassAd"),
        ('[{"a": 1}]', "JSON list"),
    ],
)
def test_bad_ads_fail_with_one_clear_line(text: str, message: str) -> None:
    with pytest.raises(ClassAdError) as info:
        ca.parse_ad(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"a": 1} {"b": 2}]', "line 1: expected ',' between ads"),
        ('[{"a": 1},]', "',' after the last ad"),
        ('[{"a": 1}] x', "unexpected text after the JSON list"),
        ('[{"a": 1},\n [1]]', "line 2: expected '{', got '[1]'"),
        ("[a = 1]\n\n[b = ]\n", "line 3: bad new-syntax ClassAd '[b = ]"),
        ("a = 1\n\nb = 2\nc = 3 3\n", "line 4: attribute c"),
    ],
)
def test_bad_ad_streams_name_the_line(text: str, message: str) -> None:
    with pytest.raises(ClassAdError) as info:
        ca.parse_ads(text)
    assert message in str(info.value)


def test_parse_ads_is_linear_in_the_number_of_ads() -> None:
    ad = ca.to_new(ca.from_dict({f"A{i}": f"value {i} é" for i in range(30)}))
    ads = ca.parse_ads("\n".join([ad] * 4000))
    assert len(ads) == 4000 and ads[-1]["A29"] == "value 29 é"
    old = ca.to_old(ads[0])
    assert len(ca.parse_ads("\n".join([old] * 4000))) == 4000


def test_pairs_cannot_inject_attributes() -> None:
    with pytest.raises(ClassAdError, match="pair 2: attribute X: ';' outside brackets"):
        ca.from_old_pairs([("Owner", '"bob"'), ("X", '1; Owner = "root"')])
    with pytest.raises(ClassAdError, match="pair 1"):
        ca.from_old_pairs([("X", "1 ] [ Owner = 2")])


@pytest.mark.parametrize("text", ["1 +", "1; x = 2", "(1", '"abc', "1 /* x", "", "a b"])
def test_parse_expr_errors_name_the_text(text: str) -> None:
    with pytest.raises(ClassAdError, match="bad ClassAd expression"):
        ca.parse_expr(text)


def test_from_dict_rejects_bad_values() -> None:
    with pytest.raises(ClassAdError, match="attribute Big: integer"):
        ca.from_dict({"Big": 2**64})
    with pytest.raises(ClassAdError, match=r"attribute S: .*NUL"):
        ca.from_dict({"S": "a\0"})
    with pytest.raises(ClassAdError, match="attribute O: cannot put a object"):
        ca.from_dict({"O": object()})


def test_to_dict_keeps_expressions_as_text() -> None:
    ad = ca.parse_ad('[a = 1; b = a + 1; c = undefined; d = error; e = {1, a}; f = "s"]')
    assert ca.to_dict(ad) == {"a": 1, "b": "a + 1", "c": None, "d": ca.ERROR, "e": [1, "a"], "f": "s"}


def test_old_syntax_variants() -> None:
    """CRLF line ends, comment lines, '#' and ';' inside strings, nested ads and lists."""
    text = (
        "# a condor_q -long style dump\r\n"
        'MyType = "Job"\r\n'
        'Cmd = "C#/run; now"\r\n'
        'Nested = [ a = 1; b = { 1, [ c = "x;y" ] } ]\r\n'
        "  Spaced   =   2   \r\n"
        "\r\n"
        "# second ad\n"
        "X = 1 // trailing comment\n"
        "Y = X + 1\n"
    )
    first, second = ca.parse_ads(text)
    assert ca.to_dict(first) == {
        "MyType": "Job",
        "Cmd": "C#/run; now",
        "Nested": {"a": 1, "b": [1, {"c": "x;y"}]},
        "Spaced": 2,
    }
    assert ca.evaluate("Y", second) == 2


def test_pairs_name_errors() -> None:
    with pytest.raises(ClassAdError, match="pair 2: bad attribute name 'a b'"):
        ca.from_old_pairs([("ok", "1"), ("a b", "2")])
    with pytest.raises(ClassAdError, match="pair 1: attribute X: bad ClassAd expression '1 \\+'"):
        ca.from_old_pairs([("X", "1 +")])
    assert ca.to_dict(ca.from_old_pairs([])) == {}
