"""Binary operators (engine.go: scalarBinop, VectorscalarBinop, VectorBinop, VectorAnd/Or/
Unless) with vector matching resolved once per series pair and applied to all steps."""

from __future__ import annotations

import numpy as np

from ..samples import NAME, format_series, label_key
from .ast import COMPARISONS, VectorMatching
from .errors import EvaluationError
from .values import DROPPED_NAME, Scalar, Vector, drop_name, merge_by_labelset

_ARITHMETIC = {
    "+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "^": np.power,
    "%": np.fmod,  # math.Mod: the result takes the sign of the dividend
    "atan2": np.arctan2,
}
_KEEP_NAME = COMPARISONS | {"atan2"}  # shouldDropMetricName is false for these
_COMPARE = {"==": np.equal, "!=": np.not_equal, ">": np.greater, "<": np.less,
            ">=": np.greater_equal, "<=": np.less_equal}


def elementwise(op: str, left, right):
    """vectorElemBinop: (value, keep). Comparisons keep the left value where true."""
    with np.errstate(all="ignore"):
        if op in _COMPARE:
            return np.broadcast_to(left, np.broadcast(left, right).shape), _COMPARE[op](
                left, right)
        value = _ARITHMETIC[op](left, right)
        return value, np.ones(np.shape(value), dtype=bool)


def scalar_scalar(op: str, left: Scalar, right: Scalar) -> Scalar:
    value, keep = elementwise(op, left.values, right.values)
    if op in COMPARISONS:
        value = keep.astype(np.float64)
    return Scalar(np.asarray(value, dtype=np.float64))


def vector_scalar(op: str, vector: Vector, scalar: Scalar, scalar_left: bool,
                  return_bool: bool, expr: str) -> Vector:
    s = scalar.values[None, :]
    left, right = (s, vector.values) if scalar_left else (vector.values, s)
    value, keep = elementwise(op, left, right)
    if op in COMPARISONS:
        value = vector.values  # the vector's sample value survives, whichever side it is on
    if return_bool:
        value, keep = keep.astype(np.float64), np.ones_like(keep)
    drop = op not in _KEEP_NAME or return_bool
    labels = [drop_name(ls) for ls in vector.labels] if drop else vector.labels
    present = vector.present & keep
    return merge_by_labelset(Vector(labels, np.array(value, dtype=np.float64), present), expr)


def signature(labels: dict[str, str], matching: VectorMatching) -> tuple:
    if matching.on:
        return tuple(labels.get(name, "") for name in sorted(set(matching.labels)))
    ignored = set(matching.labels) | {NAME, DROPPED_NAME}
    return tuple(sorted((k, v) for k, v in labels.items() if k not in ignored))


def set_operation(op: str, lhs: Vector, rhs: Vector, matching: VectorMatching,
                  expr: str) -> Vector:
    steps = lhs.values.shape[1] if len(lhs) else rhs.values.shape[1]
    lsig = [signature(ls, matching) for ls in lhs.labels]
    rsig = [signature(ls, matching) for ls in rhs.labels]
    if op == "or":
        lhs_has = _presence_by_signature(lsig, lhs.present, steps)
        rhs_keep = _rows([~lhs_has.get(sig, np.zeros(steps, bool)) for sig in rsig], steps)
        joined = Vector(lhs.labels + rhs.labels, np.concatenate([lhs.values, rhs.values]),
                        np.concatenate([lhs.present, rhs.present & rhs_keep]))
        return merge_by_labelset(joined, expr)
    rhs_has = _presence_by_signature(rsig, rhs.present, steps)
    matched = _rows([rhs_has.get(sig, np.zeros(steps, bool)) for sig in lsig], steps)
    keep = matched if op == "and" else ~matched
    return merge_by_labelset(Vector(lhs.labels, lhs.values, lhs.present & keep), expr)


def _rows(masks: list[np.ndarray], steps: int) -> np.ndarray:
    return np.array(masks, dtype=bool).reshape(len(masks), steps)


