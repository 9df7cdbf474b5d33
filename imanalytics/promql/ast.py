"""Expression tree of the supported PromQL subset; every node knows its value type and span."""

from __future__ import annotations

from dataclasses import dataclass, field

from .signatures import FUNCTIONS, MATRIX, SCALAR, STRING, VECTOR

COMPARISONS = {"==", "!=", ">", "<", ">=", "<="}
ARITHMETIC = {"+", "-", "*", "/", "%", "^"}
SET_OPERATORS = {"and", "or", "unless"}


@dataclass(frozen=True)
class Node:
    start: int = field(default=0, kw_only=True, compare=False)
    end: int = field(default=0, kw_only=True, compare=False)


@dataclass(frozen=True)
class NumberLiteral(Node):
    value: float
    type = SCALAR


@dataclass(frozen=True)
class StringLiteral(Node):
    value: str
    type = STRING


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str  # "=", "!=", "=~", "!~"
    value: str


@dataclass(frozen=True)
class VectorSelector(Node):
    name: str | None
    matchers: tuple[Matcher, ...]
    offset_ms: int = 0
    at: int | str | None = None  # the @ modifier: epoch ms, "start" or "end"
    type = VECTOR


@dataclass(frozen=True)
class MatrixSelector(Node):
    selector: VectorSelector
    range_ms: int
    type = MATRIX


@dataclass(frozen=True)
class Subquery(Node):
    expr: Node
    range_ms: int
    step_ms: int  # 0: the default resolution
    offset_ms: int = 0
    at: int | str | None = None
    type = MATRIX


@dataclass(frozen=True)
class Call(Node):
    func: str
    args: tuple[Node, ...]

    @property
    def type(self) -> str:
        return FUNCTIONS[self.func].returns


@dataclass(frozen=True)
class Aggregate(Node):
    op: str
    expr: Node
    param: Node | None
    grouping: tuple[str, ...]
    without: bool
    type = VECTOR


@dataclass(frozen=True)
class VectorMatching:
    card: str  # "one-to-one", "many-to-one", "one-to-many", "many-to-many"
    on: bool
    labels: tuple[str, ...]
    include: tuple[str, ...] = ()


@dataclass(frozen=True)
class Binary(Node):
    op: str
    lhs: Node
    rhs: Node
    return_bool: bool = False
    matching: VectorMatching | None = None

    @property
    def type(self) -> str:
        return SCALAR if self.lhs.type == SCALAR and self.rhs.type == SCALAR else VECTOR


@dataclass(frozen=True)
class Unary(Node):
    op: str
    expr: Node

    @property
    def type(self) -> str:
        return self.expr.type


@dataclass(frozen=True)
class Paren(Node):
    expr: Node

    @property
    def type(self) -> str:
        return self.expr.type


def unwrap(node: Node) -> Node:
    while isinstance(node, Paren):
        node = node.expr
    return node


def children(node: Node) -> tuple[Node, ...]:
    """The direct operands of `node`, for walks over the tree."""
    if isinstance(node, Paren | Unary | Subquery):
        return (node.expr,)
    if isinstance(node, Aggregate):
        return (node.expr,) if node.param is None else (node.param, node.expr)
    if isinstance(node, Binary):
        return (node.lhs, node.rhs)
    if isinstance(node, Call):
        return node.args
    if isinstance(node, MatrixSelector):
        return (node.selector,)
    return ()
