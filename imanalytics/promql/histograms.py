"""histogram_quantile over classic (le-labelled) buckets: funcHistogramQuantile and
bucketQuantile from Prometheus' quantile.go, vectorised over the steps of each histogram."""

from __future__ import annotations

import re

import numpy as np

from ..samples import NAME
from .errors import EvaluationError
from .numerics import bisect_like_go
from .semantics import Semantics
from .values import DROPPED_NAME, Vector, merge_by_labelset

SMALL_DELTA_TOLERANCE = 1e-12
_MIN_NORMAL = np.float64(2.2250738585072014e-308)  # math.Float64frombits(0x0010000000000000)
_GO_FLOAT = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf(?:inity)?|nan)",
    re.IGNORECASE)


def go_parse_float(text: str) -> float | None:
    """strconv.ParseFloat(text, 64) for the forms `le` labels use; None where Go errors."""
    if _GO_FLOAT.fullmatch(text):
        return float(text)
    try:
        return float.fromhex(text) if re.fullmatch(r"[+-]?0[xX][0-9a-fA-F.]+[pP][+-]?\d+",
                                                   text) else None
    except ValueError:
        return None


def histogram_quantile(q: np.ndarray, vector: Vector, sem: Semantics, expr: str) -> Vector:
    groups: dict[tuple, list[tuple[float, int]]] = {}
    out_labels: dict[tuple, dict[str, str]] = {}
    for row, labels in enumerate(vector.labels):
        bound = go_parse_float(labels.get("le", ""))
        if bound is None:
            continue  # no or malformed le label: Prometheus skips the sample
        if np.isnan(bound):
            raise EvaluationError("histogram bucket with le=\"NaN\" is not supported", expr)
        rest = {k: v for k, v in labels.items() if k not in ("le", NAME, DROPPED_NAME)}
        key = (tuple(sorted(rest.items())), labels.get(NAME, ""))
        groups.setdefault(key, []).append((bound, row))
        out_labels[key] = rest
    steps = vector.values.shape[1]
    labels_out, values_out, present_out = [], [], []
    for key, buckets in groups.items():
        buckets.sort(key=lambda b: b[0])
        bounds = np.array([b for b, _ in buckets])
        rows = [r for _, r in buckets]
        counts, mask = vector.values[rows], vector.present[rows]
        values = np.full(steps, np.nan)
        present = mask.any(axis=0)
        for pattern, cols in _presence_patterns(mask[:, present]):
            cols = np.flatnonzero(present)[cols]
            values[cols] = bucket_quantile(q[cols], bounds[pattern], counts[pattern][:, cols],
                                           sem)
        labels_out.append(out_labels[key])
        values_out.append(values)
        present_out.append(present)
    if not labels_out:
        return Vector.empty(steps)
    return merge_by_labelset(Vector(labels_out, np.array(values_out), np.array(present_out)),
                             expr)


