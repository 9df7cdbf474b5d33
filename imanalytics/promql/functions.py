"""Functions over instant vectors and scalars (functions.go), applied to all steps at once."""

from __future__ import annotations

import re

import numpy as np

from ..samples import NAME
from . import ast
from .errors import EvaluationError
from .values import DROPPED_NAME, Scalar, Vector, drop_name, merge_by_labelset, metric_name

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def abs_(vector: Vector, expr: str) -> Vector:
    return _map(vector, np.abs, expr)


def clamp_min(vector: Vector, bound: Scalar, expr: str) -> Vector:
    # math.Max(min, v): NaN on either side gives NaN.
    return _map(vector, lambda v: np.maximum(bound.values[None, :], v), expr)


def clamp_max(vector: Vector, bound: Scalar, expr: str) -> Vector:
    return _map(vector, lambda v: np.minimum(bound.values[None, :], v), expr)


def _map(vector: Vector, fn, expr: str) -> Vector:
    with np.errstate(all="ignore"):
        values = fn(vector.values)
    labels = [drop_name(ls) for ls in vector.labels]
    return merge_by_labelset(Vector(labels, values, vector.present), expr)


def vector_(scalar: Scalar) -> Vector:
    steps = len(scalar.values)
    return Vector([{}], scalar.values[None, :].copy(), np.ones((1, steps), dtype=bool))


def scalar_(vector: Vector, steps: int) -> Scalar:
    """scalar(): the single sample's value, NaN unless exactly one sample is present."""
    if not len(vector):
        return Scalar(np.full(steps, np.nan))
    single = vector.present.sum(axis=0) == 1
    picked = vector.values[vector.present.argmax(axis=0), np.arange(steps)]
    return Scalar(np.where(single, picked, np.nan))


def time_(steps: np.ndarray) -> Scalar:
    return Scalar(steps.astype(np.float64) / 1000)


def absent(vector: Vector, arg: ast.Node, steps: int) -> Vector:
    missing = ~vector.present.any(axis=0) if len(vector) else np.ones(steps, dtype=bool)
    return Vector([absent_labels(arg)], np.ones((1, steps)), missing[None, :]).nonempty()


def absent_labels(arg: ast.Node) -> dict[str, str]:
    """createLabelsForAbsentFunction: labels of equality matchers that pin a single value."""
    arg = ast.unwrap(arg)
    if isinstance(arg, ast.MatrixSelector):
        arg = arg.selector
    if not isinstance(arg, ast.VectorSelector):
        return {}
    labels: dict[str, str] = {}
    ambiguous: list[str] = []
    for m in arg.matchers:
        if m.label == NAME:
            continue
        if m.op == "=" and m.label not in labels:
            if m.value:
                labels[m.label] = m.value
        else:
            ambiguous.append(m.label)
    for name in ambiguous:
        labels.pop(name, None)
    return labels


def label_replace(vector: Vector, dst: str, replacement: str, src: str, regex: str,
                  expr: str) -> Vector:
    try:
        pattern = re.compile(_go_to_python_regex(regex, expr), re.ASCII)
    except re.error:
        raise EvaluationError(f"invalid regular expression in label_replace(): {regex}",
                              expr) from None
    if not _LABEL_NAME.fullmatch(dst):
        raise EvaluationError(f"invalid destination label name in label_replace(): {dst}", expr)
    labels = [_replace_one(ls, dst, replacement, src, pattern) for ls in vector.labels]
    return merge_by_labelset(Vector(labels, vector.values, vector.present), expr)


def _go_to_python_regex(regex: str, expr: str) -> str:
    from .regex import compile_matcher_regex, scope_inline_flags

    compile_matcher_regex(regex, expr, dotall=False)  # refuses RE2/Python differences
    return scope_inline_flags(regex)


def _label(labels: dict[str, str], name: str) -> str:
    return metric_name(labels) if name == NAME else labels.get(name, "")


def _set_label(labels: dict[str, str], name: str, value: str) -> dict[str, str]:
    out = dict(labels)
    if name == NAME:
        out.pop(DROPPED_NAME, None)  # a name set again is kept
    if value:
        out[name] = value
    else:
        out.pop(name, None)
    return out


def _replace_one(labels, dst, replacement, src, pattern) -> dict[str, str]:
    match = pattern.fullmatch(_label(labels, src))
    if match is None:
        return labels
    value = go_expand(replacement, match)
    out = dict(labels)
    if dst == NAME:
        return _set_label(labels, dst, value)
    if value:
        out[dst] = value
    else:
        out.pop(dst, None)
    return out


_TEMPLATE = re.compile(r"\$(?:\$|\{([a-zA-Z0-9_]+)\}|([a-zA-Z0-9_]+))")


