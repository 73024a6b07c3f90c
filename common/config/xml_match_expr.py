"""Translate a glideinWMS `match_expr` (Python over `glidein` and `job` dicts) into a ClassAd expression.

glideinWMS evaluates `match_expr` with Python's `eval` for every job cluster and entry, with
`glidein["attrs"]` the entry's glidefactory ad and `job` the job's attributes; a job matches when
the result `== True`, and any exception (a `KeyError` for a missing attribute) means no match.
We never evaluate it: the text is parsed with `ast` and a whitelisted subset is rewritten, with
MY = the job and TARGET = the entry ad:

* `glidein["attrs"]["X"]` -> `TARGET.X`, `job["X"]` -> `MY.X`; `.get("X")` and `.get("X", default)`
  too (a default becomes `ifThenElse(isUndefined(MY.X), default, MY.X)`).
* `A in B.split(",")` (any separator; `.split()` splits on white space) and `A in ["x", "y"]`
  -> `identicalMember(A, split(B, ","))`, `identicalMember(A, {"x", "y"})` (`member` for a list of
  numbers), `not in` -> `!identicalMember(...)`.
* `==`/`!=` -> `=?=`/`=!=` (case-sensitive, as Python), or `==`/`!=` against a number literal;
  `<`, `<=`, `>`, `>=` as they are; `int(...)`, `float(...)` -> `int(...)`, `real(...)`;
  `+`, `-`, `*` of numbers; `True`, `False`; `and`, `or`, `not`.

The result is the same match as glideinWMS's, missing attributes included: where a missing
attribute would raise in Python and a ClassAd operator would still decide (`undefined =!= "x"` is
true), the leaf is guarded with `ifThenElse(isUndefined(...), undefined, ...)`, and `and`/`or`
become `?:` where Python's left-to-right order matters. Known differences, on ill-typed data only:
a string compared with a number (Python: unequal; ClassAd: error), `int("2.5")` (Python: error;
ClassAd: 2), strings ordered with `<` (ClassAd ignores case), an empty site name in a split list.
Anything else stops the import with one line that shows the expression and what to write instead.
Examples:

* `glidein["attrs"]["GLIDEIN_Site"] in job["DESIRED_Sites"].split(",")`
  -> `identicalMember(TARGET.GLIDEIN_Site, split(MY.DESIRED_Sites, ","))`
* `glidein["attrs"]["GLIDEIN_CPUS"] >= job["RequestCpus"]` -> `TARGET.GLIDEIN_CPUS >= MY.RequestCpus`
* `glidein["attrs"]["GLIDEIN_Site"] != "T2_Bad"`
  -> `ifThenElse(isUndefined(TARGET.GLIDEIN_Site), undefined, TARGET.GLIDEIN_Site =!= "T2_Bad")`
* `job["DESIRED_Sites"].find(glidein["attrs"]["GLIDEIN_Site"]) >= 0` is refused: write
  `stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites)` (it also trims spaces around names).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Literal

from glidein.common import classads
from glidein.common.errors import ClassAdError, ConfigError

Absent = Literal["never", "none", "raise"]  # what the value is when an attribute is missing
Kind = Literal["str", "num", "bool", "list", "numlist", "any"]
Ctx = Literal["T", "F", "X"]  # which outcomes matter: true vs rest, false vs rest, all three
Prec = Literal["atom", "cmp", "and", "or", "cond"]
_FLIP: dict[Ctx, Ctx] = {"T": "F", "F": "T", "X": "X"}

ADVICE = (
    "write the group's `match_expr` in ClassAd instead (MY = job, TARGET = entry), e.g. "
    "`stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites) && RequestCpus <= TARGET.GLIDEIN_CPUS`"
)
_ATTR_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED = {"true", "false", "undefined", "error", "is", "isnt", "my", "target", "parent"}
_SCOPES = {"job": "MY", "glidein": "TARGET"}
# ClassAd outcome of each operator on an undefined operand, and Python's on None
_CA_UNDEF = {
    "=?=": "false",
    "=!=": "true",
    "==": "undefined",
    "!=": "undefined",
    "in": "false",
    "not in": "true",
}
_PY_NONE = {"=?=": "false", "=!=": "true", "==": "false", "!=": "true", "in": "false", "not in": "true"}
_ORDER = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_ARITH = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*"}


class MatchExprRefused(ConfigError):
    """A Python form with no faithful ClassAd translation; `advice` says what to write instead."""

    def __init__(self, reason: str, advice: str = ADVICE) -> None:
        super().__init__(f"{reason}: {advice}")
        self.reason, self.advice = reason, advice


@dataclass(frozen=True)
class Value:
    text: str
    absent: Absent = "never"
    kind: Kind = "any"


@dataclass(frozen=True)
class Bool:
    text: str
    total: bool  # never undefined/error when an attribute is missing
    prec: Prec = "atom"


def translate(source: str) -> str:
    """The ClassAd expression matching exactly when glideinWMS's `match_expr` does."""
    text = " ".join(source.split())
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise MatchExprRefused(f"not valid Python ({exc.msg})") from None
    result = _bool(tree.body, "T").text
    try:
        classads.parse_expr(result)
    except ClassAdError:  # a bug of ours, not of the operator's expression
        raise MatchExprRefused(f"translated to an invalid ClassAd expression {result!r}") from None
    return result