def _presence_patterns(mask: np.ndarray):
    """Group steps by which buckets are present: yields (bucket rows, step columns)."""
    if mask.shape[1] == 0:
        return
    if mask.all():
        yield np.arange(mask.shape[0]), np.arange(mask.shape[1])
        return
    _, first, inverse = np.unique(_column_keys(mask), return_index=True, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    splits = np.cumsum(np.bincount(inverse))[:-1]
    for step, cols in zip(first, np.split(order, splits), strict=True):
        yield np.flatnonzero(mask[:, step]), cols


def _column_keys(mask: np.ndarray) -> np.ndarray:
    """One scalar key per column of a boolean matrix: its bits packed into bytes (sorting
    these is far cheaper than np.unique over the columns as rows)."""
    packed = np.packbits(mask.T, axis=1)
    width = 8 if packed.shape[1] <= 8 else packed.shape[1]
    padded = np.zeros((len(packed), width), dtype=np.uint8)
    padded[:, :packed.shape[1]] = packed
    dtype = np.uint64 if width == 8 else np.dtype((np.void, width))
    return padded.view(dtype).ravel()


def bucket_quantile(q: np.ndarray, bounds: np.ndarray, counts: np.ndarray,
                    sem: Semantics) -> np.ndarray:
    """bucketQuantile for one bucket layout (bounds sorted) at many steps (counts: B x S)."""
    out = np.full(len(q), np.nan)
    if len(bounds) and np.isposinf(bounds[-1]):
        bounds, counts = _coalesce(bounds, counts.copy())
        if sem.bucket_small_delta_tolerance:
            _monotonic_ignoring_small_deltas(counts)
        else:
            _monotonic_envelope(counts)
        if len(bounds) >= 2:
            out = _interpolate(q, bounds, counts)
    with np.errstate(invalid="ignore"):
        out = np.where(q < 0, -np.inf, np.where(q > 1, np.inf, out))
    return np.where(np.isnan(q), np.nan, out)


def _coalesce(bounds: np.ndarray, counts: np.ndarray):
    # coalesceBuckets: equal upper bounds ("1" and "1.0") are summed into one bucket.
    keep = np.ones(len(bounds), dtype=bool)
    for i in range(1, len(bounds)):
        if bounds[i] == bounds[i - 1]:
            first = i - 1
            while not keep[first]:
                first -= 1
            counts[first] = counts[first] + counts[i]
            keep[i] = False
    return bounds[keep], counts[keep]


def _monotonic_envelope(counts: np.ndarray) -> None:
    # ensureMonotonic (2.x up to 2.48).
    running = counts[0].copy()
    for i in range(1, len(counts)):
        current = counts[i]
        higher = current > running
        lower = current < running
        running = np.where(higher, current, running)
        counts[i] = np.where(lower, running, current)


def _monotonic_ignoring_small_deltas(counts: np.ndarray) -> None:
    # ensureMonotonicAndIgnoreSmallDeltas (2.49+): `prev` only advances on real increases.
    prev = counts[0].copy()
    for i in range(1, len(counts)):
        current = counts[i]
        same = current == prev
        fix = ~same & (_almost_equal(prev, current, SMALL_DELTA_TOLERANCE) | (current < prev))
        counts[i] = np.where(fix, prev, current)
        prev = np.where(same | fix, prev, current)


def _almost_equal(a: np.ndarray, b: np.ndarray, epsilon: float) -> np.ndarray:
    # util/almost.Equal
    with np.errstate(all="ignore"):
        abs_sum = np.abs(a) + np.abs(b)
        diff = np.abs(a - b)
        tiny = (a == 0) | (b == 0) | (abs_sum < _MIN_NORMAL)
        relative = diff / np.minimum(abs_sum, np.finfo(np.float64).max) < epsilon
        close = np.where(tiny, diff < epsilon * _MIN_NORMAL, relative)
    return (np.isnan(a) & np.isnan(b)) | (a == b) | close


def _interpolate(q: np.ndarray, bounds: np.ndarray, counts: np.ndarray) -> np.ndarray:
    observations = counts[-1]
    with np.errstate(all="ignore"):
        rank = q * observations
        size = len(bounds)
        cols = np.arange(len(q))
        b = bisect_like_go(size - 1, len(q), lambda rows, h: counts[h, cols[rows]] >= rank[rows])
        previous = np.maximum(b - 1, 0)
        start = np.where(b > 0, bounds[previous], 0.0)
        below = np.where(b > 0, counts[previous, cols], 0.0)
        count = counts[np.minimum(b, size - 1), cols] - below
        result = start + (bounds[np.minimum(b, size - 1)] - start) * ((rank - below) / count)
        result = np.where((b == 0) & (bounds[0] <= 0), bounds[0], result)
        result = np.where(b == size - 1, bounds[size - 2], result)
    return np.where(observations == 0, np.nan, result)
