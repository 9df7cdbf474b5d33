"""Walking a parsed PromQL expression, each node with its ancestors (nearest last)."""

from __future__ import annotations

from collections.abc import Iterator

from ..promql import ast


def children(node: ast.Node) -> tuple[ast.Node, ...]:
    if isinstance(node, ast.Binary):
        return (node.lhs, node.rhs)
    if isinstance(node, ast.Aggregate):
        return (node.expr,) if node.param is None else (node.param, node.expr)
    if isinstance(node, ast.Call):
        return node.args
    if isinstance(node, ast.MatrixSelector):
        return (node.selector,)
    if isinstance(node, (ast.Paren, ast.Unary, ast.Subquery)):
        return (node.expr,)
    return ()


def walk(node: ast.Node, parents: tuple[ast.Node, ...] = ()) -> Iterator[tuple]:
    """Yield ``(node, parents)`` depth-first, parentheses included."""
    yield node, parents
    for child in children(node):
        yield from walk(child, (*parents, node))


def selectors(node: ast.Node) -> list[ast.VectorSelector]:
    return [n for n, _ in walk(node) if isinstance(n, ast.VectorSelector)]
