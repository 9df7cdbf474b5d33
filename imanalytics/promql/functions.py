"""Functions over instant vectors and scalars (functions.go), applied to all steps at once."""

from __future__ import annotations

import re

import numpy as np

from ..samples import NAME
from . import ast
from .errors import EvaluationError
from .values import Scalar, Vector, drop_name, merge_by_labelset

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
    from .regex import compile_matcher_regex

    compile_matcher_regex(regex, expr, dotall=False)  # refuses RE2/Python differences
    return regex


def _replace_one(labels, dst, replacement, src, pattern) -> dict[str, str]:
    match = pattern.fullmatch(labels.get(src, ""))
    if match is None:
        return labels
    value = go_expand(replacement, match)
    out = dict(labels)
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

