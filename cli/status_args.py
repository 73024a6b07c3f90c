"""The command line of `glidein status`, read the way condor_status reads its own.

Options take one dash and may be shortened as condor_status allows (`-const`, `-l`, `-tot`);
`-af`/`-autoformat` take options after a colon (`-af:lh`) and every following word up to the
next one that starts with a dash. Words without a dash are names: ads whose Name or Machine is
one of them. glidein's own spellings stay: `-factory`, `-frontend`, `-type MYTYPE`, `-json`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from glidein.cli.status_format import PrintMask, autoformat, format_column
from glidein.common import classads
from glidein.common.errors import ConfigError

DEFAULT_POOL = "127.0.0.1:9618"
# mode -> (MyType asked of the collector (None: any), default layout)
MODES: dict[str, tuple[str | None, str]] = {
    "slots": ("Machine", "startd"),
    "schedd": ("Scheduler", "schedd"),
    "collector": ("Collector", "collector"),
    "master": ("DaemonMaster", "master"),
    "negotiator": ("Negotiator", "any"),
    "submitters": ("Submitter", "any"),
    "any": (None, "any"),
    "factory": ("glidefactory", "factory"),
    "frontend": ("glideclient", "frontend"),
}
# (condor_status name, shortest prefix, mode); "startd" means the slots here (see docs/OPERATIONS.md)
_MODE_FLAGS = [
    ("any", 2, "any"),
    ("startd", 4, "slots"),
    ("slots", 2, "slots"),
    ("schedd", 2, "schedd"),
    ("collector", 3, "collector"),
    ("master", 1, "master"),
    ("negotiator", 1, "negotiator"),
    ("submitters", 4, "submitters"),
    ("factory", 7, "factory"),
    ("frontend", 8, "frontend"),
]
USAGE = """\
usage: glidein status [-pool HOST:PORT] [MODE] [-constraint EXPR] [-limit N] [-sort EXPR]
                      [-total] [-compact] [-direct NAME] [OUTPUT] [NAME ...]
  MODE:   -startd/-slots (default), -schedd, -collector, -master, -negotiator, -submitters,
          -any, -factory, -frontend, -subsystem/-type MYTYPE
  OUTPUT: -long, -xml, -json (with -attributes A,B), -format FMT EXPR (repeatable),
          -af[:lhVrj,tng] EXPR ... (-autoformat), a table by default
  The pool defaults to $GLIDEIN_COLLECTOR, else 127.0.0.1:9618.
"""


@dataclass
class StatusOptions:
    pool: str = field(default_factory=lambda: os.environ.get("GLIDEIN_COLLECTOR", DEFAULT_POOL))
    mode: str = "slots"
    my_type: str | None = "Machine"
    layout: str = "startd"
    constraints: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    limit: int = 0
    sort: list[str] = field(default_factory=list)
    no_sort: bool = False
    output: str = "table"  # table, long, xml, json, custom
    attributes: list[str] = field(default_factory=list)
    mask: PrintMask = field(default_factory=PrintMask)
    totals: bool = False
    compact: bool = False
    direct: str | None = None
    help: bool = False
    warnings: list[str] = field(default_factory=list)  # as condor_status: said, then carried on

    def formatted(self, word: str) -> None:
        """An -af or -format: it sets the output unless whole ads were asked for before it."""
        if self.output in ("long", "xml", "json"):
            self.warnings.append(f"{word} contradicts -{self.output}: whole ads shown")
        else:
            self.output = "custom"

    def constraint(self) -> str:
        """The whole constraint: every -constraint and -sort guard AND any name filter."""
        parts = [f"({text})" for text in self.constraints]
        parts += [f"(({text}) =!= undefined)" for text in ([] if self.no_sort else self.sort)]
        if self.names:
            quoted = [classads.quote(name) for name in self.names]
            parts.append("(" + " || ".join(f"(Name == {q} || Machine == {q})" for q in quoted) + ")")
        return " && ".join(parts) or "true"


def _matches(word: str, name: str, shortest: int) -> bool:
    """condor_status's is_dash_arg_prefix: -word (or --word) shortens `name` to >= `shortest`."""
    body = word[2:] if word.startswith("--") else word[1:]
    return word.startswith("-") and len(body) >= shortest and name.startswith(body)


def _need(words: Sequence[str], index: int, count: int) -> list[str]:
    values = list(words[index + 1 : index + 1 + count])
    if len(values) < count:
        raise ConfigError(f"{words[index]} needs {count} more argument{'s' if count > 1 else ''}")
    return values


