"""Core of the ClassAd wrapper: library import order, value sentinels, expressions, evaluation.

Use `glidein.common.classads`, which re-exports all of this; this module exists so that the
matching helpers (`classad_match`) and the public module share one core without import cycles.

`htcondor2` is imported before `classad2`: it registers HTCondor's ClassAd functions
(`stringListMember`, ...) and the matchmaking rule that an unscoped reference not found in MY
falls back to TARGET. Without it both silently evaluate to error/undefined.
"""

import functools
from datetime import datetime
from typing import Union

# isort: off
import htcondor2  # noqa: F401  # must come before classad2: see the module docstring
import classad2
from classad2 import ClassAd, ExprTree, ParserType, Value
from classad2.classad2_impl import ClassAdException

# isort: on

from glidein.common import classad_text
from glidein.common.classad_text import TextError, snippet
from glidein.common.errors import ClassAdError

__all__ = [
    "ERROR",
    "EXPR_ATTR",
    "PARSE_ERRORS",
    "UNDEFINED",
    "ClassAd",
    "ErrorValue",
    "ExprTree",
    "ParserType",
    "PyValue",
    "Undefined",
    "cached_expr",
    "eval_attr",
    "evaluate",
    "expr_value",
    "holds",
    "is_true",
    "lib_error",
    "parse_expr",
    "parse_next",
    "parse_old_expr",
    "quote",
    "to_py",
]

parse_next = classad2.classad2_impl._classad_parse_next
PARSE_ERRORS = (ClassAdException, ValueError, RuntimeError, SystemError)
EXPR_ATTR = "__glidein_expr"


class Undefined:
    """The ClassAd value `undefined` (falsy; compare with `is UNDEFINED`)."""

    _instance: "Undefined | None" = None

    def __new__(cls) -> "Undefined":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "UNDEFINED"


class ErrorValue:
    """The ClassAd value `error` (falsy; compare with `is ERROR`)."""

    _instance: "ErrorValue | None" = None

    def __new__(cls) -> "ErrorValue":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "ERROR"


UNDEFINED = Undefined()
ERROR = ErrorValue()

PyValue = Union[  # noqa: UP007  # a runtime alias: `|` cannot take the string forward refs
    None, bool, int, float, str, list["PyValue"], dict[str, "PyValue"], ClassAd, Undefined, ErrorValue
]


def lib_error(kind: str, text: str) -> ClassAdError:
    """A one-line ClassAdError naming `text` and the library's reason."""
    reason = str(classad2.lastError()).strip()
    return ClassAdError(f"bad {kind} {snippet(text)}" + (f": {reason}" if reason else ""))


def parse_expr(text: str) -> ExprTree:
    """Parse one new-syntax expression; ClassAdError names the text when it is not one."""
    reason = classad_text.unsafe_expr_reason(text)
    if reason:
        raise ClassAdError(f"bad ClassAd expression {snippet(text)}: {reason}")
    try:
        ad = ClassAd("[" + EXPR_ATTR + " = " + text + "\n]")
    except PARSE_ERRORS:
        raise lib_error("ClassAd expression", text) from None
    if len(ad) != 1:
        raise ClassAdError(f"bad ClassAd expression {snippet(text)}: more than one expression")
    return ad.lookup(EXPR_ATTR)


def expr_value(text: str) -> ExprTree:
    """An expression to put into `from_dict` (a plain str there becomes a string literal)."""
    return parse_expr(text)


def parse_old_expr(text: str) -> ExprTree:
    """Parse one expression written in old syntax (e.g. one attribute of the CEDAR wire form)."""
    return parse_expr(classad_text.old_strings_to_new(text))


@functools.lru_cache(maxsize=4096)
def cached_expr(text: str) -> ExprTree:
    """parse_expr with a cache, for internal read-only use (never hand the tree out)."""
    return parse_expr(text)


def to_py(value: object, my: ClassAd | None, target: ClassAd | None) -> PyValue:
    """A classad2 evaluation result as a PyValue (list items evaluated in the same scope)."""
    if isinstance(value, Value):
        return UNDEFINED if value is Value.Undefined else ERROR
    if isinstance(value, list):
        return [
            to_py(item.eval(my, target) if isinstance(item, ExprTree) else item, my, target) for item in value
        ]
    if isinstance(value, datetime):
        return value.timestamp()
    return value


def evaluate(expr: str | ExprTree, my: ClassAd | None = None, target: ClassAd | None = None) -> PyValue:
    """Evaluate `expr` with MY = `my` and TARGET = `target`; UNDEFINED and ERROR stay distinct."""
    tree = cached_expr(expr) if isinstance(expr, str) else expr
    if my is None and target is not None:
        my = ClassAd()
    return _eval(tree, my, target)


def _eval(tree: ExprTree, my: ClassAd | None, target: ClassAd | None) -> PyValue:
    """classad2 raises when evaluation itself fails (a long chain it cannot walk): that is ERROR."""
    try:
        return to_py(tree.eval(my, target), my, target)
    except ClassAdException:
        return ERROR


def eval_attr(ad: ClassAd, name: str, target: ClassAd | None = None) -> PyValue:
    """Evaluate attribute `name` of `ad` with MY = `ad` (UNDEFINED when it is missing)."""
    try:
        tree = ad.lookup(name)
    except KeyError:
        return UNDEFINED
    return _eval(tree, ad, target)


def holds(tree: ExprTree, my: ClassAd | None, target: ClassAd | None = None) -> bool:
    """`tree` evaluates to exactly true; False when classad2 cannot evaluate it at all."""
    try:
        return tree.eval(my, target) is True
    except ClassAdException:
        return False


def is_true(value: object) -> bool:
    """Only a real boolean true is true (not 1, not classad2's truthy Value.Error)."""
    return value is True


def quote(value: str) -> str:
    """A new-syntax ClassAd string literal for `value`, escapes done right."""
    try:
        return classad_text.quote(value)
    except TextError as err:
        raise ClassAdError(str(err)) from None
