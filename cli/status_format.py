"""Print masks as condor_status has them: `-format FMT EXPR` and `-af[:options] EXPR...` columns.

A `Column` is one printf-style format (one conversion at most) applied to an attribute or an
expression, evaluated in the ad with classad2. Rendering follows HTCondor's AttrListPrintMask:
first every ad is evaluated into a row (auto-width columns grow to their widest value), then the
headings and the rows are written. A value that cannot be shown with the conversion asked for
(`%d` of a string, an attribute missing with `%s`) makes the whole column text empty, as in
condor_status.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from glidein.common import classads
from glidein.common.classad_core import PARSE_ERRORS, cached_expr, to_py
from glidein.common.errors import ClassAdError, ConfigError

# printf conversions: letter -> kind (HTCondor's printf_fmt_t)
_KINDS = {
    **dict.fromkeys("diuoxX", "int"),
    "c": "char",
    **dict.fromkeys("eEfFgGaA", "float"),
    "s": "string",
    "v": "value",
    "V": "value",
    "r": "raw",
    "R": "raw",
    "T": "time",  # HTCondor's own: seconds as days+hh:mm:ss
    "Y": "date",  # HTCondor's own: a Unix time as month/day hour:minute (local time)
}
_CONVERSION = re.compile(r"%([-#0 +']*)(\d*)(?:\.(\d*))?([hlLqjzt]*)([a-zA-Z%])")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "a": "\a", "b": "\b", "f": "\f"}
ALT_NONE, ALT_QUESTION = " ", "?"
MAX_WIDTH = 10_000  # -format widths and precisions: a line, not a gigabyte


@dataclass
class Column:
    """One column: `fmt` (printf text, or None for the value alone) of `attr` (attribute or expression)."""

    fmt: str | None
    attr: str
    width: int = 0
    left: bool = False
    auto_width: bool = False
    truncate: bool = False
    alt: str = ALT_NONE  # what an invalid value shows: nothing, or '?' ([????] when wide_alt)
    wide_alt: bool = False
    no_prefix: bool = False
    render: str | None = None  # a named renderer of status_layouts, instead of printf
    job_id: bool = False  # -af:j: ClusterId.ProcId


@dataclass
class PrintMask:
    columns: list[Column] = field(default_factory=list)
    headings: list[str] = field(default_factory=list)
    row_prefix: str = ""
    col_prefix: str = ""
    col_suffix: str = ""
    row_suffix: str = ""


def printf(fmt: str, *values: object) -> str:
    """C printf, which condor_status's formats are (Python's % operator has the same rules)."""
    return fmt % values


def collapse_escapes(text: str) -> str:
    """`\\n`, `\\t`, ... in a -format string become the characters (as condor_status does)."""
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text)


@functools.lru_cache(maxsize=256)
def conversion(fmt: str) -> re.Match[str] | None:
    """The first printf conversion of `fmt` (None: literal text only)."""
    for match in _CONVERSION.finditer(fmt):
        if match.group(5) != "%":
            return match if match.group(5) in _KINDS else None
    return None


def format_column(fmt: str, attr: str) -> Column:
    """A `-format FMT ATTR` column; ClassAdError names a bad expression."""
    classads.parse_expr(attr)
    text = collapse_escapes(fmt)
    column = Column(text, attr)
    match = conversion(text)
    if match and max(int(match.group(2) or 0), int(match.group(3) or 0)) > MAX_WIDTH:
        raise ConfigError(f"-format {fmt!r}: a width or precision above {MAX_WIDTH} is not shown")
    if match and match.group(2):
        column.width, column.left = int(match.group(2)), "-" in match.group(1)
    return column


def _separators(options: str, mask: PrintMask) -> str:
    """Set `mask`'s separators from -af options; return the conversion letter (v, V or r)."""
    mask.col_prefix, mask.col_suffix, mask.row_prefix, mask.row_suffix = " ", "", "", "\n"
    for char in options:
        if char in ",n":
            mask.col_suffix = "," if char == "," else "\n"
        elif char == "g":
            mask.col_prefix, mask.row_prefix = "", "\n"
        elif char == "t":
            mask.col_prefix = "\t"
    for letter, chars in (("r", "ro"), ("V", "V"), ("Y", "Y"), ("T", "T")):
        if any(char in options for char in chars):
            return letter
    return "v"


def autoformat(options: str, exprs: Sequence[str], mask: PrintMask) -> None:
    """Add the columns of `-af:OPTIONS EXPR...` to `mask` (options as condor_status: lhVrj,tng)."""
    letter = _separators(options, mask)
    headings = "h" in options or bool(mask.headings)
    if "j" in options:
        mask.columns.append(Column("%v", "ClusterId", 3 if headings else 0, left=True, job_id=True))
        mask.headings += [" ID"] if headings else []
    for expr in exprs:
        kind = _expression_kind(expr)
        if headings:
            heading = expr if kind != "expr" or "h" in options or len(expr) <= 16 else "(expr)"
            mask.headings.append(heading)
            mask.columns.append(Column("%" + letter, expr, len(heading), left=True, auto_width=True))
        elif "l" in options:
            mask.columns.append(Column(f"{expr} = %{letter}", expr))
        else:
            mask.columns.append(Column("%" + letter, expr))