def go_expand(template: str, match: re.Match) -> str:
    """regexp.Regexp.ExpandString: $1, ${1}, $name, ${name}; unknown groups expand to ""."""

    def group(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(2)
        if name.isdigit():
            index = int(name)
            return (match.group(index) or "") if index <= (match.re.groups) else ""
        return (match.group(name) or "") if name in match.re.groupindex else ""

    return _TEMPLATE.sub(group, template)



def _sgn(v):
    return np.where(v < 0, -1.0, np.where(v > 0, 1.0, v))


# Functions of one value (functions.go's simpleFunc family); the metric name is dropped.
MATH = {
    "ceil": np.ceil, "floor": np.floor, "exp": np.exp, "sqrt": np.sqrt, "ln": np.log,
    "log2": np.log2, "log10": np.log10, "sin": np.sin, "cos": np.cos, "tan": np.tan,
    "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan, "sinh": np.sinh,
    "cosh": np.cosh, "tanh": np.tanh, "asinh": np.arcsinh, "acosh": np.arccosh,
    "atanh": np.arctanh, "sgn": _sgn,
    "deg": lambda v: v * 180 / np.pi, "rad": lambda v: v * np.pi / 180,
}


def math_function(name: str, vector: Vector, expr: str) -> Vector:
    return _map(vector, MATH[name], expr)


def round_(vector: Vector, to_nearest: Scalar | None, expr: str) -> Vector:
    inverse = 1.0 if to_nearest is None else 1.0 / to_nearest.values[None, :]
    return _map(vector, lambda v: np.floor(v * inverse + 0.5) / inverse, expr)


def clamp(vector: Vector, low: Scalar, high: Scalar, expr: str) -> Vector:
    lo, hi = low.values[None, :], high.values[None, :]
    # math.Max(min, math.Min(max, v)); no output at steps where max < min.
    mapped = _map(vector, lambda v: np.maximum(lo, np.minimum(hi, v)), expr)
    keep = ~(hi < lo)
    return Vector(mapped.labels, mapped.values, mapped.present & keep).nonempty()


def _civil(seconds: np.ndarray):
    """Go's time.Unix(int64(v), 0).UTC() fields for every value."""
    with np.errstate(all="ignore"):
        whole = np.where(np.isfinite(seconds), np.trunc(seconds), 0).astype(np.int64)
    stamps = whole.astype("datetime64[s]")
    days = stamps.astype("datetime64[D]")
    months = stamps.astype("datetime64[M]")
    years = stamps.astype("datetime64[Y]")
    return whole, days, months, years


def date_function(name: str, seconds: np.ndarray) -> np.ndarray:
    whole, days, months, years = _civil(seconds)
    if name == "minute":
        return ((whole // 60) % 60).astype(np.float64)
    if name == "hour":
        return ((whole // 3600) % 24).astype(np.float64)
    if name == "day_of_week":
        return ((days.astype(np.int64) + 4) % 7).astype(np.float64)
    if name == "day_of_month":
        return (days - months.astype("datetime64[D]")).astype(np.int64) + 1.0
    if name == "day_of_year":
        return (days - years.astype("datetime64[D]")).astype(np.int64) + 1.0
    if name == "month":
        return (months.astype(np.int64) % 12) + 1.0
    if name == "year":
        return years.astype(np.int64) + 1970.0
    if name == "days_in_month":
        return ((months + 1).astype("datetime64[D]") - months.astype("datetime64[D]")).astype(
            np.int64).astype(np.float64)
    raise KeyError(name)


def date_of(name: str, vector: Vector, expr: str) -> Vector:
    return _map(vector, lambda v: date_function(name, v), expr)


def label_join(vector: Vector, dst: str, sep: str, sources: list[str], expr: str) -> Vector:
    if not _LABEL_NAME.fullmatch(dst):
        raise EvaluationError(f"invalid destination label name in label_join(): {dst}", expr)
    for src in sources:
        if not _LABEL_NAME.fullmatch(src):
            raise EvaluationError(f"invalid source label name in label_join(): {src}", expr)
    labels = [_set_label(ls, dst, sep.join(_label(ls, src) for src in sources))
              for ls in vector.labels]
    return merge_by_labelset(Vector(labels, vector.values, vector.present), expr)


def sort_rows(vector: Vector, descending: bool) -> Vector:
    """sort / sort_desc: only an instant query's order changes (NaN last either way)."""
    if vector.values.shape[1] != 1 or len(vector) < 2:
        return vector
    v = vector.values[:, 0]
    key = np.where(np.isnan(v), np.inf, -v if descending else v)
    order = np.lexsort((np.arange(len(v)), key, np.isnan(v)))
    return vector.take(order)


def sort_by_label(vector: Vector, names: list[str], descending: bool,
                  full_tiebreak: bool) -> Vector:
    """sort_by_label(_desc): natural order of the given labels; ties by the full label set
    (3.0) or, before, in sort()/sort_desc() order."""
    if vector.values.shape[1] != 1 or len(vector) < 2:
        return vector
    if not full_tiebreak:
        vector = sort_rows(vector, descending)

    def key(r):
        labels = vector.labels[r]
        parts = [_natural_key(labels.get(n, "")) for n in names]
        return parts + [sorted(labels.items())] if full_tiebreak else parts

    return vector.take(sorted(range(len(vector)), key=key, reverse=descending))


def _natural_key(text: str) -> list:
    return [(0, int(part), "") if part.isdigit() else (1, 0, part)
            for part in re.findall(r"\d+|\D+", text)]


def timestamp_of_steps(vector: Vector, steps: np.ndarray | None, expr: str) -> Vector:
    """timestamp(): the step times (or, with `steps` None, the values already held)."""
    if steps is not None:
        seconds = np.broadcast_to(steps.astype(np.float64) / 1000, vector.values.shape)
        vector = Vector(vector.labels, seconds.copy(), vector.present)
    return _map(vector, lambda v: v, expr)