def combine(global_expr: str | None, group_expr: str | None) -> str:
    """glideinWMS ANDs the frontend's and the group's match_expr: `(global) and (group)`."""
    parts = [e.strip() for e in (global_expr, group_expr) if e is not None and e.strip() not in ("", "True")]
    return translate(" and ".join(f"({p})" for p in parts) or "True")


# ------------------------------------------------------------------ boolean structure


def _bool(node: ast.expr, ctx: Ctx) -> Bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, bool):
        return Bool("true" if node.value else "false", True)
    if isinstance(node, ast.BoolOp):
        return _boolop(node, ctx)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        inner = _bool(node.operand, _FLIP[ctx])
        return Bool(f"!{_wrap(inner)}", inner.total)
    if isinstance(node, ast.Compare):
        return _compare(node, ctx)
    raise MatchExprRefused(f"{_show(node)} is not a comparison, `in`, `and`, `or`, `not` or True/False")


def _boolop(node: ast.BoolOp, ctx: Ctx) -> Bool:
    """`A and B` is `A ? B : false` in Python's order; `&&` gives the same match when A is never
    undefined or when only true matters here (ctx T); `or` likewise with `||` and ctx F."""
    values = [v for v in node.values if not _is_const(v, isinstance(node.op, ast.And))]
    if not values:
        return _bool(node.values[-1], ctx)
    is_and = isinstance(node.op, ast.And)
    simple: Ctx = "T" if is_and else "F"
    right = _bool(values[-1], ctx)
    for left_node in reversed(values[:-1]):
        left = _bool(left_node, simple if ctx == simple else "X")
        total = left.total and right.total
        if ctx == simple or left.total:
            prec: Prec = "and" if is_and else "or"
            op = "&&" if is_and else "||"
            right = Bool(f"{_wrap(left, prec)} {op} {_wrap(right, prec)}", total, prec)
        else:
            then, other = (_wrap(right), "false") if is_and else ("true", _wrap(right))
            right = Bool(f"{_wrap(left)} ? {then} : {other}", total, "cond")
    return right


def _is_const(node: ast.expr, value: bool) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def _wrap(item: Bool, prec: Prec = "atom") -> str:
    """Parenthesized unless it binds tighter than an operand of `prec` (`atom`: `!` and `?:`)."""
    tighter = {"atom": ("atom",), "and": ("atom", "cmp", "and"), "or": ("atom", "cmp", "and", "or")}
    return item.text if item.prec in tighter.get(prec, ("atom",)) else f"({item.text})"


# ------------------------------------------------------------------ comparisons


