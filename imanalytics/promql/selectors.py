"""Series selection and sample lookup: label matchers, the instant-vector lookback, and
range-window bounds for every step at once (np.searchsorted instead of per-step scans)."""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..samples import NAME, Series, label_key
from . import ast
from .errors import EvaluationError
from .regex import compile_matcher_regex
from .semantics import Semantics
from .values import Vector

STALE_NAN_BITS = np.uint64(0x7FF0000000000002)  # Prometheus' staleness marker (value.StaleNaN)


def is_stale(v: np.ndarray) -> np.ndarray:
    return np.asarray(v, dtype=np.float64).view(np.uint64) == STALE_NAN_BITS


@dataclass
class RangeSamples:
    """A series' samples as range selectors see them (staleness markers removed), with
    cumulative counts of counter resets and value changes for O(1) per-window lookups."""

    t: np.ndarray
    v: np.ndarray
    _resets: np.ndarray | None = field(default=None, repr=False)
    _changes: np.ndarray | None = field(default=None, repr=False)
    _finite: bool | None = field(default=None, repr=False)

    @property
    def reset_count(self) -> np.ndarray:
        # reset_count[i] = number of j <= i with v[j] < v[j-1] (funcResets, extrapolatedRate).
        if self._resets is None:
            flags = np.zeros(len(self.v), dtype=np.int64)
            flags[1:] = self.v[1:] < self.v[:-1]
            self._resets = np.cumsum(flags)
        return self._resets

    @property
    def change_count(self) -> np.ndarray:
        # funcChanges: a change unless equal or both NaN.
        if self._changes is None:
            a, b = self.v[1:], self.v[:-1]
            flags = np.zeros(len(self.v), dtype=np.int64)
            flags[1:] = (a != b) & ~(np.isnan(a) & np.isnan(b))
            self._changes = np.cumsum(flags)
        return self._changes

    @property
    def all_finite(self) -> bool:
        if self._finite is None:
            self._finite = bool(np.isfinite(self.v).all())
        return self._finite


_RANGE_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def range_samples(series: Series) -> RangeSamples:
    cached = _RANGE_CACHE.get(series)
    if cached is None:
        t, v = np.asarray(series.t, dtype=np.int64), np.asarray(series.v, dtype=np.float64)
        stale = is_stale(v)
        if stale.any():
            t, v = t[~stale], v[~stale]
        cached = RangeSamples(t, v)
        _RANGE_CACHE[series] = cached
    return cached


class Store:
    """The raw series an evaluation reads, indexed by metric name, in Prometheus' order."""

    def __init__(self, data: Sequence[Series]):
        self.by_name: dict[str, list[Series]] = {}
        for series in data:
            self.by_name.setdefault(series.name, []).append(series)
        for name, group in self.by_name.items():
            group.sort(key=lambda s: s.key)
            keys = [s.key for s in group]
            if len(set(keys)) != len(keys):
                raise EvaluationError(f"duplicate series in the input data for {name!r}", name)

    def select(self, selector: ast.VectorSelector, sem: Semantics, expr: str) -> list[Series]:
        equal_name = next((m.value for m in selector.matchers
                           if m.label == NAME and m.op == "="), None)
        if equal_name is not None:
            candidates = self.by_name.get(equal_name, [])
        else:
            candidates = [s for name in sorted(self.by_name) for s in self.by_name[name]]
        tests = [_matcher_test(m, sem, expr) for m in selector.matchers]
        chosen = [s for s in candidates if all(test(s.labels) for test in tests)]
        if equal_name is None:
            chosen.sort(key=lambda s: s.key)
        return chosen


def _matcher_test(matcher: ast.Matcher, sem: Semantics, expr: str):
    label, value = matcher.label, matcher.value
    if matcher.op == "=":
        return lambda labels: labels.get(label, "") == value
    if matcher.op == "!=":
        return lambda labels: labels.get(label, "") != value
    regex = compile_matcher_regex(value, expr, sem.regex_dot_matches_newline)
    if matcher.op == "=~":
        return lambda labels: regex.fullmatch(labels.get(label, "")) is not None
    return lambda labels: regex.fullmatch(labels.get(label, "")) is None


def instant_vector(series: list[Series], steps: np.ndarray, offset_ms: int, lookback_ms: int,
                   sem: Semantics) -> Vector:
    """vectorSelectorSingle for all steps: the newest sample at or before t - offset, if it
    is within the lookback delta and not a staleness marker."""
    ref = steps - offset_ms
    n = len(series)
    values = np.full((n, len(steps)), np.nan)
    present = np.zeros((n, len(steps)), dtype=bool)
    for row, s in enumerate(series):
        t, v = np.asarray(s.t, dtype=np.int64), np.asarray(s.v, dtype=np.float64)
        idx = np.searchsorted(t, ref, side="right") - 1
        safe = np.maximum(idx, 0)
        oldest = ref - lookback_ms
        fresh = t[safe] > oldest if sem.lookback_left_open else t[safe] >= oldest
        ok = (idx >= 0) & fresh & ~is_stale(v[safe])
        values[row] = np.where(ok, v[safe], np.nan)
        present[row] = ok
    return Vector([dict(s.labels) for s in series], values, present).nonempty()


def window_bounds(t: np.ndarray, steps: np.ndarray, offset_ms: int, range_ms: int,
                  sem: Semantics) -> tuple[np.ndarray, np.ndarray]:
    """Index bounds [lo, hi) of each step's range window: [t-range, t] in 2.x (matrixIterSlice
    keeps t >= mint), (t-range, t] from 3.0."""
    maxt = steps - offset_ms
    mint = maxt - range_ms
    lo = np.searchsorted(t, mint, side="right" if sem.range_left_open else "left")
    hi = np.searchsorted(t, maxt, side="right")
    return lo, hi


def series_labels(series: Series) -> dict[str, str]:
    return dict(series.labels)


__all__ = ["Store", "instant_vector", "window_bounds", "range_samples", "label_key"]
