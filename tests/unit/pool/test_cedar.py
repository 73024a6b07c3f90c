"""The CEDAR codec: framing, primitives, ClassAd wire form, old/new string syntax (property tests)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glidein.common import classads
from glidein.pool import cedar

texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=40)
names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)


def _unframe(data: bytes) -> list[tuple[int, bytes]]:
    packets = []
    pos = 0
    while pos < len(data):
        end, length = cedar.HEADER.unpack_from(data, pos)
        pos += cedar.HEADER.size
        packets.append((end, data[pos : pos + length]))
        pos += length
    return packets


@given(st.binary(max_size=3000), st.integers(min_value=1, max_value=700))
def test_frame_splits_and_flags_only_the_last_packet(payload: bytes, max_packet: int) -> None:
    packets = _unframe(cedar.frame(payload, max_packet))
    assert b"".join(chunk for _, chunk in packets) == payload
    assert [end for end, _ in packets] == [0] * (len(packets) - 1) + [1]
    assert all(len(chunk) <= max_packet for _, chunk in packets)


@given(st.lists(st.one_of(st.integers(min_value=-(2**63), max_value=2**63 - 1), texts), max_size=20))
def test_primitives_round_trip(values: list[int | str]) -> None:
    encoder = cedar.Encoder()
    for value in values:
        encoder.put_int(value) if isinstance(value, int) else encoder.put_str(value)
    msg = cedar.Message(encoder.payload())
    assert [msg.get_int() if isinstance(v, int) else msg.get_str() for v in values] == values
    assert msg.at_end()


def test_integers_are_eight_bytes_big_endian_and_null_strings() -> None:
    assert cedar.Encoder().put_int(1).put_str("ab").payload() == b"\0" * 7 + b"\x01ab\0"
    msg = cedar.Message(b"\xff" + b"x\0")
    assert msg.get_str() == ""
    assert msg.get_str() == "x"


@given(st.lists(st.tuples(names, texts.map(cedar.quote_old)), max_size=15))
def test_ads_round_trip_on_the_wire(ad: list[tuple[str, str]]) -> None:
    msg = cedar.Message(cedar.Encoder().put_ad(ad).payload())
    assert msg.get_ad() == ad
    assert msg.at_end()


def test_secret_marker_is_skipped_and_bad_input_raises() -> None:
    payload = cedar.Encoder().put_int(1).put_str("ZKM").put_str('ClaimId = "x"').put_str("").put_str("")
    assert cedar.Message(payload.payload()).get_ad() == [("ClaimId", '"x"')]
    with pytest.raises(cedar.CedarError, match="out of range"):
        cedar.Message(cedar.Encoder().put_int(5).payload(), max_attrs=4).get_ad()
    with pytest.raises(cedar.CedarError, match="inside a string"):
        cedar.Message(cedar.Encoder().put_int(1).payload() + b"A = 1").get_ad()
    with pytest.raises(cedar.CedarError, match="not an attribute"):
        cedar.split_line("no equals here")
    with pytest.raises(cedar.CedarError):
        cedar.Encoder().put_str("nul\0inside")


@settings(max_examples=200)
@given(texts.filter(lambda v: '"\n' not in v))
def test_old_string_literal_reads_back_through_classad2(value: str) -> None:
    # Old syntax cannot hold a quote followed by a line break: `\"` then a newline ends the string.
    old = cedar.quote_old(value)
    assert cedar.literal(old) == value
    assert classads.evaluate(classads.parse_expr(cedar.old_to_new(old))) == value


@settings(max_examples=200)
@given(texts.filter(lambda v: '"\n' not in v))
def test_new_to_old_and_back_keeps_the_value(value: str) -> None:
    new = classads.quote(value)
    assert classads.evaluate(cedar.old_to_new(cedar.new_to_old(new))) == value
    if not value.endswith("\\"):  # old syntax cannot end a string with a backslash mid-expression
        both = cedar.old_to_new(cedar.new_to_old(f"strcat({new}, {new})"))
        assert classads.evaluate(both) == value + value


def test_old_syntax_backslash_rules() -> None:
    assert cedar.old_to_new(r'"C:\dir\"') == r'"C:\\dir\\"'  # a trailing backslash is literal
    assert cedar.old_to_new(r'"say \"hi\" now"') == r'"say \"hi\" now"'
    assert cedar.old_to_new(r'regexp("a\d+", Name)') == r'regexp("a\\d+", Name)'
    assert cedar.literal(r'"ends \"') == "ends \\"
    with pytest.raises(cedar.CedarError, match="unterminated"):
        cedar.old_to_new(r'"open \ ')


@pytest.mark.parametrize(
    ("command", "my_type"),
    [
        (0, "Machine"),
        (5, "Machine"),
        (13, "Machine"),
        (1, "Scheduler"),
        (20, "Collector"),
        (58, None),
        (48, None),
    ],
)
def test_command_types(command: int, my_type: str | None) -> None:
    assert cedar.command_type(command) == my_type


def test_parse_address() -> None:
    assert cedar.parse_address("127.0.0.1:9618") == ("127.0.0.1", 9618)
    assert cedar.parse_address("<10.0.0.1:9618?sock=collector>") == ("10.0.0.1", 9618)
    with pytest.raises(cedar.CedarError):
        cedar.parse_address("nohost")


def test_handshake_ads_are_literals_only() -> None:
    for ad in (cedar.server_policy_ad(), cedar.server_session_ad("s:1", [0, 1]), cedar.client_auth_ad(58)):
        assert all(cedar.literal(expr) is not None for _, expr in ad)
    policy = cedar.ad_dict(cedar.server_policy_ad())
    assert {cedar.literal(policy[k]) for k in ("authentication", "encryption", "integrity")} == {"NO"}


def test_cedar_module_parses_as_python_3_6() -> None:
    import ast
    from pathlib import Path

    source = Path(cedar.__file__).read_text()
    ast.parse(source, feature_version=(3, 6))  # raises SyntaxError on newer syntax
    assert "from __future__ import annotations" not in source


def test_loopback_detection() -> None:
    from glidein.pool.collector.server import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3") and not is_loopback("example.org")
