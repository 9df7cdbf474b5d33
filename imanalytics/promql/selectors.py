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
    _reset_at: np.ndarray | None = field(default=None, repr=False)
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
    def reset_positions(self) -> np.ndarray:
        """Indices i with v[i] < v[i-1], ascending."""
        if self._reset_at is None:
            self._reset_at = np.flatnonzero(self.v[1:] < self.v[:-1]) + 1
        return self._reset_at

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
    """The raw series an evaluation reads, indexed by metric name, in Prometheus' order:
    sorted by labels as persisted blocks hold them, or (`sort_by_labels` False) in the order
    given, as a freshly written head block returns them.

    Selections are remembered: the expressions of one batch often select the same series.
    """

    def __init__(self, data: Sequence[Series], sort_by_labels: bool = True):
        self.by_name: dict[str, list[Series]] = {}
        self.sort_by_labels = sort_by_labels
        self.all = list(data)
        for series in data:
            self.by_name.setdefault(series.name, []).append(series)
        for name, group in self.by_name.items():
            if sort_by_labels:
                group.sort(key=lambda s: s.key)
            keys = [s.key for s in group]
            if len(set(keys)) != len(keys):
                raise EvaluationError(f"duplicate series in the input data for {name!r}", name)
        self._selected: dict[tuple, list[Series]] = {}

    def select(self, selector: ast.VectorSelector, sem: Semantics, expr: str) -> list[Series]:
        key = (selector.matchers, sem.regex_dot_matches_newline)
        chosen = self._selected.get(key)
        if chosen is None:
            chosen = self._selected[key] = self._match(selector, sem, expr)
        return chosen

    def _match(self, selector: ast.VectorSelector, sem: Semantics, expr: str) -> list[Series]:
        equal_name = next((m.value for m in selector.matchers
                           if m.label == NAME and m.op == "="), None)
        if equal_name is not None:
            candidates = self.by_name.get(equal_name, [])
        elif self.sort_by_labels:
            candidates = [s for name in sorted(self.by_name) for s in self.by_name[name]]
        else:
            candidates = self.all
        tests = [_matcher_test(m, sem, expr) for m in selector.matchers]
        chosen = [s for s in candidates if all(test(s.labels) for test in tests)]
        if equal_name is None and self.sort_by_labels:
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


class Timelines:
    """A number per distinct timestamp array. Series scraped together (every series of one
    target) share their timestamps, so index lookups done for one serve them all."""

    def __init__(self):
        self._by_id: dict[int, tuple[np.ndarray, int]] = {}
        self._by_shape: dict[tuple, list[tuple[np.ndarray, int]]] = {}
        self._count = 0

    def number(self, t: np.ndarray) -> int:
        known = self._by_id.get(id(t))
        if known is not None and known[0] is t:
            return known[1]
        shape = (len(t), int(t[0]), int(t[-1])) if len(t) else (0,)
        same = self._by_shape.setdefault(shape, [])
        number = next((n for other, n in same if np.array_equal(other, t)), None)
        if number is None:
            number, self._count = self._count, self._count + 1
            same.append((t, number))
        self._by_id[id(t)] = (t, number)  # holding `t` keeps its id from being reused
        return number


class Bounds:
    """One timeline's range windows at every step: sample index bounds [lo, hi), lengths,
    first and last indices; `derived` holds what range functions compute from timestamps
    alone, for every series on the timeline to reuse."""

    def __init__(self, t: np.ndarray, lo: np.ndarray, hi: np.ndarray):
        self.t, self.lo, self.hi = t, lo, hi
        self.n = hi - lo
        self.first = np.minimum(lo, len(t) - 1)
        self.last = np.maximum(hi - 1, 0)
        self.derived: dict[tuple, object] = {}


def window_bounds(t: np.ndarray, steps: np.ndarray, offset_ms: int, range_ms: int,
                  sem: Semantics) -> tuple[np.ndarray, np.ndarray]:
    """Index bounds [lo, hi) of each step's range window: [t-range, t] in 2.x (matrixIterSlice
    keeps t >= mint), (t-range, t] from 3.0."""
    maxt = steps - offset_ms
    mint = maxt - range_ms
    lo = np.searchsorted(t, mint, side="right" if sem.range_left_open else "left")
    hi = np.searchsorted(t, maxt, side="right")
    return lo, hi


def lookback_index(t: np.ndarray, steps: np.ndarray, offset_ms: int, lookback_ms: int,
                   sem: Semantics) -> tuple[np.ndarray, np.ndarray]:
    """vectorSelectorSingle's sample choice for all steps: the index of the newest sample at
    or before t - offset, and whether it exists within the lookback delta."""
    ref = steps - offset_ms
    idx = np.searchsorted(t, ref, side="right") - 1
    safe = np.maximum(idx, 0)
    oldest = ref - lookback_ms
    fresh = t[safe] > oldest if sem.lookback_left_open else t[safe] >= oldest
    return safe, (idx >= 0) & fresh


def instant_vector(series: list[Series], n_steps: int, lookup) -> Vector:
    """The selected series at every step; `lookup(t)` gives `lookback_index` for a timestamp
    array. A staleness marker as the chosen sample means no point."""
    values = np.full((len(series), n_steps), np.nan)
    present = np.zeros((len(series), n_steps), dtype=bool)
    for row, s in enumerate(series):
        t, v = np.asarray(s.t, dtype=np.int64), np.asarray(s.v, dtype=np.float64)
        if not len(t):
            continue
        safe, found = lookup(t)
        chosen = v[safe]
        ok = found & ~is_stale(chosen)
        values[row] = np.where(ok, chosen, np.nan)
        present[row] = ok
    return Vector([dict(s.labels) for s in series], values, present).nonempty()


def series_labels(series: Series) -> dict[str, str]:
    return dict(series.labels)


__all__ = ["Bounds", "Store", "Timelines", "instant_vector", "lookback_index", "window_bounds",
           "range_samples", "label_key"]