def _set_mode(options: StatusOptions, mode: str, word: str, seen: list[str]) -> None:
    """Ask for one kind of ad (`type:MYTYPE` for any other MyType)."""
    if seen and options.mode != mode:
        raise ConfigError(f"{word} contradicts {seen[0]}: give one kind of ad")
    seen.append(word)
    options.mode = mode
    options.my_type, options.layout = MODES.get(mode, (mode.partition(":")[2], "any"))


def parse_status_args(words: Sequence[str]) -> StatusOptions:
    """StatusOptions from the words after `glidein status`; ConfigError names a bad one."""
    options = StatusOptions()
    modes: list[str] = []
    index = 0
    while index < len(words):
        index = _one(words, index, options, modes)
    if options.compact and options.mode != "slots":
        raise ConfigError(f"-compact shows slots only, not {options.mode} ads")
    return options


def _one(words: Sequence[str], index: int, options: StatusOptions, modes: list[str]) -> int:
    """Read the option at `index`; return the index of the next word."""
    word = words[index]
    if not word.startswith("-") or word == "-":
        options.names.append(word)
        return index + 1
    head, _, colon = word.partition(":")
    if _matches(head, "autoformat", 5) or _matches(head, "af", 2):
        return _autoformat(words, index, colon, options)
    for name, shortest, mode in _MODE_FLAGS:
        if _matches(word, name, shortest):
            _set_mode(options, mode, word, modes)
            return index + 1
    if _matches(word, "subsystem", 4) or _matches(word, "type", 4):
        (my_type,) = _need(words, index, 1)
        _set_mode(options, f"type:{my_type}", word, modes)  # condor_status's plain MyType/TargetType/Name
        return index + 2
    return _value_option(words, index, options)


def _limit(options: StatusOptions, text: str) -> None:
    if not text.isdigit():
        raise ConfigError(f"-limit needs a number of ads, not {text!r}")
    options.limit = int(text)


def _sort(options: StatusOptions, text: str) -> None:
    if text.lower() in ("false", "0", "no", "none"):
        options.no_sort = True
    else:
        classads.parse_expr(text)
        options.sort.append(text)


def _constraint(options: StatusOptions, text: str) -> None:
    classads.parse_expr(text)
    options.constraints.append(text)


def _format(options: StatusOptions, fmt: str, attr: str) -> None:
    options.mask.columns.append(format_column(fmt, attr))
    options.formatted("-format")


def _attributes(options: StatusOptions, text: str) -> None:
    options.attributes += [name.strip() for name in text.split(",") if name.strip()]


def _form(form: str) -> Callable[[StatusOptions], None]:
    def set_form(options: StatusOptions) -> None:
        options.output = form

    return set_form


# (name, shortest prefix, handler taking the option's arguments); checked in this order
_VALUE_OPTIONS: list[tuple[str, int, Callable[..., None]]] = [
    ("help", 1, lambda o: setattr(o, "help", True)),
    ("pool", 1, lambda o, v: setattr(o, "pool", v)),
    ("direct", 3, lambda o, v: setattr(o, "direct", v)),
    ("constraint", 3, _constraint),
    ("limit", 2, _limit),
    ("sort", 2, _sort),
    ("format", 1, _format),
    ("attributes", 2, _attributes),
    ("long", 1, _form("long")),
    ("xml", 1, _form("xml")),
    ("json", 2, _form("json")),
    ("totals", 1, lambda o: setattr(o, "totals", True)),
    ("compact", 3, lambda o: setattr(o, "compact", True)),
]


def _value_option(words: Sequence[str], index: int, options: StatusOptions) -> int:
    word = words[index]
    head, _, form = word.partition(":")
    if word == "-h":
        head = "-help"
    for name, shortest, handler in _VALUE_OPTIONS:
        if _matches(head if name == "long" else word, name, shortest):
            count = handler.__code__.co_argcount - 1
            handler(options, *_need(words, index, count))
            if name == "long" and form in ("xml", "json"):
                options.output = form
            return index + 1 + count
    raise ConfigError(f"unknown option {word} (see glidein status -help)")


def _autoformat(words: Sequence[str], index: int, colon: str, options: StatusOptions) -> int:
    exprs = []
    next_index = index + 1
    while next_index < len(words) and not words[next_index].startswith("-"):
        exprs.append(words[next_index])
        next_index += 1
    if not exprs:
        raise ConfigError(f"{words[index]} needs at least one attribute or expression")
    if next_index < len(words) and words[next_index] == "-":
        next_index += 1  # a lone '-' ends the list
    autoformat(colon, exprs, options.mask)
    options.formatted(words[index])
    return next_index
