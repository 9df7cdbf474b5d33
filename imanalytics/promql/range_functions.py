"""Functions over range vectors (functions.go), evaluated for every step of a series at once.

Window bounds come from `np.searchsorted`; counts of resets and changes from cumulative sums;
the order-sensitive float accumulations (Kahan sums, Welford variance) run over the position
inside the window, vectorised across all windows, so each window sees the same operation
sequence as Prometheus' loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .numerics import go_duration_seconds, kahan_inc, quantile_sorted, sort_nan_first
from .selectors import Bounds, RangeSamples
from .semantics import Semantics

# Past this many samples in a window, sums use compensated prefix sums instead of replaying
# the per-window loop (results then agree to ~1 ulp rather than bit for bit).
LOOP_LIMIT = 64
# Up to this many counter resets in a series, rate corrections are added per reset to the run
# of windows that hold it; beyond, per reset rank across all windows.
SLICED_RESETS_LIMIT = 256


class Window:
    """The windows of one series over all steps: its samples and its timeline's bounds."""

    def __init__(self, samples: RangeSamples, bounds: Bounds):
        self.s, self.bounds = samples, bounds
        self.lo, self.hi, self.n = bounds.lo, bounds.hi, bounds.n

    def first(self) -> np.ndarray:
        return self.bounds.first

    def last(self) -> np.ndarray:
        return self.bounds.last

    def at(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Values at position j of each window and whether the window is that long."""
        active = self.n > j
        idx = np.minimum(self.lo + j, len(self.s.v) - 1)
        return self.s.v[idx], active


@dataclass(frozen=True)
class _RateTiming:
    """The parts of extrapolatedRate that depend on timestamps alone, shared by every series
    of a timeline. `start_cap` and `end_part` are the extrapolation limits as each version
    applies them."""

    sampled: np.ndarray
    threshold: np.ndarray
    half: np.ndarray
    start_cap: np.ndarray
    end_part: np.ndarray


def _rate_timing(b: Bounds, steps: np.ndarray, offset_ms: int, range_ms: int,
                 sem: Semantics) -> _RateTiming:
    # `b` belongs to one grid, offset and range, so only the version is part of the key.
    key = ("rate", sem.rate_zero_point_after_threshold)
    if key not in b.derived:
        t, first, last = b.t, b.first, b.last
        range_start = steps - offset_ms - range_ms
        range_end = steps - offset_ms
        to_start = (t[first] - range_start).astype(np.float64) / 1000
        to_end = (range_end - t[last]).astype(np.float64) / 1000
        sampled = (t[last] - t[first]).astype(np.float64) / 1000
        with np.errstate(all="ignore"):
            average = sampled / (b.n - 1)
            threshold = average * 1.1
            half = average / 2
        if sem.rate_zero_point_after_threshold:
            start_cap = np.where(to_start >= threshold, half, to_start)
            end_part = np.where(to_end >= threshold, half, to_end)
        else:
            start_cap = to_start
            end_part = np.where(to_end < threshold, to_end, half)
        b.derived[key] = _RateTiming(sampled, threshold, half, start_cap, end_part)
    return b.derived[key]


def extrapolated_rate(w: Window, steps: np.ndarray, offset_ms: int, range_ms: int,
                      counter: bool, is_rate: bool, sem: Semantics):
    """extrapolatedRate: rate, increase (counter) and delta. The arithmetic runs in place, one
    pass per operation, with Go's operations and operand order for every value."""
    timing = _rate_timing(w.bounds, steps, offset_ms, range_ms, sem)
    v, sampled, ok = w.s.v, timing.sampled, w.n >= 2
    first_v = v[w.first()]
    result = v[w.last()]
    result -= first_v
    if counter:
        result = _add_reset_corrections(w, result, ok)
        to_start = _limit_to_zero_point(timing.start_cap, sampled, first_v, result)
    else:
        to_start = timing.start_cap
    if sem.rate_zero_point_after_threshold:
        extrapolate = sampled + to_start
    else:
        extrapolate = np.where(to_start < timing.threshold, to_start, timing.half)
        np.add(sampled, extrapolate, out=extrapolate)
    extrapolate += timing.end_part
    extrapolate /= sampled
    if is_rate:
        extrapolate /= go_duration_seconds(range_ms)
    result *= extrapolate
    return result, ok


def _limit_to_zero_point(to_start, sampled, first_v, result):
    # Counters cannot be negative: do not extrapolate further back than the zero point.
    to_zero = first_v / result
    np.multiply(sampled, to_zero, out=to_zero)
    applies = to_zero < to_start
    applies &= result > 0
    applies &= first_v >= 0
    return np.where(applies, to_zero, to_start)


def _add_reset_corrections(w: Window, result: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """result += v[i-1] for each reset i in the window, in order (as the Go loop adds them)."""
    positions = w.s.reset_positions
    if len(positions) <= SLICED_RESETS_LIMIT:
        return _add_resets_by_slices(w, result, positions)
    cnt = w.s.reset_count
    base = cnt[w.first()]
    resets = np.where(ok, cnt[w.last()] - base, 0)
    for j in range(1, int(resets.max(initial=0)) + 1):
        rows = np.flatnonzero(resets >= j)
        position = np.searchsorted(cnt, base[rows] + j, side="left")
        result[rows] = result[rows] + w.s.v[position - 1]
    return result


def _add_resets_by_slices(w: Window, result: np.ndarray, positions: np.ndarray) -> np.ndarray:
    # Window first/last indices grow with the step, so the windows holding reset i (first < i
    # <= last) are one run of steps. Only windows of two or more samples can hold one.
    begins = np.searchsorted(w.last(), positions, side="left")
    ends = np.searchsorted(w.first(), positions, side="left")
    for i, begin, end in zip(positions, begins, ends, strict=True):
        if begin < end:
            result[begin:end] += w.s.v[i - 1]
    return result


def instant_value(w: Window, is_rate: bool):
    """irate / idelta: the last two samples of the window."""
    ok = w.n >= 2
    last = w.last()
    prev = np.maximum(last - 1, 0)
    v, t = w.s.v, w.s.t
    with np.errstate(all="ignore"):
        if is_rate:
            result = np.where(v[last] < v[prev], v[last], v[last] - v[prev])
            result = result / ((t[last] - t[prev]).astype(np.float64) / 1000)
        else:
            result = v[last] - v[prev]
    return result, ok


def resets(w: Window):
    cnt = w.s.reset_count
    return (cnt[w.last()] - cnt[w.first()]).astype(np.float64), w.n >= 1


def changes(w: Window):
    cnt = w.s.change_count
    return (cnt[w.last()] - cnt[w.first()]).astype(np.float64), w.n >= 1


def count_over_time(w: Window):
    return w.n.astype(np.float64), w.n >= 1


def last_over_time(w: Window):
    return w.s.v[w.last()], w.n >= 1


def extreme_over_time(w: Window, take_max: bool):
    """max/min_over_time: NaN only if every sample is NaN (a NaN running value is replaced)."""
    ok = w.n >= 1
    pick = np.fmax if take_max else np.fmin
    out = np.full(len(w.n), np.nan)
    if len(w.s.v) == 0 or not ok.any():
        return out, ok
    rows = np.flatnonzero(ok)
    bounds = np.empty(2 * len(rows), dtype=np.intp)
    bounds[0::2], bounds[1::2] = w.lo[rows], w.hi[rows]
    padded = np.append(w.s.v, np.nan)
    out[rows] = pick.reduceat(padded, bounds)[0::2]
    return out, ok


def sum_over_time(w: Window, sem: Semantics):
    ok = w.n >= 1
    if _use_prefix_sums(w):
        return _prefix_window_sums(w), ok
    total, comp = _zeros(w), _zeros(w)
    for j in range(int(w.n.max(initial=0))):
        x, active = w.at(j)
        t, c = kahan_inc(x, total, comp, sem.kahan_sum_aggregation)
        total, comp = np.where(active, t, total), np.where(active, c, comp)
    return np.where(np.isinf(total), total, total + comp), ok


def avg_over_time(w: Window, sem: Semantics):
    ok = w.n >= 1
    if _use_prefix_sums(w):
        return _prefix_window_sums(w) / np.maximum(w.n, 1), ok
    if sem.direct_mean:
        return _direct_mean(w, sem), ok
    mean, comp, count = _zeros(w), _zeros(w), _zeros(w)
    for j in range(int(w.n.max(initial=0))):
        x, active = w.at(j)
        count = np.where(active, count + 1, count)
        skip = _infinite_mean_unchanged(mean, x)
        m, c = kahan_inc(x / count - mean / count, mean, comp, False)
        update = active & ~skip
        mean, comp = np.where(update, m, mean), np.where(update, c, comp)
    return np.where(np.isinf(mean), mean, mean + comp), ok


def _direct_mean(w: Window, sem: Semantics) -> np.ndarray:
    # funcAvgOverTime from 2.54: Kahan sum and divide, incremental mean once the sum overflows.
    total, comp, mean, count = _zeros(w), _zeros(w), _zeros(w), _zeros(w)
    incremental = np.zeros(len(w.n), dtype=bool)
    for j in range(int(w.n.max(initial=0))):
        x, active = w.at(j)
        count = np.where(active, count + 1, count)
        new_sum, new_c = kahan_inc(x, total, comp, True)
        direct = active & ~incremental & ((count == 1) | ~np.isinf(new_sum))
        total, comp = np.where(direct, new_sum, total), np.where(direct, new_c, comp)
        switch = active & ~incremental & ~direct
        mean = np.where(switch, total / (count - 1), mean)
        comp = np.where(switch, comp / (count - 1), comp)
        incremental = incremental | switch
        step = active & incremental & ~_infinite_mean_unchanged(mean, x)
        corrected = mean + comp
        m, c = kahan_inc(x / count - corrected / count, mean, comp, True)
        mean, comp = np.where(step, m, mean), np.where(step, c, comp)
    return np.where(incremental, mean + comp, (total + comp) / count)


def _infinite_mean_unchanged(mean, x):
    # An infinite mean stays as it is unless the new value is NaN or the opposite infinity.
    same_inf = np.isinf(x) & ((mean > 0) == (x > 0))
    finite = ~np.isinf(x) & ~np.isnan(x)
    return np.isinf(mean) & (same_inf | finite)


def variance_over_time(w: Window, sem: Semantics, stddev: bool):
    """stdvar/stddev_over_time: Welford's running mean with Kahan-compensated sums."""
    ok = w.n >= 1
    count, mean, c_mean, aux, c_aux = (_zeros(w) for _ in range(5))
    for j in range(int(w.n.max(initial=0))):
        x, active = w.at(j)
        count = np.where(active, count + 1, count)
        delta = x - (mean + c_mean)
        m, cm = kahan_inc(delta / count, mean, c_mean, sem.kahan_sum_aggregation)
        mean, c_mean = np.where(active, m, mean), np.where(active, cm, c_mean)
        a, ca = kahan_inc(delta * (x - (mean + c_mean)), aux, c_aux, sem.kahan_sum_aggregation)
        aux, c_aux = np.where(active, a, aux), np.where(active, ca, c_aux)
    variance = (aux + c_aux) / np.maximum(count, 1)
    return (np.sqrt(variance) if stddev else variance), ok


def quantile_over_time(w: Window, q: np.ndarray, sem: Semantics, chunk: int = 4096):
    ok = w.n >= 1
    out = np.full(len(w.n), np.nan)
    width = int(w.n.max(initial=0))
    for begin in range(0, len(w.n), chunk):
        rows = np.arange(begin, min(begin + chunk, len(w.n)))
        rows = rows[ok[rows]]
        if rows.size == 0:
            continue
        pos = np.arange(width)[None, :]
        idx = np.minimum(w.lo[rows, None] + pos, len(w.s.v) - 1)
        block = np.where(pos < w.n[rows, None], w.s.v[idx], np.inf)
        block = sort_nan_first(block)  # padding (+Inf) sorts after every real value
        out[rows] = quantile_sorted(q[rows], block, w.n[rows])
    return out, ok


def _use_prefix_sums(w: Window) -> bool:
    return int(w.n.max(initial=0)) > LOOP_LIMIT and w.s.all_finite


def _prefix_window_sums(w: Window) -> np.ndarray:
    """Window sums from cumulative sums carrying each step's rounding error (TwoSum)."""
    x = w.s.v
    prefix = np.concatenate(([0.0], np.cumsum(x)))
    before, after = prefix[:-1], prefix[1:]
    virtual = after - before
    errors = (before - (after - virtual)) + (x - virtual)
    carried = np.concatenate(([0.0], np.cumsum(errors)))
    return (prefix[w.hi] - prefix[w.lo]) + (carried[w.hi] - carried[w.lo])


def _zeros(w: Window) -> np.ndarray:
    return np.zeros(len(w.n))


def present_over_time(w: Window):
    return np.ones(len(w.n)), w.n >= 1


def _linear_regression(w: Window, intercept_ms: np.ndarray, sem: Semantics):
    """linearRegression: slope and intercept at `intercept_ms`, Kahan-compensated sums; a
    constant window gives slope 0 (NaN if the constant is infinite)."""
    t, v = w.s.t, w.s.v
    sums = [_zeros(w) for _ in range(8)]  # sumX, cX, sumY, cY, sumXY, cXY, sumX2, cX2
    init_y = v[w.first()]
    constant = np.ones(len(w.n), dtype=bool)
    for j in range(int(w.n.max(initial=0))):
        y, active = w.at(j)
        if j:
            constant &= ~(active & (y != init_y))
        idx = np.minimum(w.lo + j, len(t) - 1)
        x = (t[idx] - intercept_ms).astype(np.float64) / 1e3
        for k, inc in enumerate((x, y, x * y, x * x)):
            total, comp = kahan_inc(inc, sums[2 * k], sums[2 * k + 1], sem.kahan_sum_aggregation)
            sums[2 * k] = np.where(active, total, sums[2 * k])
            sums[2 * k + 1] = np.where(active, comp, sums[2 * k + 1])
    n = w.n.astype(np.float64)
    sum_x, sum_y, sum_xy, sum_x2 = (sums[2 * k] + sums[2 * k + 1] for k in range(4))
    cov_xy = sum_xy - sum_x * sum_y / n
    var_x = sum_x2 - sum_x * sum_x / n
    slope = cov_xy / var_x
    intercept = sum_y / n - slope * sum_x / n
    infinite = np.isinf(init_y)
    slope = np.where(constant, np.where(infinite, np.nan, 0.0), slope)
    intercept = np.where(constant, np.where(infinite, np.nan, init_y), intercept)
    return slope, intercept


def deriv(w: Window, sem: Semantics):
    slope, _ = _linear_regression(w, w.s.t[w.first()], sem)
    return slope, w.n >= 2


def predict_linear(w: Window, steps: np.ndarray, duration_s: np.ndarray, sem: Semantics):
    slope, intercept = _linear_regression(w, steps, sem)
    return slope * duration_s + intercept, w.n >= 2


def holt_winters(w: Window, sf: np.ndarray, tf: np.ndarray, expr: str):
    """funcHoltWinters (double_exponential_smoothing in 3.0)."""
    from .errors import EvaluationError

    ok = w.n >= 2
    used = w.n >= 1
    for name, factor in (("smoothing", sf), ("trend", tf)):
        bad = used & ~((factor > 0) & (factor < 1))
        if bad.any():
            raise EvaluationError(f"invalid {name} factor. Expected: 0 < {name[0]}f < 1, got: "
                                  f"{factor[bad][0]:f}", expr)
    s0 = _zeros(w)
    s1, _ = w.at(0)
    second, _ = w.at(1)
    b = second - s1
    for i in range(1, int(w.n.max(initial=0))):
        x_i, active = w.at(i)
        x = sf * x_i
        if i > 1:
            b_new = tf * (s1 - s0) + (1 - tf) * b
        else:
            b_new = b
        y = (1 - sf) * (s1 + b_new)
        s0, s1, b = (np.where(active, s1, s0), np.where(active, x + y, s1),
                     np.where(active, b_new, b))
    return s1, ok


def mad_over_time(w: Window):
    """Median absolute deviation from the window's median."""
    ok = w.n >= 1
    out = np.full(len(w.n), np.nan)
    for i in np.flatnonzero(ok):
        values = w.s.v[w.lo[i]:w.hi[i]]
        median = _median(values)
        out[i] = _median(np.abs(values - median))
    return out, ok


def _median(values: np.ndarray) -> float:
    block = sort_nan_first(values[None, :])
    return float(quantile_sorted(np.array([0.5]), block, np.array([len(values)]))[0])