def _expression_kind(text: str) -> str:
    try:
        tree = classads.parse_expr(text)
    except ClassAdError:
        raise ClassAdError(f"-af: {text!r} is not an attribute or a ClassAd expression") from None
    return "attr" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", str(tree).strip()) else "expr"


# ---------------------------------------------------------------- values


def unparse(value: object) -> str:
    """A classad2 evaluation result in old ClassAd syntax (as condor_status's %V and %v print it)."""
    if isinstance(value, float) and value == 0.0:
        return printf("%.1f", value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if value is classads.UNDEFINED:
        return "undefined"
    if value is classads.ERROR:
        return "error"
    holder = classads.ClassAd()
    holder["x"] = value
    return str(holder.printOld()).partition(" = ")[2].rstrip("\n")


def unparse_width(value: object) -> int | None:
    """Width an auto-width %v column takes for `value` before display (None: unchanged)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return len(str(value))
    if isinstance(value, float):
        return len(printf("%.1f" if value == 0.0 else "%1.15E", value))
    if isinstance(value, str):
        return len(value)
    return None


@dataclass
class Cell:
    """One evaluated column of one ad: `valid` False shows the column's alt text."""

    value: object = None
    valid: bool = False
    kind: str = "value"


def _lookup(ad: classads.ClassAd, attr: str) -> classads.ExprTree | None:
    try:
        return ad.lookup(attr)
    except KeyError:
        return None


def evaluate_cell(column: Column, ad: classads.ClassAd) -> Cell:
    """Evaluate `column` in `ad` the way AttrListPrintMask::render does."""
    match = conversion(column.fmt) if column.fmt else None
    if column.fmt and match is None:
        return Cell(column.fmt, True, "literal")
    kind = _KINDS[match.group(5)] if match else "value"
    in_ad = _lookup(ad, column.attr)
    tree = in_ad if in_ad is not None else cached_expr(column.attr)
    if kind == "string" and in_ad is not None:
        value = raw_eval(tree, ad)
        # %s of an attribute that is no string prints its expression
        kind = "string" if isinstance(value, str) else "raw"
        if kind == "string":
            return Cell(value, True, kind)
    if kind == "raw":
        plain_ref = in_ad is None and _expression_kind(column.attr) == "attr"
        return Cell("undefined" if plain_ref else _unparse_tree(tree), True, kind)
    return _typed(kind, raw_eval(tree, ad))


def _typed(kind: str, value: object) -> Cell:
    """A value checked against the conversion's type (%d wants a number, %s a string)."""
    if kind in ("int", "char", "float", "time", "date"):
        if not isinstance(value, int | float):
            return Cell(None, False, kind)
        return Cell(float(value) if kind == "float" else int(value), True, kind)
    return Cell(value, kind != "string" or isinstance(value, str), kind)


def raw_eval(tree: classads.ExprTree, ad: classads.ClassAd) -> object:
    """`tree` evaluated in `ad`: lists and ads as classad2 gives them (to unparse), undefined and
    error as the sentinels (classad2's own are ints, which would pass for numbers)."""
    try:
        value = tree.eval(ad)
    except PARSE_ERRORS:
        return classads.ERROR
    if isinstance(value, int) and not isinstance(value, bool) and type(value) is not int:
        return to_py(value, None, None)
    return value


def _unparse_tree(tree: classads.ExprTree) -> str:
    holder = classads.ClassAd()
    holder["x"] = tree
    return str(holder.printOld()).partition(" = ")[2].rstrip("\n")


def _printf(fmt: str, match: re.Match[str], value: object) -> str:
    """`fmt` with its conversion replaced by `value` (C printf rules via Python's %): without
    l/ll an integer conversion takes the low 32 bits, %u/%x/%o unsigned, %c one byte."""
    head, spec, tail = _split_format(fmt)
    letter, length = match.group(5), match.group(4)
    if letter in "aA" and isinstance(value, float):
        value = _hex_float(value, upper=letter == "A")
    if isinstance(value, int) and letter in "diuoxXc":
        bits = 64 if "l" in length or "j" in length or "z" in length else 32
        value &= (1 << bits) - 1 if letter != "c" else 0xFF
        if letter in "di" and value >= 1 << (bits - 1):
            value -= 1 << bits
    try:
        return head + printf(spec, value) + tail
    except (TypeError, ValueError, OverflowError):  # e.g. a precision Python refuses: the value is left out
        return head + tail


def _hex_float(value: float, upper: bool) -> str:
    """C's %a: `0x1.8p+1` (Python's float.hex pads the fraction with zeros)."""
    mantissa, _, exponent = value.hex().partition("p")
    mantissa = mantissa.rstrip("0").rstrip(".")
    text = f"{mantissa}p{exponent}"
    return text.upper() if upper else text


@functools.lru_cache(maxsize=256)
def _split_format(fmt: str) -> tuple[str, str, str]:
    """(text before, Python % spec, text after) of `fmt`'s one conversion."""
    match = conversion(fmt)
    assert match is not None
    flags, width, precision, _length, letter = match.groups()
    if letter in "vVrRaA":
        letter, precision = "s", None if letter in "aA" else precision
    elif letter in "ui":
        letter = "d"
    dot = f".{precision or 0}" if precision is not None else ""
    spec = "%" + flags.replace("'", "") + width + dot + letter
    return fmt[: match.start()].replace("%%", "%"), spec, fmt[match.end() :].replace("%%", "%")


def cell_text(column: Column, cell: Cell) -> str:
    """The display text of an evaluated cell, before alignment to the column width."""
    if cell.kind == "literal":
        return str(cell.value)
    if not cell.valid or column.job_id:
        return ""
    fmt = column.fmt or "%v"
    match = conversion(fmt)
    assert match is not None
    if cell.kind in ("int", "char", "float"):
        return _pad(_printf(fmt, match, cell.value), column.width)
    if cell.kind in ("time", "date"):
        seconds = int(str(cell.value))
        return _pad(format_time(seconds) if cell.kind == "time" else format_date(seconds), column.width)
    as_is = cell.kind == "string" or (isinstance(cell.value, str) and match.group(5) != "V")
    return _printf(fmt, match, cell.value if as_is else unparse(cell.value))


def format_time(seconds: int) -> str:
    """HTCondor's format_time: `%3d+%02d:%02d:%02d` (days+hours:minutes:seconds)."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return printf("%3d+%02d:%02d:%02d", days, hours, minutes, secs)


def format_date(when: int) -> str:
    """HTCondor's format_date: `%2d/%-2d %02d:%02d` (month/day hour:minute, local time)."""
    try:
        tm = time.localtime(when)
    except (OSError, OverflowError, ValueError):
        tm = None
    if when < 0 or tm is None:
        return "    ???    "
    return printf("%2d/%-2d %02d:%02d", tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min)


def _pad(text: str, width: int) -> str:
    return text.rjust(width) if width > len(text) else text


# ---------------------------------------------------------------- rows

Renderer = Callable[[Column, classads.ClassAd], Cell]


def calc_width(column: Column, cell: Cell) -> int:
    """AttrListPrintMask's calc_column_width: the width a valid cell asks for at render time."""
    if cell.kind in ("int", "char", "float", "time", "date"):
        return len(cell_text(column, cell))
    wanted = unparse_width(cell.value) if cell.kind != "literal" else len(str(cell.value))
    return column.width if wanted is None else wanted


def evaluate_rows(
    mask: PrintMask, ads: Sequence[classads.ClassAd], renderers: dict[str, Renderer] | None = None
) -> list[list[Cell]]:
    """Every ad's cells; auto-width columns grow to their widest value."""
    rows = []
    for ad in ads:
        row = []
        for column in mask.columns:
            if column.render is not None and renderers is not None:
                cell = renderers[column.render](column, ad)
            else:
                cell = evaluate_cell(column, ad)
            if cell.valid and column.auto_width:
                column.width = max(column.width, calc_width(column, cell))
            row.append(cell)
        rows.append(row)
    return rows


def _align(column: Column, text: str) -> str:
    if column.auto_width:
        column.width = max(column.width, len(text))
    width = column.width
    if not width:
        return text
    if len(text) > width:
        return text[:width] if column.truncate else text
    return text.ljust(width) if column.left else text.rjust(width)


def _alt(column: Column) -> str:
    if column.alt == ALT_NONE:
        return ""
    if not column.wide_alt:
        return column.alt
    width = column.width
    return column.alt if width < 3 else "[" + "?" * (width - 2) + "]"


def display_row(mask: PrintMask, row: Sequence[Cell]) -> str:
    """One row as AttrListPrintMask::display writes it (prefixes, suffixes, alignment)."""
    out = [mask.row_prefix]
    last = len(mask.columns)
    for index, (column, cell) in enumerate(zip(mask.columns, row, strict=True)):
        if mask.col_prefix and index > 0 and not column.no_prefix:
            out.append(mask.col_prefix)
        text = cell_text(column, cell) if cell.valid or cell.kind == "literal" else _alt(column)
        out.append(text if column.job_id else _align(column, text))
        if mask.col_suffix and index + 1 < last:
            out.append(mask.col_suffix)
    return "".join(out) + mask.row_suffix


def display_headings(mask: PrintMask) -> str:
    out = [mask.row_prefix]
    last = len(mask.columns)
    for index, (column, heading) in enumerate(zip(mask.columns, mask.headings, strict=False)):
        if mask.col_prefix and index > 0 and not column.no_prefix:
            out.append(mask.col_prefix)
        out.append(heading.ljust(column.width) if column.width else heading)
        if mask.col_suffix and index + 1 < last:
            out.append(mask.col_suffix)
    return "".join(out) + mask.row_suffix


def render_custom(mask: PrintMask, ads: Sequence[classads.ClassAd]) -> str:
    """-format / -af output: headings (with -af:h) then one row per ad."""
    rows = evaluate_rows(mask, ads)
    out = [display_headings(mask)] if mask.headings and ads else []
    out += [display_row(mask, row) for row in rows]
    return "".join(out)
