"""Tokens of PromQL (the subset's lexical level matches Prometheus' lex.go)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import PromQLSyntaxError

KEYWORDS = {
    "and", "or", "unless", "atan2", "by", "without", "on", "ignoring", "group_left",
    "group_right", "bool", "offset", "start", "end",
    "sum", "avg", "count", "min", "max", "group", "stddev", "stdvar", "topk", "bottomk",
    "count_values", "quantile", "limitk", "limit_ratio",
}
AGGREGATORS = {
    "sum", "avg", "count", "min", "max", "group", "stddev", "stdvar", "topk", "bottomk",
    "count_values", "quantile", "limitk", "limit_ratio",
}

_OPERATORS = ["==", "!=", "<=", ">=", "=~", "!~", "+", "-", "*", "/", "%", "^", "<", ">", "=",
              "(", ")", "{", "}", "[", "]", ",", "@", ":"]
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_DURATION = re.compile(r"(?:[0-9]+(?:ms|s|m|h|d|w|y))+")
_NUMBER = re.compile(
    r"0[xX][0-9a-fA-F]+|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
)
_SPACE = re.compile(r"(?:\s|#[^\n]*)+")


@dataclass(frozen=True)
class Token:
    kind: str  # "ident", "keyword", "number", "duration", "string", "op", "eof"
    text: str
    pos: int
    value: object = None


def tokenize(expr: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while True:
        space = _SPACE.match(expr, pos)
        if space:
            pos = space.end()
        if pos >= len(expr):
            tokens.append(Token("eof", "", pos))
            return tokens
        token = _next_token(expr, pos)
        tokens.append(token)
        pos += len(token.text)


def _next_token(expr: str, pos: int) -> Token:
    char = expr[pos]
    if char in "\"'`":
        return _string(expr, pos)
    if char.isdigit() or (char == "." and expr[pos + 1:pos + 2].isdigit()):
        return _number_or_duration(expr, pos)
    ident = _IDENT.match(expr, pos)
    if ident and not (char == ":" and not _IDENT.fullmatch(expr[pos + 1:pos + 2] or "!")):
        text = ident.group()
        if text.lower() in ("inf", "nan"):
            return Token("number", text, pos, float(text.lower()))
        kind = "keyword" if text.lower() in KEYWORDS else "ident"
        return Token(kind, text, pos)
    for op in _OPERATORS:
        if expr.startswith(op, pos):
            return Token("op", op, pos)
    raise PromQLSyntaxError(f"unexpected character {char!r}", expr, pos)


def _number_or_duration(expr: str, pos: int) -> Token:
    duration = _DURATION.match(expr, pos)
    number = _NUMBER.match(expr, pos)
    if duration and duration.end() >= number.end():
        text = duration.group()
        return Token("duration", text, pos, parse_duration_ms(text, expr, pos))
    text = number.group()
    end = number.end()
    if end < len(expr) and (expr[end].isalnum() or expr[end] == "_"):
        raise PromQLSyntaxError(f"bad number or duration syntax {expr[pos:end + 1]!r}", expr, pos)
    value = float(int(text, 16)) if text[:2].lower() == "0x" else float(text)
    return Token("number", text, pos, value)


_UNIT_MS = {"y": 365 * 86_400_000, "w": 7 * 86_400_000, "d": 86_400_000, "h": 3_600_000,
            "m": 60_000, "s": 1000, "ms": 1}
_UNIT_ORDER = ["y", "w", "d", "h", "m", "s", "ms"]
_PART = re.compile(r"([0-9]+)(ms|s|m|h|d|w|y)")


def parse_duration_ms(text: str, expr: str = "", pos: int = 0) -> int:
    """Prometheus duration (model.ParseDuration): units in decreasing order, each at most once."""
    total, last = 0, -1
    for match in _PART.finditer(text):
        rank = _UNIT_ORDER.index(match.group(2))
        if rank <= last:
            raise PromQLSyntaxError(f"not a valid duration string: {text!r}", expr or text, pos)
        last = rank
        total += int(match.group(1)) * _UNIT_MS[match.group(2)]
    return total


_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
            "\\": "\\", "'": "'", '"': '"'}


def _string(expr: str, pos: int) -> Token:
    quote = expr[pos]
    i = pos + 1
    out: list[str] = []
    while i < len(expr):
        char = expr[i]
        if char == quote:
            return Token("string", expr[pos:i + 1], pos, "".join(out))
        if char == "\\" and quote != "`":
            i, decoded = _escape(expr, i, quote)
            out.append(decoded)
            continue
        if char == "\n" and quote != "`":
            break
        out.append(char)
        i += 1
    raise PromQLSyntaxError("unterminated quoted string", expr, pos)


def _escape(expr: str, i: int, quote: str) -> tuple[int, str]:
    # Go's strconv.Unquote escapes, as Prometheus' lexer accepts them.
    kind = expr[i + 1:i + 2]
    if kind in _ESCAPES and (kind not in "'\"" or kind == quote):
        return i + 2, _ESCAPES[kind]
    widths = {"x": 2, "u": 4, "U": 8}
    if kind in widths:
        digits = expr[i + 2:i + 2 + widths[kind]]
        if len(digits) == widths[kind] and all(c in "0123456789abcdefABCDEF" for c in digits):
            return i + 2 + widths[kind], chr(int(digits, 16))
    if kind.isdigit():
        digits = expr[i + 1:i + 4]
        if len(digits) == 3 and all(c in "01234567" for c in digits):
            return i + 4, chr(int(digits, 8))
    raise PromQLSyntaxError(f"unknown escape sequence '\\{kind}'", expr, i)