def _compare(node: ast.Compare, ctx: Ctx) -> Bool:
    if len(node.ops) != 1:
        raise MatchExprRefused(f"chained comparison {_show(node)}", "write `a < b and b < c`")
    left, right, op = _value(node.left), _value(node.comparators[0]), node.ops[0]
    if isinstance(op, ast.In | ast.NotIn):
        return _membership(left, right, isinstance(op, ast.NotIn), ctx, node)
    if isinstance(op, ast.Eq | ast.NotEq):
        numeric = "num" in (left.kind, right.kind) and "str" not in (left.kind, right.kind)
        ca_op = ("==" if numeric else "=?=") if isinstance(op, ast.Eq) else ("!=" if numeric else "=!=")
        return _guarded(f"{left.text} {ca_op} {right.text}", [left, right], ca_op, ctx)
    ordering = _ORDER.get(type(op))
    if ordering is None:
        raise MatchExprRefused(f"operator in {_show(node)}", "use ==, !=, <, <=, >, >=, in or not in")
    if "str" in (left.kind, right.kind):
        raise MatchExprRefused(
            f"string ordering {_show(node)}", "ClassAd orders strings ignoring case: compare numbers"
        )
    return _guarded(f"{left.text} {ordering} {right.text}", [left, right], "<", ctx)


def _membership(item: Value, container: Value, negate: bool, ctx: Ctx, node: ast.expr) -> Bool:
    if container.kind not in ("list", "numlist"):
        raise MatchExprRefused(
            f"{_show(node)} tests a substring or an unknown container",
            'split the list (`... in job["DESIRED_Sites"].split(",")`), or write '
            "`stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites)` as the group's match_expr",
        )
    if container.kind == "numlist":  # `==` inside: 1 == 1.0 as in Python; undefined stays undefined
        text, op = f"member({item.text}, {container.text})", "!=" if negate else "=="
    else:
        text, op = f"identicalMember({item.text}, {container.text})", "not in" if negate else "in"
    leaf = _guarded(f"!{text}" if negate else text, [item], op, ctx, "atom")
    # a missing list raises in Python; split(undefined) is an error that no operator turns true
    return Bool(leaf.text, leaf.total and container.absent == "never", "atom")


def _guarded(leaf: str, operands: list[Value], op: str, ctx: Ctx, prec: Prec = "cmp") -> Bool:
    """Add `ifThenElse(isUndefined(a), <Python's outcome>, leaf)` where the ClassAd operator would
    decide differently from Python for a missing attribute, as far as `ctx` can tell them apart.
    A raising operand wins over a None one (Python evaluates both first): its guard goes outside."""
    text, total = leaf, True
    for value in sorted(operands, key=lambda v: v.absent == "raise"):
        if value.absent == "never":
            continue
        python = "undefined" if value.absent == "raise" or op == "<" else _PY_NONE[op]
        classad = "undefined" if op == "<" else _CA_UNDEF[op]
        total = total and python != "undefined"  # as translated in context X (exact guards)
        if not _same(python, classad, ctx):
            text, prec = f"ifThenElse(isUndefined({value.text}), {python}, {text})", "atom"
    return Bool(text, total, prec)


def _same(python: str, classad: str, ctx: Ctx) -> bool:
    if ctx == "T":
        return (python == "true") == (classad == "true")
    if ctx == "F":
        return (python == "false") == (classad == "false")
    return python == classad


# ------------------------------------------------------------------ values


def _value(node: ast.expr) -> Value:
    if isinstance(node, ast.Constant):
        return _constant(node)
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return _literal_list(node)
    if isinstance(node, ast.Subscript):
        return Value(_attr_ref(node.value, _key(node.slice, node)), "raise")
    if isinstance(node, ast.Call):
        return _call(node)
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
        left, right = _value(node.left), _value(node.right)
        if "str" in (left.kind, right.kind) or "list" in (left.kind, right.kind):
            raise MatchExprRefused(f"{_show(node)} joins strings or lists", "compare the parts separately")
        absent: Absent = "never" if left.absent == right.absent == "never" else "raise"
        return Value(f"({left.text} {_ARITH[type(node.op)]} {right.text})", absent, "num")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _value(node.operand)
        return Value(f"-{inner.text}", "never" if inner.absent == "never" else "raise", "num")
    raise MatchExprRefused(f"{_show(node)} is not a job or entry attribute, a literal or int()/float()")


