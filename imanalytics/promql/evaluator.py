"""Evaluate a parsed expression over a step grid: the dispatcher and the public entry points."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..frames import wide_frame
from ..samples import Series, label_key
from . import aggregations, ast, binary, functions, histograms
from . import range_functions as rf
from .ast import MATRIX, SCALAR, SET_OPERATORS, VECTOR
from .batch import Batch
from .errors import PromQLError, PromQLSyntaxError, QueryTooLargeError, UnsupportedError
from .parser import check_range_query, parse, source
from .selectors import RangeSamples, Store, instant_vector, range_samples
from .semantics import Semantics
from .signatures import DATE_FUNCTIONS, HISTOGRAM_ONLY
from .timegrid import duration_ms, step_grid, to_ms
from .values import (
    DELAYED_NAME_REMOVAL,
    Scalar,
    Vector,
    drop_name,
    finish_names,
    merge_by_labelset,
    require_unique_labelsets,
)

# Prometheus' default --query.max-samples: the most points one expression may build.
MAX_POINTS = 50_000_000


def evaluate(expr: str, data: Sequence[Series], start, end, step, *,
             semantics: Semantics | str = "2.42.0", lookback="5m",
             max_points: int = MAX_POINTS, subquery_step="1m") -> pd.DataFrame:
    """Evaluate `expr` like Prometheus' /api/v1/query_range over the raw samples in `data`.

    Returns a wide frame: one row per step from `start` to `end`, one column per result
    series (NaN where it has no point); a scalar result is one column named "{}". An
    expression that would build more than `max_points` points is refused before it runs.
    Subqueries without a step (``x[1h:]``) run at `subquery_step`, the server's global
    ``evaluation_interval``.
    """
    return evaluate_many([expr], data, start, end, step, semantics=semantics,
                         lookback=lookback, max_points=max_points,
                         subquery_step=subquery_step)[0]


def evaluate_many(exprs: Sequence[str], data: Sequence[Series], start, end, step, *,
                  semantics: Semantics | str = "2.42.0", lookback="5m",
                  max_points: int = MAX_POINTS, subquery_step="1m") -> list[pd.DataFrame]:
    """`evaluate` for several expressions over the same data and grid, one frame each.

    The expressions share their work: selections, window bounds per timeline and every
    subexpression that occurs more than once (one rate under several aggregations, one
    bucket rate under several quantiles). Results equal those of separate calls.
    """
    if isinstance(exprs, str):
        raise TypeError("evaluate_many takes a sequence of expressions; use evaluate for one")
    exprs = list(exprs)
    sem = Semantics.coerce(semantics)
    nodes = [_parse_range_query(expr, sem) for expr in exprs]
    steps = step_grid(start, end, step)
    batch = _batch(data, steps, sem, lookback, nodes, max_points, subquery_step)
    batch.query_end = to_ms(end)  # @ end() is the requested end, on the grid or not
    return [_run(expr, node, batch) for expr, node in zip(exprs, nodes, strict=True)]


def evaluate_instant(expr: str, data: Sequence[Series], at, *,
                     semantics: Semantics | str = "2.42.0", lookback="5m",
                     max_points: int = MAX_POINTS, subquery_step="1m") -> pd.DataFrame:
    """Evaluate `expr` at one instant (like /api/v1/query for vector and scalar results)."""
    sem = Semantics.coerce(semantics)
    node = _parse_range_query(expr, sem)
    steps = np.array([to_ms(at)], dtype=np.int64)
    return _run(expr, node, _batch(data, steps, sem, lookback, [node], max_points,
                                   subquery_step))


def evaluate_result(expr: str, data: Sequence[Series], steps_ms, *,
                    semantics: Semantics | str = "2.42.0", lookback="5m",
                    max_points: int = MAX_POINTS, subquery_step="1m",
                    sort_by_labels: bool = True) -> Scalar | Vector:
    """`expr` at the given steps (epoch ms) as the evaluator holds it: a `Scalar`, or a
    `Vector` whose presence mask tells a missing point from a NaN value (rows in
    Prometheus' output order for instant queries). With `sort_by_labels` False, selectors
    return series in the order of `data` (a head block's creation order), not by labels."""
    sem = Semantics.coerce(semantics)
    node = _parse_range_query(expr, sem)
    steps = np.asarray(steps_ms, dtype=np.int64)
    batch = _batch(Store(data, sort_by_labels), steps, sem, lookback, [node], max_points,
                   subquery_step)
    return _value(expr, node, batch)


def _parse_range_query(expr: str, sem: Semantics) -> ast.Node:
    node = parse(expr, sem.numbers_as_durations)
    check_range_query(expr, node)
    return node


def _batch(data, steps, sem, lookback, nodes, max_points, subquery_step) -> Batch:
    batch = Batch(data, steps, sem, duration_ms(lookback), nodes)
    batch.max_points = max_points
    batch.subquery_step_ms = duration_ms(subquery_step)
    if batch.subquery_step_ms <= 0:
        raise PromQLError(f"subquery_step must be positive, got {subquery_step!r}")
    return batch


def _value(expr: str, node: ast.Node, batch: Batch) -> Scalar | Vector:
    check_points(expr, estimate_points(node, batch), batch.max_points)
    ctx = Context(expr, batch)
    token = DELAYED_NAME_REMOVAL.set(batch.sem.delayed_name_removal)
    try:
        with np.errstate(all="ignore"):
            result = ctx.eval(node)
    finally:
        DELAYED_NAME_REMOVAL.reset(token)
    return finish_names(result, expr) if isinstance(result, Vector) else result


def _run(expr: str, node: ast.Node, batch: Batch) -> pd.DataFrame:
    result = _value(expr, node, batch)
    if isinstance(result, Scalar):
        return wide_frame(batch.steps, [{}], result.values[:, None])
    values = np.where(result.present, result.values, np.nan)
    return wide_frame(batch.steps, result.labels, values.T)


def subquery_grid(outer_steps: np.ndarray, node: ast.Subquery, default_step: int) -> np.ndarray:
    """A subquery's own grid: every multiple of its step from the first window's start to
    the last evaluation time (engine.go, evalSubquery)."""
    steps = outer_steps - node.offset_ms
    step = node.step_ms or default_step
    first = int(steps.min()) - node.range_ms
    start = step * (first // step)
    if start < first:
        start += step
    return np.arange(start, int(steps.max()) + 1, step, dtype=np.int64)


def estimate_points(node: ast.Node, batch: Batch, steps: np.ndarray | None = None) -> int:
    """The most points one step of the evaluation would hold at once: the largest selection
    (series times steps; a subquery's on its own grid)."""
    steps = batch.steps if steps is None else steps
    node = ast.unwrap(node)
    if isinstance(node, ast.MatrixSelector):
        node = node.selector
    if isinstance(node, ast.VectorSelector):
        return len(batch.store.select(node, batch.sem, "")) * len(steps)
    if isinstance(node, ast.Subquery):
        at = batch.at_ms(node.at)
        outer = steps if at is None else np.array([at], dtype=np.int64)
        inner = subquery_grid(outer, node, batch.subquery_step_ms)
        return estimate_points(node.expr, batch, inner)
    return max((estimate_points(c, batch, steps) for c in ast.children(node)), default=0)


def check_points(expr: str, points: int, limit: int) -> None:
    if points > limit:
        raise QueryTooLargeError(
            f"{expr!r} would build {points:,} points, more than the limit of {limit:,} "
            "(raise max_points to allow it)")


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
    return instant_vector(series, ctx.n_steps,
                          lambda t: ctx.batch.lookup(t, node.offset_ms, node.at))


def _unary(ctx: Context, node: ast.Unary):
    value = ctx.eval(node.expr)
    if isinstance(value, Scalar):
        return Scalar(-value.values)
    negated = Vector([drop_name(ls) for ls in value.labels], -value.values, value.present)
    return require_unique_labelsets(negated, ctx.text(node))


def _aggregate(ctx: Context, node: ast.Aggregate) -> Vector:
    param = None if node.param is None else ast.unwrap(node.param)
    if isinstance(param, ast.StringLiteral):
        param = param.value
    elif node.param is not None:
        param = ctx.scalar(node.param).values
    vector = ctx.eval(node.expr)
    return aggregations.aggregate(node.op, vector, param, node.grouping, node.without, ctx.sem,
                                  ctx.text(node))


def _binary(ctx: Context, node: ast.Binary):
    result = _binary_value(ctx, node)
    if node.op == "atan2" and ctx.sem.atan2_drops_name and isinstance(result, Vector):
        named = Vector([drop_name(ls) for ls in result.labels], result.values, result.present)
        return merge_by_labelset(named, ctx.text(node))
    return result


def _binary_value(ctx: Context, node: ast.Binary):
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
    _check_version(ctx, name, text)
    if any(a.type == MATRIX for a in args):
        return _range_call(ctx, name, args, text)
    if name in HISTOGRAM_ONLY:
        return Vector.empty(ctx.n_steps)  # float samples: nothing to return
    if name in ("time", "pi"):
        return functions.time_(ctx.steps) if name == "time" else Scalar(
            np.full(ctx.n_steps, np.pi))
    if name == "vector":
        return functions.vector_(ctx.scalar(args[0]))
    if name == "scalar":
        return functions.scalar_(ctx.eval(args[0]), ctx.n_steps)
    if name == "absent":
        return functions.absent(ctx.eval(args[0]), args[0], ctx.n_steps)
    if name == "timestamp":
        return _timestamp(ctx, args[0], text)
    if name in DATE_FUNCTIONS:
        vector = ctx.eval(args[0]) if args else functions.vector_(functions.time_(ctx.steps))
        return functions.date_of(name, vector, text)
    strings = [a.value for a in args if isinstance(a, ast.StringLiteral)]
    scalars = [ctx.scalar(a) for a in args if a.type == SCALAR]
    vector = ctx.eval(next(a for a in args if a.type == VECTOR))
    if name == "abs":
        return functions.abs_(vector, text)
    if name in functions.MATH:
        return functions.math_function(name, vector, text)
    if name in ("clamp_min", "clamp_max"):
        fn = functions.clamp_min if name == "clamp_min" else functions.clamp_max
        return fn(vector, scalars[0], text)
    if name == "clamp":
        return functions.clamp(vector, scalars[0], scalars[1], text)
    if name == "round":
        return functions.round_(vector, scalars[0] if scalars else None, text)
    if name in ("sort", "sort_desc"):
        return functions.sort_rows(vector, name == "sort_desc")
    if name in ("sort_by_label", "sort_by_label_desc"):
        return functions.sort_by_label(vector, strings, name == "sort_by_label_desc",
                                       ctx.sem.sort_by_label_full_tiebreak)
    if name == "label_replace":
        return functions.label_replace(vector, *strings, text)
    if name == "label_join":
        return functions.label_join(vector, strings[0], strings[1], strings[2:], text)
    if name == "histogram_quantile":
        return histograms.histogram_quantile(scalars[0].values, vector, ctx.sem, text)
    raise UnsupportedError(f"function '{name}'", text)


# Functions that exist only from (True) or only before (False) the renaming in 3.0.
_RENAMED = {"holt_winters": False, "double_exponential_smoothing": True}


def _check_version(ctx: Context, name: str, text: str) -> None:
    if name in _RENAMED and _RENAMED[name] != ctx.sem.holt_winters_renamed:
        raise PromQLSyntaxError(f"unknown function with name \"{name}\" in Prometheus "
                                f"{ctx.sem.version}", text, 0)


def _timestamp(ctx: Context, arg: ast.Node, text: str) -> Vector:
    """timestamp(): a selector's sample times; any other expression's step times."""
    if not isinstance(arg, ast.VectorSelector):
        return functions.timestamp_of_steps(ctx.eval(arg), ctx.steps, text)
    series = ctx.store.select(arg, ctx.sem, ctx.text(arg))
    def lookup(t):
        return ctx.batch.lookup(t, arg.offset_ms, arg.at)
    vector = instant_vector(series, ctx.n_steps, lookup)
    times = np.empty_like(vector.values)
    by_key = {s.key: s for s in series}
    for row, labels in enumerate(vector.labels):
        t = np.asarray(by_key[label_key(labels)].t, dtype=np.int64)
        safe, _ = lookup(t)
        times[row] = t[safe] / 1000
    return functions.timestamp_of_steps(Vector(vector.labels, times, vector.present),
                                        None, text)


@dataclass
class RangeInput:
    """A range-vector argument: per series its labels and windows at every step, the
    evaluation time of each step (the @ time where one is set), offset and range."""

    labels: list[dict[str, str]]
    windows: list[rf.Window | None]  # None: the series has no sample at all
    steps: np.ndarray
    offset_ms: int
    range_ms: int


def range_input(ctx: Context, node: ast.Node) -> RangeInput:
    node = ast.unwrap(node)
    if isinstance(node, ast.MatrixSelector):
        selector = node.selector
        series = ctx.store.select(selector, ctx.sem, ctx.text(selector))
        labels = [s.labels for s in series]
        samples = [range_samples(s) for s in series]
        offset, at = selector.offset_ms, selector.at
    else:
        labels, samples = _subquery_samples(ctx, node)
        offset, at = node.offset_ms, node.at
    windows = [rf.Window(s, ctx.batch.bounds(s.t, offset, node.range_ms, at)) if len(s.t)
               else None for s in samples]
    return RangeInput(labels, windows, ctx.batch.effective_steps(at), offset, node.range_ms)


def _subquery_samples(ctx: Context, node: ast.Subquery):
    """Evaluate a subquery's expression on its own grid (`subquery_grid`)."""
    at = ctx.batch.at_ms(node.at)
    outer = ctx.steps if at is None else np.array([at], dtype=np.int64)
    inner_steps = subquery_grid(outer, node, ctx.batch.subquery_step_ms)
    inner = Context(ctx.expr, ctx.batch.child(inner_steps, node.expr))
    vector = inner.eval(node.expr)
    labels, samples = [], []
    for row, ls in enumerate(vector.labels):
        mask = vector.present[row]
        labels.append(ls)
        samples.append(RangeSamples(inner_steps[mask], vector.values[row][mask]))
    return labels, samples


def _range_call(ctx: Context, name: str, args: list[ast.Node], text: str) -> Vector:
    index = next(i for i, a in enumerate(args) if a.type == MATRIX)
    scalars = [ctx.scalar(a).values for a in args if a.type == SCALAR]
    source = range_input(ctx, args[index])
    if name == "absent_over_time":
        present = np.zeros(ctx.n_steps, dtype=bool)
        for w in source.windows:
            if w is not None:
                present |= w.n >= 1
        labels = functions.absent_labels(args[index])
        return Vector([labels], np.ones((1, ctx.n_steps)), ~present[None, :]).nonempty()
    values = np.empty((len(source.windows), ctx.n_steps))
    present = np.zeros((len(source.windows), ctx.n_steps), dtype=bool)
    for row, window in enumerate(source.windows):
        if window is not None:
            values[row], present[row] = _apply_range_function(ctx, name, window, source,
                                                              scalars, text)
    keep = np.flatnonzero(present.any(axis=1))
    if not len(keep):
        return Vector.empty(ctx.n_steps)
    keep_name = name == "last_over_time"
    labels = [dict(source.labels[r]) if keep_name else drop_name(source.labels[r])
              for r in keep]
    if len(keep) < len(source.windows):
        values, present = values[keep], present[keep]
    return require_unique_labelsets(Vector(labels, values, present), text)


def _apply_range_function(ctx, name, window, source: RangeInput, scalars, text):
    sem = ctx.sem
    if name in ("rate", "increase", "delta"):
        return rf.extrapolated_rate(window, source.steps, source.offset_ms, source.range_ms,
                                    counter=name != "delta", is_rate=name == "rate", sem=sem)
    if name == "predict_linear":
        # The intercept is at the step's time, even with @ (enh.Ts).
        return rf.predict_linear(window, ctx.steps, scalars[0], sem)
    if name in ("holt_winters", "double_exponential_smoothing"):
        return rf.holt_winters(window, scalars[0], scalars[1], text)
    simple = {
        "irate": lambda w: rf.instant_value(w, True),
        "idelta": lambda w: rf.instant_value(w, False),
        "resets": rf.resets,
        "changes": rf.changes,
        "count_over_time": rf.count_over_time,
        "present_over_time": rf.present_over_time,
        "last_over_time": rf.last_over_time,
        "max_over_time": lambda w: rf.extreme_over_time(w, True),
        "min_over_time": lambda w: rf.extreme_over_time(w, False),
        "sum_over_time": lambda w: rf.sum_over_time(w, sem),
        "avg_over_time": lambda w: rf.avg_over_time(w, sem),
        "stddev_over_time": lambda w: rf.variance_over_time(w, sem, True),
        "stdvar_over_time": lambda w: rf.variance_over_time(w, sem, False),
        "quantile_over_time": lambda w: rf.quantile_over_time(w, scalars[0], sem),
        "mad_over_time": rf.mad_over_time,
        "deriv": lambda w: rf.deriv(w, sem),
    }
    if name not in simple:
        raise UnsupportedError(f"function '{name}'", text)
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
