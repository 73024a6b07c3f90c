"""Whole-ad output and ordering for `glidein status`, as condor_status does them.

Ordering: each ad gets a key (the sort expressions' values, one per line, then its arrival number
in hex) and the keys are compared with HTCondor's "natural" compare (digit runs by value), so
`slot10` follows `slot9`. The default sort is Machine, then Name. Whole ads (`-long`, `-xml`,
`-json`) list attributes in case-insensitive order.
"""

from __future__ import annotations

import functools
import re
import struct
from collections.abc import Sequence

from glidein.cli.status_format import printf, raw_eval, unparse
from glidein.common import classads

DEFAULT_SORT = ("Machine", "Name")
XML_HEAD = '<?xml version="1.0"?>\n<!DOCTYPE classads SYSTEM "classads.dtd">\n<classads>\n'
XML_FOOT = "</classads>\n"


def _signed(byte: int) -> int:
    return byte - 256 if byte > 127 else byte


def natural_cmp(left: str, right: str) -> int:
    """HTCondor's natural_cmp (strverscmp-like) over UTF-8 bytes, signed chars as in C."""
    s1, s2 = left.encode() + b"\0", right.encode() + b"\0"
    i = 0
    while s1[i] and s1[i] == s2[i]:
        i += 1
    if s1[i] == s2[i]:
        return 0
    begin = i
    while begin > 0 and chr(s1[begin - 1]).isdigit():
        begin -= 1
    digit1, digit2 = chr(s1[i]).isdigit() and s1[i] < 128, chr(s2[i]).isdigit() and s2[i] < 128
    if begin == i and not (digit1 and digit2):
        return _signed(s1[i]) - _signed(s2[i])
    zeros1, zeros2 = _zeros(s1, begin), _zeros(s2, begin)
    if zeros1 != zeros2:
        return zeros2 - zeros1
    if zeros1 > 0:
        return _signed(s1[i]) - _signed(s2[i])
    len1, len2 = _digits(s1, begin), _digits(s2, begin)
    if len1 != len2:
        return len1 - len2
    return _signed(s1[i]) - _signed(s2[i])


def _zeros(text: bytes, begin: int) -> int:
    """Leading zeros of the digit run at `begin` (a final lone zero does not count)."""
    end = begin
    while text[end] == ord("0"):
        end += 1
    if end > begin and not chr(text[end]).isdigit():
        end -= 1
    return end - begin


def _digits(text: bytes, begin: int) -> int:
    end = begin
    while chr(text[end]).isdigit() and text[end] < 128:
        end += 1
    return end - begin


def _key_field(value: object) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float):
        return str(struct.unpack("<q", struct.pack("<d", value))[0])
    if isinstance(value, int | str):
        return str(value)
    return unparse(value)


def sort_key(ad: classads.ClassAd, exprs: Sequence[classads.ExprTree], ordinal: int) -> str:
    fields = []
    for tree in exprs:
        fields.append(_key_field(raw_eval(tree, ad)) + "\n")
    return "".join(fields) + f"{ordinal:08X}"


def sort_ads(ads: Sequence[classads.ClassAd], exprs: Sequence[str]) -> list[classads.ClassAd]:
    """`ads` ordered as condor_status orders them (no `exprs`: arrival order)."""
    trees = [classads.parse_expr(text) for text in exprs]
    keys = [sort_key(ad, trees, number) for number, ad in enumerate(ads, start=1)]

    def compare(left: int, right: int) -> int:
        return natural_cmp(keys[left], keys[right])

    order = sorted(range(len(ads)), key=functools.cmp_to_key(compare))
    return [ads[index] for index in order]


def shown_attrs(ad: classads.ClassAd, only: Sequence[str] = ()) -> list[str]:
    """The attribute names to print, case-insensitively sorted (only those of `only` if given)."""
    wanted = {name.lower() for name in only}
    names = [name for name in ad if not wanted or name.lower() in wanted]
    return sorted(names, key=str.lower)


def long_form(ads: Sequence[classads.ClassAd], only: Sequence[str] = ()) -> str:
    out = []
    for ad in ads:
        pairs = dict(classads.to_old_pairs(ad))
        lines = [f"{name} = {pairs[name]}\n" for name in shown_attrs(ad, only)]
        out.append("".join(lines) + "\n")
    return "".join(out)


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _xml_expr(text: str) -> str:
    """An expression as HTCondor's XML unparser writes it: `=?=`/`=!=` as is/isnt, then escaped."""
    parts = re.split(r'("(?:[^"\\]|\\.)*")', text)  # odd items are string literals
    for index in range(0, len(parts), 2):
        parts[index] = parts[index].replace("=?=", "is").replace("=!=", "isnt")
    return _xml_text("".join(parts))


def _xml_value(value: object, raw_text: str) -> str:
    if isinstance(value, bool):
        return f'<b v="{"t" if value else "f"}"/>'
    if isinstance(value, int):
        return f"<i>{value}</i>"
    if isinstance(value, float):
        real = "0.0" if value == 0.0 else printf("%1.15E", value)
        return f"<r>{real}</r>"
    if isinstance(value, str):
        return f"<s>{_xml_text(value)}</s>"
    if isinstance(value, list):
        return "<l>" + "".join(_xml_value(item, str(item)) for item in value) + "</l>"
    return f"<e>{_xml_expr(raw_text)}</e>"


def xml_form(ads: Sequence[classads.ClassAd], only: Sequence[str] = ()) -> str:
    out = [XML_HEAD]
    for ad in ads:
        pairs = dict(classads.to_old_pairs(ad))
        out.append("<c>\n")
        for name in shown_attrs(ad, only):
            literal = ad[name]
            text = pairs[name]
            if text in ("undefined", "error"):
                body = "<un/>" if text == "undefined" else "<er/>"
            else:
                body = _xml_value(literal, text)
            out.append(f'    <a n="{_xml_text(name)}">{body}</a>\n')
        out.append("</c>\n\n")
    out.append(XML_FOOT)
    return "".join(out)


def json_form(ads: Sequence[classads.ClassAd], only: Sequence[str] = ()) -> str:
    """condor_status -json: `[`, each ad's attributes sorted, `,` between ads, `]` (nothing for no ads)."""
    if not ads:
        return ""
    parts = []
    for ad in ads:
        members = []
        for name in shown_attrs(ad, only):
            single = classads.ClassAd()
            single[name] = ad.lookup(name)
            members.append(str(single.printJson()).strip()[1:-1].strip("\n"))
        parts.append("{\n" + ",\n".join(members) + "\n}\n")
    return "[\n" + ",\n".join(parts) + "]\n"


def project(ads: Sequence[classads.ClassAd], only: Sequence[str]) -> list[classads.ClassAd]:
    """The ads cut to the attributes `only` (what a collector answers a query with a projection)."""
    if not only:
        return list(ads)
    cut = []
    for ad in ads:
        kept = classads.ClassAd()
        for name in shown_attrs(ad, only):
            kept[name] = ad.lookup(name)
        cut.append(kept)
    return cut
