"""Pure text helpers for the ClassAd syntaxes (no classad2 here; `glidein.common.classads` uses them).

- `old_strings_to_new` rewrites the string literals of an old-syntax expression into new syntax.
  Old syntax: a backslash is literal except before a quote, and `\\"` at the very end of the
  expression (or line) is a literal backslash followed by the closing quote. New syntax: C-like
  escapes (`\\\\`, `\\"`, `\\n`, octal).
- `unsafe_expr_reason` (and its fast variant `quick_unsafe_reason`) says why an expression
  text could leak out of its attribute when it is placed into `[ name = <text> ]` (a top-level
  `;`, an unbalanced bracket, an unterminated string or comment), or None when it is safe.
- `quote` makes a new-syntax string literal.
"""

import json
import re

# Tokens of the new syntax that matter for structure: complete strings and quoted names (with
# backslash escapes, as in new ClassAds and JSON), comments, brackets, separators, and a lone
# quote or comment opener (unterminated).
_TOKEN = re.compile(
    r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|//[^\n]*|/\*.*?\*/|/\*|["\'\[\]{}();,]',
    re.S,
)
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|\'[^\'\\]*(?:\\.[^\'\\]*)*\'', re.S)
_STRING_LINE = re.compile(r'"[^"\\\n]*(?:\\.[^"\\\n]*)*"')
_OLD_STRING_LINE = re.compile(r'"((?:[^"\\\n]|\\"(?=[^\n])|\\)*)"')
_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_OPEN = "[{("
_CLOSE = {"]": "[", "}": "{", ")": "("}
# Characters without which an expression cannot leak out of `[ name = <expr> ]`.
_RISKY = re.compile(r"[;\]})/\"']")
# An old-syntax string literal: a backslash-quote followed by any character but a newline is a
# literal quote; any other backslash is literal.
_OLD_STRING = re.compile(r'"((?:[^"\\]|\\"(?=[^\n])|\\)*)"')
_NEW_ESCAPES = {i: f"\\{i:03o}" for i in [*range(32), 127]}
_NEW_ESCAPES.update({ord("\\"): "\\\\", ord('"'): '\\"', ord("\n"): "\\n", ord("\t"): "\\t"})
_NEW_ESCAPES.update({ord("\r"): "\\r", ord("\b"): "\\b", ord("\f"): "\\f"})


class TextError(ValueError):
    """A ClassAd text is malformed; the message is one line naming where."""


def snippet(text: str, limit: int = 60) -> str:
    """A short quoted excerpt of `text` for error messages."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def line_of(text: str, pos: int) -> int:
    """1-based line number of character offset `pos` in `text`."""
    return text.count("\n", 0, pos) + 1


def quote(value: str) -> str:
    """A new-syntax ClassAd string literal for `value` (UTF-8 kept, controls escaped)."""
    if "\0" in value:
        raise TextError(f"a ClassAd string cannot hold a NUL character: {snippet(value)}")
    return '"' + value.translate(_NEW_ESCAPES) + '"'


def _old_literal_to_new(match: "re.Match[str]") -> str:
    return quote(match.group(1).replace('\\"', '"'))


def old_strings_to_new(expr: str) -> str:
    """Rewrite the string literals of old-syntax expression text into new-syntax escapes."""
    if "\\" not in expr and "\n" not in expr and "\r" not in expr:
        return expr  # identical in both syntaxes
    return _OLD_STRING.sub(_old_literal_to_new, expr)


def old_strings_to_new_lines(text: str) -> str:
    """old_strings_to_new for a text of several lines (no string may span lines); only the
    lines that hold a backslash change."""
    parts, pos = [], 0
    slash = text.find("\\")
    while slash != -1:
        start = text.rfind("\n", 0, slash) + 1
        end = text.find("\n", slash)
        end = len(text) if end == -1 else end
        parts += [text[pos:start], _OLD_STRING_LINE.sub(_old_literal_to_new, text[start:end])]
        pos = end
        slash = text.find("\\", end)
    parts.append(text[pos:])
    return "".join(parts)


def has_risky_chars(text: str) -> bool:
    """Whether new-syntax `text` has, outside one-line double-quoted strings, a ';', a '/*' or
    any quote: if not, attributes cannot leak into each other when its lines are joined."""
    bare = _STRING_LINE.sub("0", text) if '"' in text else text
    return ";" in bare or "/*" in bare or '"' in bare or "'" in bare


def quick_unsafe_reason(expr: str) -> str | None:
    """unsafe_expr_reason for callers that also check the parser consumed the whole text
    (which catches a stray closing bracket): fast for values without ';', comments or odd quotes."""
    bare = _STRING.sub("0", expr) if ('"' in expr or "'" in expr) else expr
    if ";" in bare or "/*" in bare or '"' in bare or "'" in bare or not bare.strip():
        return unsafe_expr_reason(expr)
    return None


def unsafe_expr_reason(expr: str) -> str | None:  # noqa: PLR0911
    """Why `expr` cannot stand alone as one attribute's value, or None when it can."""
    if not expr.strip():
        return "empty expression"
    if not _RISKY.search(expr):
        return None
    stack: list[str] = []
    for match in _TOKEN.finditer(expr):
        tok = match.group()
        if tok in ('"', "'"):
            return "unterminated string"
        if tok == "/*":
            return "unterminated comment"
        if tok in _OPEN:
            stack.append(tok)
        elif tok in _CLOSE:
            if not stack or stack.pop() != _CLOSE[tok]:
                return f"unbalanced {tok!r}"
        elif tok == ";" and not stack:
            return "';' outside brackets"
    return f"unclosed {stack[-1]!r}" if stack else None


# JSON ClassAds mark an expression as the string "\/Expr(<text>)\/"; a JSON decoder turns that
# into "/Expr(<text>)/", which classad2 then reads as a plain string. We follow JSON semantics:
# both spellings mean an expression, and a literal string of that shape is written as an
# expression whose value is the string.
_JSON_PLAIN_EXPR = re.compile(r'(?<!\\)"/Expr\((?:[^"\\]|\\.)*\)/"')


def _escape_marker(match: "re.Match[str]") -> str:
    token = match.group()
    return '"\\/Expr(' + token[7:-3] + ')\\/"'


def _raw_unicode(match: "re.Match[str]") -> str:
    token = match.group()
    if "\\u" not in token:
        return token
    try:
        return json.dumps(json.loads(token), ensure_ascii=False)
    except ValueError:
        return token  # the ClassAd parser reports it


def json_for_classad2(text: str) -> str:
    """A JSON text as classad2 reads it right: `\\uXXXX` escapes written as the characters
    (classad2 decodes those above U+007F wrongly), and every "/Expr(...)/" string spelled
    "\\/Expr(...)\\/" (an expression)."""
    if "\\u" in text:
        text = _TOKEN.sub(_raw_unicode, text)
    return _JSON_PLAIN_EXPR.sub(_escape_marker, text) if '"/Expr(' in text else text


def _literal_as_expr(match: "re.Match[str]") -> str:
    value = json.loads(match.group())
    return _escape_marker(_JSON_PLAIN_EXPR.match(json.dumps("/Expr(" + quote(value) + ")/")))  # type: ignore[arg-type]


def json_protect_literals(text: str) -> str:
    """In classad2's JSON output, rewrite literal strings shaped like "/Expr(...)/" as
    expressions of that string value, so that they read back as the same string."""
    return _JSON_PLAIN_EXPR.sub(_literal_as_expr, text) if '"/Expr(' in text else text
