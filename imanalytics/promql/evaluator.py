"""Evaluate a parsed expression over a step grid: the dispatcher and the public entry points."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..frames import wide_frame
from ..samples import Series
from . import aggregations, ast, binary, functions, histograms
from . import range_functions as rf
from .ast import MATRIX, SCALAR, SET_OPERATORS
from .batch import Batch
from .errors import UnsupportedError
from .parser import check_range_query, parse, source
from .selectors import Store, instant_vector, range_samples
from .semantics import Semantics
from .timegrid import duration_ms, step_grid, to_ms
from .values import Scalar, Vector, drop_name, require_unique_labelsets


def evaluate(expr: str, data: Sequence[Series], start, end, step, *,
             semantics: Semantics | str = "2.42.0", lookback="5m") -> pd.DataFrame:
    """Evaluate `expr` like Prometheus' /api/v1/query_range over the raw samples in `data`.

    Returns a wide frame: one row per step from `start` to `end`, one column per result
    series (NaN where it has no point); a scalar result is one column named "{}".
    """
    return evaluate_many([expr], data, start, end, step, semantics=semantics,
                         lookback=lookback)[0]


def evaluate_many(exprs: Sequence[str], data: Sequence[Series], start, end, step, *,
                  semantics: Semantics | str = "2.42.0", lookback="5m") -> list[pd.DataFrame]:
    """`evaluate` for several expressions over the same data and grid, one frame each.

    The expressions share their work: selections, window bounds per timeline and every
    subexpression that occurs more than once (one rate under several aggregations, one
    bucket rate under several quantiles). Results equal those of separate calls.
    """
    if isinstance(exprs, str):
        raise TypeError("evaluate_many takes a sequence of expressions; use evaluate for one")
    exprs = list(exprs)
    nodes = [_parse_range_query(expr) for expr in exprs]
    steps = step_grid(start, end, step)
    batch = _batch(data, steps, semantics, lookback, nodes)
    return [_run(expr, node, batch) for expr, node in zip(exprs, nodes, strict=True)]


def evaluate_instant(expr: str, data: Sequence[Series], at, *,
                     semantics: Semantics | str = "2.42.0", lookback="5m") -> pd.DataFrame:
    """Evaluate `expr` at one instant (like /api/v1/query for vector and scalar results)."""
    node = _parse_range_query(expr)
    steps = np.array([to_ms(at)], dtype=np.int64)
    return _run(expr, node, _batch(data, steps, semantics, lookback, [node]))


def evaluate_result(expr: str, data: Sequence[Series], steps_ms, *,
                    semantics: Semantics | str = "2.42.0", lookback="5m") -> Scalar | Vector:
    """`expr` at the given steps (epoch ms) as the evaluator holds it: a `Scalar`, or a
    `Vector` whose presence mask tells a missing point from a NaN value."""
    node = _parse_range_query(expr)
    steps = np.asarray(steps_ms, dtype=np.int64)
    batch = _batch(data, steps, semantics, lookback, [node])
    ctx = Context(expr, batch)
    with np.errstate(all="ignore"):
        return ctx.eval(node)


def _parse_range_query(expr: str) -> ast.Node:
    node = parse(expr)
    check_range_query(expr, node)
    return node


def _batch(data, steps, semantics, lookback, nodes) -> Batch:
    lookback_ms = duration_ms(lookback)
    return Batch(data, steps, Semantics.coerce(semantics), lookback_ms, nodes)


def _run(expr: str, node: ast.Node, batch: Batch) -> pd.DataFrame:
    ctx = Context(expr, batch)
    with np.errstate(all="ignore"):
        result = ctx.eval(node)
    if isinstance(result, Scalar):
        return wide_frame(batch.steps, [{}], result.values[:, None])
    values = np.where(result.present, result.values, np.nan)
    return wide_frame(batch.steps, result.labels, values.T)


@dataclass
class Context:
    """One expression's evaluation within a batch (the text is for error messages)."""

    expr: str
    batch: Batch

    @property
    def steps(self) -> np.ndarray:
        return self.batch.steps

    @property
    def n_steps(self) -> int:
        return len(self.batch.steps)

    @property
    def sem(self) -> Semantics:
        return self.batch.sem

    @property
    def store(self) -> Store:
        return self.batch.store

    def text(self, node: ast.Node) -> str:
        return source(self.expr, node)

    def eval(self, node: ast.Node) -> Scalar | Vector:
        node = ast.unwrap(node)
        value = self.batch.results.take(node)
        if value is None:
            value = self._compute(node)
            self.batch.results.offer(node, value)
        return value

    def _compute(self, node: ast.Node) -> Scalar | Vector:
        handler = _HANDLERS.get(type(node))
        if handler is None:
            raise UnsupportedError(f"expression of type {type(node).__name__}", self.text(node))
        return handler(self, node)

    def scalar(self, node: ast.Node) -> Scalar:
        value = self.eval(node)
        assert isinstance(value, Scalar)
        return value


def _number(ctx: Context, node: ast.NumberLiteral) -> Scalar:
    return Scalar(np.full(ctx.n_steps, node.value))


def _selector(ctx: Context, node: ast.VectorSelector) -> Vector:
    series = ctx.store.select(node, ctx.sem, ctx.text(node))
    return instant_vector(series, ctx.n_steps, lambda t: ctx.batch.lookup(t, node.offset_ms))


def _unary(ctx: Context, node: ast.Unary):
    value = ctx.eval(node.expr)
    if isinstance(value, Scalar):
        return Scalar(-value.values)
    negated = Vector([drop_name(ls) for ls in value.labels], -value.values, value.present)
    return require_unique_labelsets(negated, ctx.text(node))