def _constant(node: ast.Constant) -> Value:
    value = node.value
    if isinstance(value, bool):
        return Value("true" if value else "false", kind="bool")
    if isinstance(value, int | float):
        return Value(repr(value), kind="num")
    if isinstance(value, str):
        return Value(classads.quote(value), kind="str")
    raise MatchExprRefused(f"literal {_show(node)}", "use strings, numbers, True or False")


def _literal_list(node: ast.List | ast.Tuple | ast.Set) -> Value:
    items = [_value(item) for item in node.elts]
    kinds = {item.kind for item in items}
    if not kinds <= {"str"} and not kinds <= {"num"}:
        raise MatchExprRefused(f"list {_show(node)} mixes kinds", "list only strings, or only numbers")
    text = "{" + ", ".join(item.text for item in items) + "}"
    return Value(text, kind="numlist" if kinds == {"num"} else "list")


def _call(node: ast.Call) -> Value:
    func = node.func
    if (
        isinstance(func, ast.Attribute)
        and func.attr == "get"
        and not node.keywords
        and 1 <= len(node.args) <= 2
    ):
        ref = _attr_ref(func.value, _key(node.args[0], node))
        if len(node.args) == 1 or _is_none(node.args[1]):
            return Value(ref, "none")
        default = _value(node.args[1])
        if default.absent != "never" or default.kind == "list":
            raise MatchExprRefused(f"default of {_show(node)}", "use a literal default")
        return Value(f"ifThenElse(isUndefined({ref}), {default.text}, {ref})", "never", default.kind)
    if isinstance(func, ast.Attribute) and func.attr == "split" and not node.keywords and len(node.args) <= 1:
        return _split(_value(func.value), node)
    if (
        isinstance(func, ast.Name)
        and func.id in ("int", "float")
        and len(node.args) == 1
        and not node.keywords
    ):
        inner = _value(node.args[0])
        absent: Absent = "never" if inner.absent == "never" else "raise"
        name = "int" if func.id == "int" else "real"
        return Value(f"{name}({inner.text})", absent, "num")
    raise MatchExprRefused(f"call {_show(node)} (only .get(), .split(), int() and float() translate)")


def _split(target: Value, node: ast.Call) -> Value:
    if target.kind not in ("str", "any"):
        raise MatchExprRefused(f"{_show(node)} splits a non-string", "split a string attribute")
    separator = " \t\n\r\f\v"  # str.split(): runs of white space
    if node.args:
        sep = node.args[0]
        if not (isinstance(sep, ast.Constant) and isinstance(sep.value, str) and len(sep.value) == 1):
            raise MatchExprRefused(f"separator of {_show(node)}", 'use a one-character literal, e.g. ","')
        separator = sep.value
    absent: Absent = "never" if target.absent == "never" else "raise"
    return Value(f"split({target.text}, {classads.quote(separator)})", absent, "list")


def _attr_ref(node: ast.expr, name: str) -> str:
    """`glidein["attrs"]` or `job` followed by the attribute name: its scoped ClassAd reference."""
    scope = None
    if isinstance(node, ast.Name) and node.id == "job":
        scope = "MY"
    elif (
        isinstance(node, ast.Subscript)
        and isinstance(node.value, ast.Name)
        and node.value.id == "glidein"
        and _key(node.slice, node) == "attrs"
    ):
        scope = "TARGET"
    if scope is None:
        raise MatchExprRefused(
            f'{_show(node)} is not job or glidein["attrs"]',
            'entries publish their attributes only: use glidein["attrs"]["NAME"] (TARGET.NAME)',
        )
    if not _ATTR_RE.match(name) or name.lower() in _RESERVED:
        raise MatchExprRefused(f"attribute name {name!r}", "use a plain ClassAd attribute name")
    return f"{scope}.{name}"


def _key(node: ast.expr, where: ast.expr) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    raise MatchExprRefused(f"key of {_show(where)} is not a literal string", "name the attribute literally")


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _show(node: ast.expr) -> str:
    text = ast.unparse(node)
    return f"`{text[:80]}...`" if len(text) > 80 else f"`{text}`"
