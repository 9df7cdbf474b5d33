"""Aggregation operators (evaluator.aggregation in engine.go) as array operations per group.

Series are grouped once (their labels do not change over time); each group is then reduced
for all steps together, visiting its series in input order so float results follow the same
operation sequence as Prometheus.
"""

from __future__ import annotations

import math
import re

import numpy as np

from ..samples import NAME, label_key
from .errors import EvaluationError
from .numerics import kahan_inc, quantile_sorted, sort_nan_first
from .semantics import Semantics
from .values import DROPPED_NAME, Vector
from .xxhash64 import labels_hash

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
MAX_INT64 = 9223372036854774784.0  # largest float that converts to int64 (engine.go)
MIN_INT64 = -9223372036854775808.0


def group_rows(vector: Vector, grouping: tuple[str, ...], without: bool):
    """Rows per group, in order of first appearance, with the group's output labels."""
    groups: dict[tuple, list[int]] = {}
    out: dict[tuple, dict[str, str]] = {}
    dropped = set(grouping) | {NAME, DROPPED_NAME}
    for row, labels in enumerate(vector.labels):
        if without:
            kept = {k: v for k, v in labels.items() if k not in dropped}
        else:
            kept = {k: labels[k] for k in grouping if k in labels}
            if NAME in grouping and DROPPED_NAME in labels:
                kept[DROPPED_NAME] = labels[DROPPED_NAME]
        key = label_key(kept)
        groups.setdefault(key, []).append(row)
        out.setdefault(key, kept)
    return [(out[key], rows) for key, rows in groups.items()]


def aggregate(op: str, vector: Vector, param, grouping: tuple[str, ...],
              without: bool, sem: Semantics, expr: str) -> Vector:
    steps = vector.values.shape[1]
    if op in ("topk", "bottomk"):
        return _select_k(op, vector, param, grouping, without, expr)
    if op in ("limitk", "limit_ratio"):
        # 3.0's rangeEvalAgg reads these parameters at the first step only.
        param = np.full_like(param, param[0])
    if op == "limitk":
        return _limit_k(vector, param, grouping, without, expr)
    if op == "limit_ratio":
        return _limit_ratio(vector, param, expr)
    if op == "count_values":
        return _count_values(vector, param, grouping, without, expr)
    labels_out, values_out, present_out = [], [], []
    for labels, rows in group_rows(vector, grouping, without):
        values, present = _rows(vector, rows)
        any_present = present.any(axis=0)
        labels_out.append(labels)
        values_out.append(_reduce(op, values, present, param, sem, expr))
        present_out.append(any_present)
    if not labels_out:
        return Vector.empty(steps)
    return Vector(labels_out, np.array(values_out), np.array(present_out)).nonempty()


