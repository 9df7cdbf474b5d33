"""Float arithmetic exactly as Prometheus' Go code does it, vectorised over steps."""

from __future__ import annotations

import numpy as np


def kahan_inc(inc, total, comp, inf_guard: bool):
    """kahanSumInc (Neumaier variant); `inf_guard` zeroes the compensation once the sum
    overflows, as Prometheus does from 2.53 on."""
    t = total + inc
    big = np.abs(total) >= np.abs(inc)
    comp = comp + np.where(big, (total - t) + inc, (inc - t) + total)
    if inf_guard:
        comp = np.where(np.isinf(t), 0.0, comp)
    return t, comp


def go_duration_seconds(ms: int) -> float:
    """time.Duration.Seconds(): whole seconds plus the remainder as a separate fraction."""
    sec, rem = divmod(ms, 1000) if ms >= 0 else (-((-ms) // 1000), -((-ms) % 1000))
    return float(sec) + float(rem * 1_000_000) / 1e9


def sort_nan_first(block: np.ndarray) -> np.ndarray:
    """Sort rows ascending with NaN first, as Prometheus' vectorByValueHeap orders them."""
    nan_count = np.isnan(block).sum(axis=1, keepdims=True)
    ordered = np.sort(block, axis=1)  # NaN last
    width = block.shape[1]
    shift = (np.arange(width)[None, :] - nan_count) % width
    return np.take_along_axis(ordered, shift, axis=1)


def quantile_sorted(q: np.ndarray, ordered: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Prometheus' quantile() over rows whose first `counts[i]` entries are sorted values."""
    n = counts.astype(np.float64)
    with np.errstate(invalid="ignore"):
        rank = q * (n - 1)
        lower = np.maximum(0.0, np.floor(rank))
        upper = np.minimum(n - 1, lower + 1)
        weight = rank - np.floor(rank)
    valid = np.isfinite(rank) & (q >= 0) & (q <= 1)
    top = max(ordered.shape[1] - 1, 0)
    li = np.clip(np.where(valid, lower, 0), 0, top).astype(np.intp)
    ui = np.clip(np.where(valid, upper, 0), 0, top).astype(np.intp)
    rows = np.arange(len(counts))
    out = ordered[rows, li] * (1 - weight) + ordered[rows, ui] * weight
    out = np.where(q < 0, -np.inf, np.where(q > 1, np.inf, out))
    out = np.where(np.isnan(q), np.nan, out)
    return np.where(counts > 0, out, np.nan)


def bisect_like_go(n: int, count: int, test) -> np.ndarray:
    """sort.Search(n, f) for `count` independent searches; `test(rows, h)` gives f(h) for the
    searches in `rows` at candidate indices `h`."""
    lo = np.zeros(count, dtype=np.intp)
    hi = np.full(count, n, dtype=np.intp)
    while True:
        active = np.flatnonzero(lo < hi)
        if active.size == 0:
            return lo
        mid = (lo[active] + hi[active]) >> 1
        ok = test(active, mid)
        lo[active] = np.where(ok, lo[active], mid + 1)
        hi[active] = np.where(ok, mid, hi[active])