def _aggregate(ctx: Context, node: ast.Aggregate) -> Vector:
    param = ctx.scalar(node.param).values if node.param is not None else None
    vector = ctx.eval(node.expr)
    return aggregations.aggregate(node.op, vector, param, node.grouping, node.without, ctx.sem,
                                  ctx.text(node))


def _binary(ctx: Context, node: ast.Binary):
    lhs, rhs = ctx.eval(node.lhs), ctx.eval(node.rhs)
    text = ctx.text(node)
    if isinstance(lhs, Scalar) and isinstance(rhs, Scalar):
        return binary.scalar_scalar(node.op, lhs, rhs)
    if isinstance(rhs, Scalar):
        return binary.vector_scalar(node.op, lhs, rhs, False, node.return_bool, text)
    if isinstance(lhs, Scalar):
        return binary.vector_scalar(node.op, rhs, lhs, True, node.return_bool, text)
    if node.op in SET_OPERATORS:
        return binary.set_operation(node.op, lhs, rhs, node.matching, text)
    return binary.vector_vector(node.op, lhs, rhs, node.matching, node.return_bool, text)


def _call(ctx: Context, node: ast.Call):
    name, args, text = node.func, [ast.unwrap(a) for a in node.args], ctx.text(node)
    if any(a.type == MATRIX for a in args):
        return _range_call(ctx, name, args, text)
    if name == "time":
        return functions.time_(ctx.steps)
    if name == "vector":
        return functions.vector_(ctx.scalar(args[0]))
    if name == "scalar":
        return functions.scalar_(ctx.eval(args[0]), ctx.n_steps)
    if name == "absent":
        return functions.absent(ctx.eval(args[0]), args[0], ctx.n_steps)
    if name == "abs":
        return functions.abs_(ctx.eval(args[0]), text)
    if name in ("clamp_min", "clamp_max"):
        vector, bound = ctx.eval(args[0]), ctx.scalar(args[1])
        fn = functions.clamp_min if name == "clamp_min" else functions.clamp_max
        return fn(vector, bound, text)
    if name == "label_replace":
        strings = [a.value for a in args[1:]]
        return functions.label_replace(ctx.eval(args[0]), *strings, text)
    if name == "histogram_quantile":
        q = ctx.scalar(args[0]).values
        return histograms.histogram_quantile(q, ctx.eval(args[1]), ctx.sem, text)
    raise UnsupportedError(f"function '{name}'", text)


def _range_call(ctx: Context, name: str, args: list[ast.Node], text: str) -> Vector:
    matrix = next(a for a in args if a.type == MATRIX)
    if not isinstance(matrix, ast.MatrixSelector):
        raise UnsupportedError("range vector expression other than a selector", text)
    q = ctx.scalar(args[0]).values if name == "quantile_over_time" else None
    selector = matrix.selector
    series = ctx.store.select(selector, ctx.sem, ctx.text(selector))
    values = np.empty((len(series), ctx.n_steps))
    present = np.empty((len(series), ctx.n_steps), dtype=bool)
    for row, s in enumerate(series):
        samples = range_samples(s)
        if not len(samples.t):  # nothing but staleness markers: no window holds a sample
            present[row] = False
            continue
        bounds = ctx.batch.bounds(samples.t, selector.offset_ms, matrix.range_ms)
        window = rf.Window(samples, bounds)
        values[row], present[row] = _apply_range_function(ctx, name, window, selector, matrix, q)
    keep = np.flatnonzero(present.any(axis=1))
    if not len(keep):
        return Vector.empty(ctx.n_steps)
    keep_name = name == "last_over_time"
    labels = [dict(series[r].labels) if keep_name else drop_name(series[r].labels) for r in keep]
    if len(keep) < len(series):
        values, present = values[keep], present[keep]
    return require_unique_labelsets(Vector(labels, values, present), text)


def _apply_range_function(ctx, name, window, selector, matrix, q):
    sem = ctx.sem
    if name in ("rate", "increase", "delta"):
        return rf.extrapolated_rate(window, ctx.steps, selector.offset_ms, matrix.range_ms,
                                    counter=name != "delta", is_rate=name == "rate", sem=sem)
    simple = {
        "irate": lambda w: rf.instant_value(w, True),
        "idelta": lambda w: rf.instant_value(w, False),
        "resets": rf.resets,
        "changes": rf.changes,
        "count_over_time": rf.count_over_time,
        "last_over_time": rf.last_over_time,
        "max_over_time": lambda w: rf.extreme_over_time(w, True),
        "min_over_time": lambda w: rf.extreme_over_time(w, False),
        "sum_over_time": lambda w: rf.sum_over_time(w, sem),
        "avg_over_time": lambda w: rf.avg_over_time(w, sem),
        "stddev_over_time": lambda w: rf.variance_over_time(w, sem, True),
        "stdvar_over_time": lambda w: rf.variance_over_time(w, sem, False),
        "quantile_over_time": lambda w: rf.quantile_over_time(w, q, sem),
    }
    return simple[name](window)


_HANDLERS = {
    ast.NumberLiteral: _number,
    ast.VectorSelector: _selector,
    ast.Unary: _unary,
    ast.Aggregate: _aggregate,
    ast.Binary: _binary,
    ast.Call: _call,
}

__all__ = ["evaluate", "evaluate_instant", "evaluate_many", "evaluate_result", "SCALAR"]