def _presence_by_signature(sigs, present, steps) -> dict[tuple, np.ndarray]:
    out: dict[tuple, np.ndarray] = {}
    for sig, mask in zip(sigs, present, strict=True):
        out[sig] = out.get(sig, np.zeros(steps, bool)) | mask
    return out


def vector_vector(op: str, lhs: Vector, rhs: Vector, matching: VectorMatching,
                  return_bool: bool, expr: str) -> Vector:
    steps = lhs.values.shape[1] if len(lhs) else rhs.values.shape[1]
    swapped = matching.card == "one-to-many"
    many, one = (rhs, lhs) if swapped else (lhs, rhs)
    many_sig = [signature(ls, matching) for ls in many.labels]
    one_rows: dict[tuple, list[int]] = {}
    for row, ls in enumerate(one.labels):
        one_rows.setdefault(signature(ls, matching), []).append(row)
    active = many.present.any(axis=0) & one.present.any(axis=0)
    _check_one_side_unique(one, one_rows, active, matching, swapped, expr)

    rows, labels, values, present, checks = [], [], [], [], {}
    for m, sig in enumerate(many_sig):
        for o in one_rows.get(sig, ()):
            both = many.present[m] & one.present[o] & active
            if not both.any():
                continue
            vl, vr = (one.values[o], many.values[m]) if swapped else (many.values[m],
                                                                     one.values[o])
            value, keep = elementwise(op, vl, vr)
            if return_bool:
                value, keep = keep.astype(np.float64), np.ones_like(keep)
            mask = both & keep
            metric = result_metric(many.labels[m], one.labels[o], op, matching)
            if return_bool:
                metric = drop_name(metric)
            check_key = sig if matching.card == "one-to-one" else (sig, label_key(metric))
            checks.setdefault(check_key, []).append(len(rows))
            rows.append(m)
            labels.append(metric)
            values.append(np.asarray(value, dtype=np.float64))
            present.append(mask)
    if not rows:
        return Vector.empty(steps)
    present_arr = np.array(present)
    _check_unique_matches(checks, present_arr, matching, expr)
    return merge_by_labelset(Vector(labels, np.array(values), present_arr), expr)


def _check_one_side_unique(one, one_rows, active, matching, swapped, expr) -> None:
    for rows in one_rows.values():
        if len(rows) < 2:
            continue
        clash = (one.present[rows].sum(axis=0) > 1) & active
        if clash.any():
            step = int(np.argmax(clash))
            pair = [format_series(one.labels[r]) for r in rows if one.present[r, step]][:2]
            side = "left" if swapped else "right"
            group = _match_group(one.labels[rows[0]], matching)
            raise EvaluationError(
                f"found duplicate series for the match group {group} on the {side} hand-side "
                f"of the operation: [{pair[0]}, {pair[1]}];many-to-many matching not allowed: "
                "matching labels must be unique on one side", expr)


def _match_group(labels: dict[str, str], matching: VectorMatching) -> str:
    if matching.on:
        kept = {k: labels[k] for k in matching.labels if k in labels}
    else:
        kept = {k: v for k, v in labels.items() if k not in set(matching.labels) | {NAME}}
    return format_series(kept)


def _check_unique_matches(checks, present, matching, expr) -> None:
    for rows in checks.values():
        if len(rows) > 1 and (present[rows].sum(axis=0) > 1).any():
            if matching.card == "one-to-one":
                raise EvaluationError("multiple matches for labels: many-to-one matching must "
                                      "be explicit (group_left/group_right)", expr)
            raise EvaluationError("multiple matches for labels: grouping labels must ensure "
                                  "unique matches", expr)


def result_metric(many: dict[str, str], one: dict[str, str], op: str,
                  matching: VectorMatching) -> dict[str, str]:
    """resultMetric: labels of a matched pair's output sample."""
    out = dict(many)
    if op not in _KEEP_NAME:
        out = drop_name(out)
    if matching.card == "one-to-one":
        if matching.on:
            out = {k: v for k, v in out.items() if k in set(matching.labels)}
        else:
            for name in matching.labels:
                out.pop(name, None)
    for name in matching.include:
        if one.get(name, ""):
            out[name] = one[name]
        else:
            out.pop(name, None)
    return out