def _rows(vector: Vector, rows: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """A group's values and presence; a view when its rows are consecutive (no copy)."""
    if rows[-1] - rows[0] + 1 == len(rows):
        span = slice(rows[0], rows[-1] + 1)
        return vector.values[span], vector.present[span]
    return vector.values[rows], vector.present[rows]


def _reduce(op, values, present, param, sem, expr) -> np.ndarray:
    with np.errstate(all="ignore"):
        if op == "sum":
            return _sum(values, present, sem)
        if op == "avg":
            return _avg(values, present, sem)
        if op == "count":
            return present.sum(axis=0).astype(np.float64)
        if op == "group":
            return np.ones(values.shape[1])
        if op in ("min", "max"):
            # A NaN running value is replaced; NaN input never wins: NaN only if all are NaN.
            masked = np.where(present, values, np.nan)
            pick = np.fmax if op == "max" else np.fmin
            return pick.reduce(masked, axis=0)
        if op in ("stddev", "stdvar"):
            out = _variance(values, present, op == "stddev")
            if sem.stddev_nan_on_non_finite:
                out[(present & ~np.isfinite(values)).any(axis=0)] = np.nan
            return out
        if op == "quantile":
            return _quantile(param, values, present)
    raise EvaluationError(f"aggregation {op!r} not implemented", expr)


def _sum(values, present, sem: Semantics) -> np.ndarray:
    if sem.kahan_sum_aggregation:
        return _masked_sum(values, present, sem)
    # Steps where every series has a point are a plain left-to-right sum: one pass per series
    # instead of the masked update's four. The other steps are redone with the mask.
    total = _sequential_sum(values)
    partial = np.flatnonzero(~present.all(axis=0))
    if len(partial):
        total[partial] = _masked_sum(values[:, partial], present[:, partial], sem)
    return total


def _sequential_sum(values) -> np.ndarray:
    total = values[0].copy()
    for x in values[1:]:
        total += x
    return total


def _masked_sum(values, present, sem: Semantics) -> np.ndarray:
    total = np.zeros(values.shape[1])
    comp = np.zeros(values.shape[1])
    seen = np.zeros(values.shape[1], dtype=bool)
    for x, here in zip(values, present, strict=True):
        if sem.kahan_sum_aggregation:
            t, c = kahan_inc(x, total, comp, True)
        else:
            t, c = total + x, comp
        total = np.where(here, np.where(seen, t, x), total)
        comp = np.where(here & seen, c, comp)
        seen |= here
    return total + comp if sem.kahan_sum_aggregation else total


def _avg(values, present, sem: Semantics) -> np.ndarray:
    shape = values.shape[1]
    count, mean = np.zeros(shape), np.zeros(shape)
    total, comp = np.zeros(shape), np.zeros(shape)
    incremental = np.zeros(shape, dtype=bool)
    seen = np.zeros(shape, dtype=bool)
    for x, here in zip(values, present, strict=True):
        first = here & ~seen
        later = here & seen
        count = np.where(here, count + 1, count)
        mean = np.where(first, x, mean)
        total = np.where(first, x, total)
        if sem.direct_mean:
            new_sum, new_c = kahan_inc(x, total, comp, True)
            direct = later & ~incremental & ~np.isinf(new_sum)
            total, comp = np.where(direct, new_sum, total), np.where(direct, new_c, comp)
            switch = later & ~incremental & ~direct
            mean = np.where(switch, total / (count - 1), mean)
            comp = np.where(switch, comp / (count - 1), comp)
            incremental |= switch
            step = later & incremental & ~_infinite_mean_unchanged(mean, x)
            m, c = kahan_inc(x / count - (mean + comp) / count, mean, comp, True)
            mean, comp = np.where(step, m, mean), np.where(step, c, comp)
        else:
            step = later & ~_infinite_mean_unchanged(mean, x)
            mean = np.where(step, mean + (x / count - mean / count), mean)
        seen |= here
    if sem.direct_mean:
        return np.where(incremental, mean + comp, (total + comp) / count)
    return mean


def _infinite_mean_unchanged(mean, x):
    same_inf = np.isinf(x) & ((mean > 0) == (x > 0))
    finite = ~np.isinf(x) & ~np.isnan(x)
    return np.isinf(mean) & (same_inf | finite)


def _variance(values, present, stddev: bool) -> np.ndarray:
    # Welford as engine.go: the first value sets the mean, later ones update it.
    shape = values.shape[1]
    count, mean, aux = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    seen = np.zeros(shape, dtype=bool)
    for x, here in zip(values, present, strict=True):
        first, later = here & ~seen, here & seen
        count = np.where(here, count + 1, count)
        mean = np.where(first, x, mean)
        delta = x - mean
        new_mean = mean + delta / count
        aux = np.where(later, aux + delta * (x - new_mean), aux)
        mean = np.where(later, new_mean, mean)
        seen |= here
    variance = aux / np.maximum(count, 1)
    return np.sqrt(variance) if stddev else variance


def _quantile(q, values, present) -> np.ndarray:
    block = np.where(present, values, np.inf).T
    ordered = sort_nan_first(block)
    counts = present.sum(axis=0)
    return quantile_sorted(q, ordered, counts)


# -- topk / bottomk -----------------------------------------------------------------------

def _select_k(op, vector, param, grouping, without, expr) -> Vector:
    ks = _k_per_step(param, expr)
    chosen = np.zeros_like(vector.present)
    groups = group_rows(vector, grouping, without)
    for _, rows in groups:
        values, present = vector.values[rows], vector.present[rows]
        chosen[rows] = _choose(values, present, ks, op == "topk")
    selected = Vector(vector.labels, vector.values, chosen)
    if vector.values.shape[1] == 1:  # an instant query lists each group best first
        order = []
        for _, rows in groups:
            rows = [r for r in rows if chosen[r, 0]]
            v = vector.values[rows, 0]
            key = np.where(np.isnan(v), np.inf, -v if op == "topk" else v)
            order += [rows[i] for i in np.lexsort((key, np.isnan(v)))]
        return selected.take(order)
    return selected.nonempty()


def _limit_k(vector, param, grouping, without, expr) -> Vector:
    """limitk: the first k series of each group, in input order, at every step."""
    ks = _k_per_step(param, expr)
    chosen = np.zeros_like(vector.present)
    for _, rows in group_rows(vector, grouping, without):
        rank = np.cumsum(vector.present[rows], axis=0)
        chosen[rows] = vector.present[rows] & (rank <= ks[None, :])
    return Vector(vector.labels, vector.values, chosen).nonempty()


def _limit_ratio(vector, param, expr) -> Vector:
    """limit_ratio: a series is kept where its label hash, as a fraction of 2^64, is below
    the ratio (or, for a negative ratio, at or above 1 + ratio); ratios clamp to [-1, 1]."""
    if np.isnan(param).any():
        raise EvaluationError(f"Ratio value {_go_float(param[np.isnan(param)][0])} is NaN", expr)
    ratio = np.clip(param, -1.0, 1.0)
    chosen = np.zeros_like(vector.present)
    for row, labels in enumerate(vector.labels):
        offset = float(labels_hash(labels)) / 18446744073709551616.0
        keep = ((ratio >= 0) & (offset < ratio)) | ((ratio < 0) & (offset >= 1.0 + ratio))
        chosen[row] = vector.present[row] & keep & (param != 0)
    return Vector(vector.labels, vector.values, chosen).nonempty()


def _count_values(vector, label, grouping, without, expr) -> Vector:
    """count_values: one output series per group and distinct value, step by step."""
    if not _LABEL_NAME.fullmatch(label):
        raise EvaluationError(f"invalid label name {label!r}", expr)
    steps = vector.values.shape[1]
    grouping = tuple(grouping) if without else tuple(grouping) + (label,)
    dropped = set(grouping) | {NAME, DROPPED_NAME}
    counts: dict[tuple, tuple[dict, np.ndarray]] = {}
    for row, labels in enumerate(vector.labels):
        for step in np.flatnonzero(vector.present[row]):
            tagged = dict(labels)
            tagged[label] = format_go_float(vector.values[row, step])
            if without:
                kept = {k: v for k, v in tagged.items() if k not in dropped}
            else:
                kept = {k: tagged[k] for k in grouping if k in tagged}
            key = label_key(kept)
            if key not in counts:
                counts[key] = (kept, np.zeros(steps))
            counts[key][1][step] += 1
    if not counts:
        return Vector.empty(steps)
    labels = [kept for kept, _ in counts.values()]
    values = np.array([c for _, c in counts.values()])
    return Vector(labels, values, values > 0)


def format_go_float(value: float) -> str:
    """strconv.FormatFloat(v, 'f', -1, 64)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return np.format_float_positional(value, unique=True, trim="-")


def _k_per_step(param: np.ndarray, expr: str) -> np.ndarray:
    bad = ~((param <= MAX_INT64) & (param >= MIN_INT64))
    if bad.any():
        raise EvaluationError(f"Scalar value {_go_float(param[bad][0])} overflows int64", expr)
    return np.trunc(param).astype(np.int64)


def _go_float(value: float) -> str:
    return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf") if math.isinf(
        value) else repr(value)


def _choose(values, present, ks, largest: bool) -> np.ndarray:
    """Rows kept by Prometheus' heap at each step: the k largest (smallest), NaN ranking
    last; where ties straddle the cut the heap is replayed to pick the same series."""
    n, steps = values.shape
    key = np.where(np.isnan(values), -np.inf if largest else np.inf, values)
    key = -key if largest else key
    nan_rank = np.isnan(values)
    # Sort: best first; NaN after every number; absent after everything.
    order = np.lexsort((np.arange(n)[:, None].repeat(steps, 1), nan_rank, key, ~present),
                       axis=0)
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(n)[:, None].repeat(steps, 1), axis=0)
    count = present.sum(axis=0)
    k = np.minimum(ks, count)
    chosen = present & (rank < k[None, :])
    boundary = (k >= 1) & (k < count)
    if boundary.any():
        cols = np.flatnonzero(boundary)
        kth = np.take_along_axis(order[:, cols], (k[cols] - 1)[None, :], axis=0)[0]
        nxt = np.take_along_axis(order[:, cols], k[cols][None, :], axis=0)[0]
        a, b = values[kth, cols], values[nxt, cols]
        tied = (a == b) | (np.isnan(a) & np.isnan(b))
        for col in cols[tied]:
            chosen[:, col] = False
            rows = np.flatnonzero(present[:, col])
            for row in _replay_heap(values[rows, col], int(ks[col]), largest):
                chosen[rows[row], col] = True
    chosen[:, ks < 1] = False
    return chosen


def _replay_heap(values: np.ndarray, k: int, largest: bool) -> list[int]:
    """Go's container/heap run as engine.go runs it for topk (largest) or bottomk."""
    heap = _GoHeap(values, largest)
    for i in range(len(values)):
        if not heap.items:
            heap.items.append(i)
            continue
        top = values[heap.items[0]]
        better = values[i] > top if largest else values[i] < top
        if len(heap.items) < k or better or math.isnan(top):
            if len(heap.items) == k:
                if k == 1:
                    heap.items[0] = i
                    continue
                heap.pop()
            heap.push(i)
    return heap.items


class _GoHeap:
    """container/heap over vectorByValueHeap (topk) or vectorByReverseValueHeap (bottomk)."""

    def __init__(self, values: np.ndarray, largest: bool):
        self.values, self.largest, self.items = values, largest, []

    def less(self, i: int, j: int) -> bool:
        a, b = self.values[self.items[i]], self.values[self.items[j]]
        if math.isnan(a):
            return True
        return a < b if self.largest else a > b

    def swap(self, i: int, j: int) -> None:
        self.items[i], self.items[j] = self.items[j], self.items[i]

    def push(self, item: int) -> None:
        self.items.append(item)
        self._up(len(self.items) - 1)

    def pop(self) -> int:
        n = len(self.items) - 1
        self.swap(0, n)
        self._down(0, n)
        return self.items.pop()

    def _up(self, j: int) -> None:
        while True:
            i = (j - 1) // 2
            if i == j or j <= 0 or not self.less(j, i):
                break
            self.swap(i, j)
            j = i

    def _down(self, i0: int, n: int) -> None:
        i = i0
        while True:
            j1 = 2 * i + 1
            if j1 >= n:
                break
            j = j1
            if j1 + 1 < n and self.less(j1 + 1, j1):
                j = j1 + 1
            if not self.less(j, i):
                break
            self.swap(i, j)
            i = j


__all__ = ["aggregate"]
