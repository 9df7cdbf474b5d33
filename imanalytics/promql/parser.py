"""Recursive-descent parser for PromQL with Prometheus' precedence, associativity and type
checks; constructs outside the supported subset are refused by name."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import numpy as np

from . import ast
from .ast import COMPARISONS, MATRIX, SCALAR, SET_OPERATORS, STRING, VECTOR
from .errors import PromQLSyntaxError, UnsupportedError
from .lexer import AGGREGATORS, Token, tokenize
from .signatures import FUNCTIONS, REFUSED_FUNCTIONS

# Binary operator precedence (generated_parser.y: %left LOR; %left LAND LUNLESS; %left EQLC ...;
# %left ADD SUB; %left MUL DIV MOD ATAN2; %right POW). Unary minus binds like MUL.
PRECEDENCE = {"or": 1, "and": 2, "unless": 2, "==": 3, "!=": 3, "<=": 3, "<": 3, ">=": 3,
              ">": 3, "+": 4, "-": 4, "*": 5, "/": 5, "%": 5, "atan2": 5, "^": 6}
UNARY_OPERAND_PRECEDENCE = 6
SUPPORTED_AGGREGATORS = {"sum", "avg", "count", "min", "max", "group", "stddev", "stdvar",
                         "topk", "bottomk", "quantile", "count_values", "limitk", "limit_ratio"}
PARAM_AGGREGATORS = {"topk", "bottomk", "quantile", "count_values", "limitk", "limit_ratio"}


@lru_cache(maxsize=4096)
def parse(expr: str, numbers_as_durations: bool = False) -> ast.Node:
    """Parse and type-check `expr`; cached, so each distinct expression is parsed once.
    `numbers_as_durations` accepts plain numbers (seconds) as durations, as 3.0 does."""
    return _Parser(expr, numbers_as_durations).parse()


def source(expr: str, node: ast.Node) -> str:
    return expr[node.start:node.end]


class _Parser:
    def __init__(self, expr: str, numbers_as_durations: bool = False):
        self.expr = expr
        self.numbers_as_durations = numbers_as_durations
        self.tokens = tokenize(expr)
        self.i = 0

    # -- token helpers ---------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def at(self, text: str) -> bool:
        token = self.tok
        if token.kind == "keyword":
            return token.text.lower() == text
        return token.kind == "op" and token.text == text

    def expect(self, text: str, context: str) -> Token:
        if not self.at(text):
            self.fail(f"unexpected {self.describe(self.tok)} in {context}, expected \"{text}\"")
        return self.advance()

    def describe(self, token: Token) -> str:
        return "end of input" if token.kind == "eof" else f"{token.kind} {token.text!r}"

    def fail(self, message: str, pos: int | None = None):
        raise PromQLSyntaxError(message, self.expr, self.tok.pos if pos is None else pos)

    def refuse(self, construct: str, start: int, end: int | None = None):
        end = end if end is not None else self.tokens[self.i - 1].pos + len(
            self.tokens[self.i - 1].text)
        raise UnsupportedError(construct, self.expr[start:end].strip() or self.expr)

    def end_of(self, token: Token) -> int:
        return token.pos + len(token.text)

    # -- grammar ---------------------------------------------------------------------------
    def parse(self) -> ast.Node:
        if self.tok.kind == "eof":
            self.fail("no expression found in input")
        node = self.binary(1)
        if self.tok.kind != "eof":
            self.fail(f"unexpected {self.describe(self.tok)}")
        return node

    def binary_op(self) -> str | None:
        token = self.tok
        text = token.text.lower() if token.kind == "keyword" else token.text
        if token.kind in ("op", "keyword") and text in PRECEDENCE:
            return text
        return None

    def binary(self, min_prec: int) -> ast.Node:
        left = self.unary()
        while (op := self.binary_op()) is not None and PRECEDENCE[op] >= min_prec:
            op_token = self.advance()
            return_bool, matching = self.modifiers(op)
            next_prec = PRECEDENCE[op] if op == "^" else PRECEDENCE[op] + 1
            right = self.binary(next_prec)
            left = self.make_binary(op, left, right, return_bool, matching, op_token)
        return left

    def modifiers(self, op: str) -> tuple[bool, ast.VectorMatching | None]:
        return_bool = False
        if self.at("bool"):
            if op not in COMPARISONS:
                self.fail("bool modifier can only be used on comparison operators")
            self.advance()
            return_bool = True
        if not (self.at("on") or self.at("ignoring")):
            return return_bool, None
        on = self.advance().text.lower() == "on"
        labels = self.label_list("vector matching")
        card, include = ("many-to-many" if op in SET_OPERATORS else "one-to-one"), ()
        if self.at("group_left") or self.at("group_right"):
            group = self.advance()
            if op in SET_OPERATORS:
                self.fail(f"no grouping allowed for \"{op}\" operation", group.pos)
            card = "many-to-one" if group.text.lower() == "group_left" else "one-to-many"
            include = self.label_list("grouping") if self.at("(") else ()
            for label in include:
                if on and label in labels:
                    self.fail(f"label \"{label}\" must not occur in ON and GROUP clause at once",
                              group.pos)
        return return_bool, ast.VectorMatching(card, on, labels, include)

    def label_list(self, context: str) -> tuple[str, ...]:
        self.expect("(", context)
        labels: list[str] = []
        while not self.at(")"):
            token = self.advance()
            if token.kind not in ("ident", "keyword") or ":" in token.text:
                self.fail(f"unexpected {self.describe(token)} in {context}, expected label",
                          token.pos)
            labels.append(token.text)
            if not self.at(")"):
                self.expect(",", context)
        self.advance()
        return tuple(labels)

    def make_binary(self, op, left, right, return_bool, matching, op_token) -> ast.Node:
        for side in (left, right):
            if side.type not in (SCALAR, VECTOR):
                self.fail("binary expression must contain only scalar and instant vector types",
                          side.start)
        both_vectors = left.type == VECTOR and right.type == VECTOR
        if op in SET_OPERATORS and not both_vectors:
            self.fail(f"set operator \"{op}\" not allowed in binary scalar expression",
                      op_token.pos)
        if op in COMPARISONS and left.type == SCALAR and right.type == SCALAR and not return_bool:
            self.fail("comparisons between scalars must use BOOL modifier", op_token.pos)
        if matching is not None and not both_vectors:
            # Prometheus only objects when labels are named; a bare on()/ignoring() is dropped.
            if matching.labels:
                self.fail("vector matching only allowed between instant vectors", op_token.pos)
            matching = None
        if both_vectors and matching is None:
            card = "many-to-many" if op in SET_OPERATORS else "one-to-one"
            matching = ast.VectorMatching(card, False, ())
        return ast.Binary(op, left, right, return_bool, matching, start=left.start, end=right.end)

    def unary(self) -> ast.Node:
        if self.at("-") or self.at("+"):
            op_token = self.advance()
            operand = self.binary(UNARY_OPERAND_PRECEDENCE)
            if operand.type not in (SCALAR, VECTOR):
                self.fail("unary expression only allowed on expressions of type scalar or "
                          "instant vector", op_token.pos)
            if isinstance(operand, ast.NumberLiteral):
                # Prometheus folds a sign into a number literal.
                value = -operand.value if op_token.text == "-" else operand.value
                return ast.NumberLiteral(value, start=op_token.pos, end=operand.end)
            if op_token.text == "+":
                return operand
            return ast.Unary("-", operand, start=op_token.pos, end=operand.end)
        return self.postfix(self.primary())

    def postfix(self, node: ast.Node) -> ast.Node:
        while True:
            if self.at("["):
                node = self.range_or_subquery(node)
            elif self.at("offset"):
                node = self.offset(node)
            elif self.at("@"):
                node = self.at_modifier(node)
            else:
                return node

    def duration(self, context: str, allow_empty: bool = False) -> tuple[Token | None, int]:
        """A duration token (or, where the version allows, a number of seconds)."""
        token = self.tok
        if token.kind == "duration":
            self.advance()
            return token, token.value
        if token.kind == "number" and self.numbers_as_durations:
            self.advance()
            return token, int(round(token.value * 1000))
        if allow_empty:
            return None, 0
        self.fail(f"unexpected {self.describe(token)} in {context}, expected duration")

    def range_or_subquery(self, node: ast.Node) -> ast.Node:
        open_token = self.advance()
        duration, range_ms = self.duration("range selector")
        if self.at(":"):
            return self.subquery(node, open_token, duration, range_ms)
        close = self.expect("]", "range selector")
        inner = node
        if not isinstance(inner, ast.VectorSelector):
            self.fail("ranges only allowed for vector selectors", open_token.pos)
        if inner.offset_ms:
            self.fail("no offset modifiers allowed before range", open_token.pos)
        if inner.at is not None:
            self.fail("no @ modifiers allowed before range", open_token.pos)
        if range_ms <= 0:
            self.fail(f"range duration must be greater than 0, got {duration.text}", duration.pos)
        return ast.MatrixSelector(inner, range_ms, start=node.start, end=self.end_of(close))

    def subquery(self, node, open_token, duration, range_ms) -> ast.Node:
        self.advance()  # ":"
        step_token, step_ms = self.duration("subquery step", allow_empty=True)
        close = self.expect("]", "subquery")
        if node.type != VECTOR:
            self.fail(f"subquery is only allowed on instant vector, got {node.type} instead",
                      open_token.pos)
        if range_ms <= 0:
            self.fail(f"range duration must be greater than 0, got {duration.text}", duration.pos)
        if step_token is not None and step_ms <= 0:
            self.fail(f"step must be greater than 0, got {step_token.text}", step_token.pos)
        return ast.Subquery(node, range_ms, step_ms, start=node.start, end=self.end_of(close))

    def offset(self, node: ast.Node) -> ast.Node:
        self.advance()
        sign = 1
        if self.at("-"):
            self.advance()
            sign = -1
        duration, value = self.duration("offset")
        end = self.end_of(duration)
        return self.modify(node, "offset", sign * value, end, duration.pos)

    def at_modifier(self, node: ast.Node) -> ast.Node:
        at_token = self.advance()
        token = self.tok
        if self.at("start") or self.at("end"):
            self.advance()
            self.expect("(", "@ modifier")
            close = self.expect(")", "@ modifier")
            return self.modify(node, "@", token.text.lower(), self.end_of(close), at_token.pos)
        sign = 1
        if self.at("-") or self.at("+"):
            sign = -1 if self.advance().text == "-" else 1
        number = self.tok
        if number.kind == "duration" and self.numbers_as_durations:
            self.advance()
            value = sign * number.value / 1000
        elif number.kind == "number":
            self.advance()
            value = sign * number.value
        else:
            self.fail(f"unexpected {self.describe(number)} in @, expected timestamp")
        if not np.isfinite(value) or abs(value) > 9.2e15:
            self.fail(f"timestamp out of bounds for @ modifier: {value}", number.pos)
        ms = int(round(value * 1000))
        return self.modify(node, "@", ms, self.end_of(number), at_token.pos)

    def modify(self, node: ast.Node, which: str, value, end: int, pos: int) -> ast.Node:
        """Set the offset or @ of a selector, range selector or subquery."""
        field = "offset_ms" if which == "offset" else "at"
        unset = 0 if which == "offset" else None
        target = node.selector if isinstance(node, ast.MatrixSelector) else node
        if not isinstance(target, ast.VectorSelector | ast.Subquery):
            kind = "offset modifier" if which == "offset" else "@ modifier"
            self.fail(f"{kind} must be preceded by an instant vector selector or range vector "
                      "selector or a subquery", pos)
        if getattr(target, field) != unset:
            self.fail(f"{which} may not be set multiple times", pos)
        changed = replace(target, **{field: value})
        if isinstance(node, ast.MatrixSelector):
            return ast.MatrixSelector(changed, node.range_ms, start=node.start, end=end)
        return replace(changed, start=node.start, end=end)

    def primary(self) -> ast.Node:
        token = self.tok
        if token.kind == "number":
            self.advance()
            return ast.NumberLiteral(token.value, start=token.pos, end=self.end_of(token))
        if token.kind == "duration":
            if not self.numbers_as_durations:
                self.fail(f"unexpected duration {token.text!r}")
            self.advance()  # 3.0: a duration where a number is expected is its seconds
            return ast.NumberLiteral(token.value / 1000, start=token.pos, end=self.end_of(token))
        if token.kind == "string":
            self.advance()
            return ast.StringLiteral(token.value, start=token.pos, end=self.end_of(token))
        if self.at("("):
            self.advance()
            inner = self.binary(1)
            close = self.expect(")", "parenthesized expression")
            return ast.Paren(inner, start=token.pos, end=self.end_of(close))
        if token.kind == "keyword" and token.text.lower() in AGGREGATORS:
            return self.aggregate()
        if token.kind == "ident" and self.tokens[self.i + 1].text == "(":
            return self.call()
        if token.kind in ("ident", "keyword") or self.at("{"):
            return self.selector()
        self.fail(f"unexpected {self.describe(token)}, expected an expression")

    def call(self) -> ast.Node:
        name_token = self.advance()
        name = name_token.text
        self.advance()  # "("
        args: list[ast.Node] = []
        while not self.at(")"):
            args.append(self.binary(1))
            self.argument_separator(f"call to function \"{name}\"")
        close = self.advance()
        start, end = name_token.pos, self.end_of(close)
        if name in REFUSED_FUNCTIONS:
            self.refuse(f"function '{name}'", start, end)
        if name not in FUNCTIONS:
            self.fail(f"unknown function with name \"{name}\"", name_token.pos)
        self.check_call(name, args, name_token.pos)
        return ast.Call(name, tuple(args), start=start, end=end)

    def argument_separator(self, context: str) -> None:
        if self.tok.kind == "eof":
            self.fail("unclosed left parenthesis")
        if not self.at(")"):
            self.expect(",", context)

    def check_call(self, name: str, args: list[ast.Node], pos: int) -> None:
        signature = FUNCTIONS[name]
        wanted = len(signature.args)
        if signature.variadic < 0:
            if len(args) < wanted - 1:
                self.fail(f"expected at least {wanted - 1} argument(s) in call to \"{name}\", "
                          f"got {len(args)}", pos)
        elif not wanted - signature.variadic <= len(args) <= wanted:
            self.fail(f"expected {wanted} argument(s) in call to \"{name}\", got {len(args)}",
                      pos)
        types = list(signature.args) + list(signature.args[-1:]) * max(0, len(args) - wanted)
        for arg, expected in zip(args, types, strict=False):
            if arg.type != expected:
                self.fail(f"expected type {expected} in call to function \"{name}\", "
                          f"got {arg.type}", arg.start)

    def aggregate(self) -> ast.Node:
        op_token = self.advance()
        op = op_token.text.lower()
        grouping, without = (), False
        if self.at("by") or self.at("without"):
            without = self.advance().text.lower() == "without"
            grouping = self.label_list("grouping")
        self.expect("(", f"aggregation \"{op}\"")
        args: list[ast.Node] = []
        while not self.at(")"):
            args.append(self.binary(1))
            self.argument_separator(f"aggregation \"{op}\"")
        close = self.advance()
        if not grouping and (self.at("by") or self.at("without")):
            without = self.advance().text.lower() == "without"
            grouping = self.label_list("grouping")
        end = self.tokens[self.i - 1].pos + len(self.tokens[self.i - 1].text)
        if op not in SUPPORTED_AGGREGATORS:
            self.refuse(f"aggregation '{op}'", op_token.pos, end)
        expected = 2 if op in PARAM_AGGREGATORS else 1
        if len(args) != expected:
            self.fail(f"wrong number of arguments for aggregate expression provided, expected "
                      f"{expected}, got {len(args)}", close.pos)
        param, expr = (args[0], args[1]) if expected == 2 else (None, args[0])
        if expr.type != VECTOR:
            self.fail(f"expected type instant vector in aggregation expression, got {expr.type}",
                      expr.start)
        wanted = STRING if op == "count_values" else SCALAR
        if param is not None and param.type != wanted:
            self.fail(f"expected type {wanted} in aggregation parameter, got {param.type}",
                      param.start)
        return ast.Aggregate(op, expr, param, grouping, without, start=op_token.pos, end=end)

    def selector(self) -> ast.Node:
        start = self.tok.pos
        name = None
        if not self.at("{"):
            name = self.advance().text
        matchers: list[ast.Matcher] = []
        if name is not None:
            matchers.append(ast.Matcher("__name__", "=", name))
        if self.at("{"):
            self.advance()
            while not self.at("}"):
                matchers.append(self.matcher())
                if not self.at("}"):
                    self.expect(",", "label matching")
            self.advance()
        end = self.tokens[self.i - 1].pos + len(self.tokens[self.i - 1].text)
        names = [m for m in matchers if m.label == "__name__"]
        if name is not None and len(names) > 1:
            self.fail(f"metric name must not be set twice: \"{name}\"", start)
        if all(_matches_empty(m) for m in matchers):
            self.fail("vector selector must contain at least one non-empty matcher", start)
        return ast.VectorSelector(name, tuple(matchers), start=start, end=end)

    def matcher(self) -> ast.Matcher:
        label = self.advance()
        if label.kind not in ("ident", "keyword") or ":" in label.text:
            self.fail(f"unexpected {self.describe(label)} in label matching, expected label",
                      label.pos)
        op = self.advance()
        if op.kind != "op" or op.text not in ("=", "!=", "=~", "!~"):
            self.fail(f"unexpected {self.describe(op)} in label matching, expected one of "
                      "\"=\", \"!=\", \"=~\", \"!~\"", op.pos)
        value = self.advance()
        if value.kind != "string":
            self.fail(f"unexpected {self.describe(value)} in label matching, expected string",
                      value.pos)
        matcher = ast.Matcher(label.text, op.text, value.value)
        if op.text in ("=~", "!~"):
            from .regex import compile_matcher_regex

            compile_matcher_regex(value.value, self.expr, dotall=False)
        return matcher


def _matches_empty(matcher: ast.Matcher) -> bool:
    from .regex import compile_matcher_regex

    if matcher.op == "=":
        return matcher.value == ""
    if matcher.op == "!=":
        return matcher.value != ""
    matched = compile_matcher_regex(matcher.value, "", dotall=False).fullmatch("") is not None
    return matched if matcher.op == "=~" else not matched


def check_range_query(expr: str, node: ast.Node) -> None:
    if node.type not in (SCALAR, VECTOR):
        raise PromQLSyntaxError(f"invalid expression type \"{node.type}\" for range query, must "
                                "be Scalar or instant Vector", expr, 0)


__all__ = ["parse", "source", "check_range_query", "MATRIX", "STRING"]
