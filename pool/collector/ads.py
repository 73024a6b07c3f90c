"""Ads as the collector keeps them: the ClassAd for evaluation plus the wire lines to send back.

An update arrives as `Name = expr` lines in old syntax. The collector keeps those bytes (so a query
answer is the client's own text, no re-printing) and builds one ClassAd for constraint evaluation
by rewriting the lines into a single new-syntax ad. Each expression is first checked not to leak
out of its attribute (a top-level `;` or `]`, a comment opener) so that one attribute can never
inject another.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from glidein.common import classads
from glidein.common.errors import ClassAdError
from glidein.pool import cedar
from glidein.pool.collector.limits import check_ad

# Expressions that read the same in old and new syntax and cannot leak: no backslash, no `;`,
# no brackets, no `/` (comments), no quoted names; string literals without backslashes.
_SAFE = re.compile(r'[^\\;\[\]{}/\'"]*(?:"[^"\\]*"[^\\;\[\]{}/\'"]*)*\Z')
_NEW_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|//|/\*|["\';\[\]{}()]', re.S)
_PAIRS = {")": "(", "]": "[", "}": "{"}
PRIVATE = {"capability", "childclaimids", "claimid", "claimidlist", "claimids", "transferkey"}
STAMPED = {"lastheardfrom"}
_PROBES = (("mytype", "\0MyType = "), ("name", "\0Name = "), ("classadlifetime", "\0ClassAdLifetime = "))
MAX_LIFETIME = 86400.0  # a day: the longest ClassAdLifetime honoured unless configured
_SPECIAL = re.compile(r"\0[ \t]*(MyType|Name|Machine|ClassAdLifetime)[ \t]*=[ \t]*([^\0]*)", re.I)


@dataclass(slots=True)
class Record:
    """One stored ad: identity, the ClassAd, expiry and `item`, the ad as a query answer sends
    it (`more` = 1, the attribute count, its wire lines each NUL-terminated, two empty type
    strings), made once when it is stored: an answer copies it as it is."""

    my_type: str
    name: str
    ad: classads.ClassAd
    item: bytes
    expires: float

    @property
    def blob(self) -> bytes:
        """The wire lines, each NUL-terminated."""
        return self.item[_ITEM_HEAD:-2]

    @property
    def count(self) -> int:
        return int(cedar.INT.unpack_from(self.item, cedar.INT.size)[0])


_ITEM_HEAD = 2 * cedar.INT.size
_ONE = cedar.INT.pack(1)


def _check_new(name: str, expr: str) -> None:
    """Raise ClassAdError if a new-syntax expression could leak out of `[ name = expr ]`."""
    stack: list[str] = []
    for match in _NEW_TOKEN.finditer(expr):
        tok = match.group()
        if tok in ('"', "'", "//", "/*"):
            raise ClassAdError(f"attribute {name}: unterminated string or comment")
        if tok in "([{":
            stack.append(tok)
        elif tok in _PAIRS:
            if not stack or stack.pop() != _PAIRS[tok]:
                raise ClassAdError(f"attribute {name}: unbalanced {tok!r}")
        elif tok == ";" and not stack:
            raise ClassAdError(f"attribute {name}: ';' outside brackets")
    if stack:
        raise ClassAdError(f"attribute {name}: unclosed {stack[-1]!r}")


def to_new_expr(name: str, expr: str) -> str:
    """The new-syntax text of one old-syntax attribute expression, checked not to leak."""
    if _SAFE.match(expr):
        return expr
    try:
        new = cedar.old_to_new(expr)
    except cedar.CedarError as exc:
        raise ClassAdError(f"attribute {name}: {exc}") from None
    _check_new(name, new)
    return new


def _string_attr(exprs: dict[str, str], name: str) -> str | None:
    text = exprs.get(name.lower())
    if text is None:
        return None
    if len(text) > 1 and text[0] == '"' and text[-1] == '"' and text.count('"') == 2 and "\\" not in text:
        return text[1:-1]  # the usual plain string
    value = cedar.literal(text)
    if not isinstance(value, str):
        raise ClassAdError(f"attribute {name} is not a string literal: {text[:60]!r}")
    return value


def _identity(exprs: dict[str, str], default_type: str | None) -> tuple[str, str, str | None]:
    """(MyType, Name, MyType line to add or None) from the special attributes of an ad."""
    my_type = _string_attr(exprs, "MyType")
    added = None
    if my_type is None:
        if default_type is None:
            raise ClassAdError("ad has no MyType")
        my_type = default_type
        added = "MyType = " + cedar.quote_old(my_type)
    ad_name = _string_attr(exprs, "Name") or _string_attr(exprs, "Machine")
    if not ad_name:
        raise ClassAdError(f"{my_type} ad has no Name")
    return my_type, ad_name, added


def _lifetime(exprs: dict[str, str], default: float, maximum: float) -> float:
    """ClassAdLifetime in seconds, at most `maximum`; `default` when absent or not a positive number."""
    text = exprs.get("classadlifetime")
    if text is None:
        return default
    if text.isascii() and text.isdigit() and len(text) <= 15:
        value: cedar.Literal = int(text)
    else:
        value = cedar.literal(text)  # 5,000 digits: a float, inf
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return maximum if value >= maximum else float(value)  # an int of 5,000 digits has no float
    return default


def _rewrite(text: str) -> tuple[str, str, dict[str, str]]:
    """Slow path: per line, drop private and stamped attributes, rewrite old strings into new.

    Returns (old-syntax text of the kept lines, NUL-terminated; new-syntax body, each
    assignment followed by "; "; lower-cased name -> expr)."""
    kept: dict[str, tuple[str, str, str]] = {}  # lower name -> (name, line, new expr)
    for line in text.split("\0")[:-1]:
        try:
            name, expr = cedar.split_line(line)
        except cedar.CedarError as exc:
            raise ClassAdError(str(exc)) from None
        low = name.lower()
        if low not in PRIVATE and not low.startswith("_condor_priv") and low not in STAMPED:
            kept[low] = (name, line, expr)
    old = "".join(item[1] + "\0" for item in kept.values())
    body = "".join(item[0] + " = " + to_new_expr(item[0], item[2]) + "; " for item in kept.values())
    return old, body, {low: item[2] for low, item in kept.items()}


def _plain(text: str, probe_text: str) -> bool:
    """True when no line needs rewriting or dropping: without backslashes, `;`, brackets, comments
    and quoted names the lines read the same in both syntaxes and cannot leak into each other
    except through an unbalanced quote, which the attribute count after parsing catches; no
    private attribute (dropped) and no LastHeardFrom (the collector's). Substring tests are much
    faster than a regex here."""
    if (
        "\\" in text or ";" in text or "[" in text or "]" in text or "{" in text or "}" in text
        or "/" in text or "'" in text or "\0 " in probe_text or "\0\t" in probe_text
    ):  # fmt: skip
        return False
    low = probe_text.lower()
    return not (
        "\0lastheardfrom" in low or "\0capability" in low or "\0childclaimids" in low
        or "\0claimid" in low or "\0transferkey" in low or "\0_condor_priv" in low
    )  # fmt: skip


def _specials(probe_text: str) -> dict[str, str]:
    """MyType, Name, Machine, ClassAdLifetime expressions (the last assignment of each wins)."""
    exprs = {}
    for key, probe in _PROBES:
        start = probe_text.rfind(probe)
        if start >= 0:
            exprs[key] = probe_text[start + len(probe) : probe_text.find("\0", start + 1)].strip()
    if "mytype" not in exprs or "name" not in exprs:  # other spelling or spacing: ask the regex
        exprs = {m.group(1).lower(): m.group(2).strip() for m in _SPECIAL.finditer(probe_text)}
    return exprs


def _culprit(text: str) -> str:
    """Which attribute of an ad (NUL-terminated old-syntax lines) does not parse, and why."""
    for line in text.split("\0")[:-1]:
        name, expr = cedar.split_line(line)
        try:
            classads.parse_expr(to_new_expr(name, expr))
        except ClassAdError as exc:
            return f"attribute {name}: {exc}"
    return "does not parse as a ClassAd"


def _parse(body: str, added: str | None, stamp: int) -> classads.ClassAd | None:
    """The ClassAd of a new-syntax body (assignments each followed by "; "), or None."""
    extra = f"{added}; LastHeardFrom = {stamp}" if added else f"LastHeardFrom = {stamp}"
    try:
        return classads.ClassAd(f"[ {body}{extra} ]")
    except Exception:  # classad2 raises its own exception types on bad syntax
        return None


class Policy(NamedTuple):
    """How long ads live: the default and the longest honoured ClassAdLifetime, in seconds."""

    default_lifetime: float
    max_lifetime: float = MAX_LIFETIME


class Prepared(NamedTuple):
    """An update checked and rewritten, not parsed yet: what `prepare` (in the ingest helper
    process, or here) hands to `finish`, which parses it in the process that keeps the ads."""

    my_type: str
    name: str
    lifetime: float
    body: str  # new-syntax assignments, each followed by "; "
    blob: bytes  # the kept wire lines, without the MyType and LastHeardFrom lines added
    added: str | None  # a MyType line to add (typed update without one)
    lines: int  # attributes the parsed ad must have (fast path), -1 (careful path)
    default_type: str | None


def prepare(blob: bytes, default_type: str | None, policy: Policy) -> Prepared:
    """Check the wire lines of one update (each NUL-terminated) and make its new-syntax text;
    ClassAdError says why not. The text is bounded (`limits.check_ad`) before anything else."""
    text = blob.decode("utf-8", "replace")
    check_ad(text, blob)
    probe_text = "\0" + text
    if not _plain(text, probe_text):
        return _careful(text, default_type, policy)
    exprs = _specials(probe_text)
    my_type, ad_name, added = _identity(exprs, default_type)
    lifetime = _lifetime(exprs, policy.default_lifetime, policy.max_lifetime)
    lines = text.count("\0") + (2 if added else 1)
    return Prepared(my_type, ad_name, lifetime, text.replace("\0", "; "), blob, added, lines, default_type)


def _careful(text: str, default_type: str | None, policy: Policy) -> Prepared:
    """`prepare` line by line: private and stamped attributes dropped, strings rewritten."""
    text, body, exprs = _rewrite(text)
    my_type, ad_name, added = _identity(exprs, default_type)
    lifetime = _lifetime(exprs, policy.default_lifetime, policy.max_lifetime)
    blob = text.encode("utf-8", "surrogateescape")
    return Prepared(my_type, ad_name, lifetime, body, blob, added, -1, default_type)


def finish(prepared: Prepared, now: float, policy: Policy) -> Record:
    """The Record of a prepared update, stamped `now`; ClassAdError says why it does not parse."""
    ad = _parse(prepared.body, prepared.added, stamp := int(now))
    if prepared.lines >= 0 and (ad is None or len(ad) != prepared.lines):
        # a stray quote joined lines, or a name repeats: take the careful path
        prepared = _careful(prepared.blob.decode("utf-8", "replace"), prepared.default_type, policy)
        ad = _parse(prepared.body, prepared.added, stamp)
    if ad is None:
        text = prepared.blob.decode("utf-8", "surrogateescape")
        raise ClassAdError(f"{prepared.my_type} ad {prepared.name!r}: {_culprit(text)}")
    blob = prepared.blob
    if prepared.added:
        blob += prepared.added.encode() + b"\0"
    blob += b"LastHeardFrom = %d\0" % stamp
    item = b"".join((_ONE, cedar.INT.pack(blob.count(b"\0")), blob, b"\0\0"))
    return Record(prepared.my_type, prepared.name, ad, item, now + prepared.lifetime)


def build_record(
    blob: bytes,
    default_type: str | None,
    now: float,
    default_lifetime: float,
    max_lifetime: float = MAX_LIFETIME,
) -> Record:
    """A Record from the wire lines of one update (each NUL-terminated); ClassAdError says why not."""
    policy = Policy(default_lifetime, max_lifetime)
    return finish(prepare(blob, default_type, policy), now, policy)
