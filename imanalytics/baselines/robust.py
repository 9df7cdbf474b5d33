"""Vectorised robust statistics used by the profile fits: medians along short axes, Theil-Sen
slopes across columns, circular smoothing over slots of the day or week."""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri


def nanmedian_axis(a: np.ndarray, axis: int = 0) -> np.ndarray:
    """Median along `axis` ignoring NaN (NaN where all are NaN).

    Sorting and picking the middle is several times faster than `np.nanmedian` for the
    short axes here (a few weeks or days), and keeps the NaN-free case exact.
    """
    s = np.sort(a, axis=axis)  # NaN sorts last
    count = np.sum(~np.isnan(a), axis=axis, keepdims=True)
    lo = np.maximum(count - 1, 0) // 2
    hi = np.minimum(count // 2, a.shape[axis] - 1)
    mid = np.take_along_axis(s, lo, axis) + np.take_along_axis(s, hi, axis)
    return np.squeeze(0.5 * mid, axis=axis)


def theil_sen(x: np.ndarray, y: np.ndarray, min_points: int = 2):
    """Per-column robust line through (x, y[:, j]): (slope, intercept at x=0) arrays.

    Columns with fewer than `min_points` finite values get slope 0 and their median.
    """
    i, j = np.triu_indices(len(x), k=1)
    with np.errstate(all="ignore"):
        slopes = (y[j] - y[i]) / (x[j] - x[i])[:, None]
        slope = np.nanmedian(slopes, axis=0) if len(i) else np.zeros(y.shape[1])
    enough = np.sum(np.isfinite(y), axis=0) >= min_points
    slope = np.where(enough & np.isfinite(slope), slope, 0.0)
    with np.errstate(all="ignore"):
        intercept = np.nanmedian(y - slope * x[:, None], axis=0)
    return slope, intercept


def circular_mean(a: np.ndarray, half: int) -> np.ndarray:
    """NaN-aware moving mean over ``2·half + 1`` rows, wrapping around (slots of a cycle)."""
    if half <= 0 or a.shape[0] <= 1:
        return a
    half = min(half, (a.shape[0] - 1) // 2)
    padded = np.concatenate([a[-half:], a, a[:half]]) if half else a
    valid = np.isfinite(padded)
    total = np.cumsum(np.where(valid, padded, 0.0), axis=0)
    count = np.cumsum(valid, axis=0)
    width = 2 * half + 1
    total = np.concatenate([total[width - 1:width], total[width:] - total[:-width]])
    count = np.concatenate([count[width - 1:width], count[width:] - count[:-width]])
    with np.errstate(all="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


# Croux & Rousseeuw (1992) small-sample factors making the MAD unbiased for normal data.
_MAD_SMALL = {2: 1.196, 3: 1.495, 4: 1.363, 5: 1.206, 6: 1.200, 7: 1.140, 8: 1.129, 9: 1.107}


def mad_correction(n: np.ndarray) -> np.ndarray:
    """Factor for a MAD of `n` values (NaN below two values: no spread can be seen)."""
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(all="ignore"):
        out = np.where(n > 9, n / (n - 0.8), np.nan)
    for k, factor in _MAD_SMALL.items():
        out = np.where(n == k, factor, out)
    return out


TAIL_BASE = 0.95  # the quantile whose width an incident in the history hardly moves
TAIL_STRETCH = 1.5  # how far the `tail` quantile may widen a side beyond TAIL_BASE's factor
TAIL_MIN_POINTS = 200  # fewer residuals than this say nothing about tails


def tail_factors(u: np.ndarray, tail: float | None, stretch: float | None = TAIL_STRETCH) -> dict:
    """How much wider than Gaussian each side of standardised residuals `u` is at the
    `tail` quantile (at least 1): ``tail_lower``, ``tail_upper`` per column.

    Incidents in the history sit in the extreme tail: an hour of outage in four weeks is
    past the 0.99 quantile. So the `tail` factor is trusted only up to `TAIL_STRETCH`
    times the factor at `TAIL_BASE`, which a few hours of incidents do not move; skewed
    noise (latencies, ratios) already shows at the 0.95 quantile. ``stretch=None`` trusts
    the `tail` quantile fully.
    """
    n = u.shape[-1] if u.ndim > 1 else 1
    flat = u.reshape(-1, n)
    if tail is None or flat.shape[0] < TAIL_MIN_POINTS:
        return {"tail_lower": np.ones(n), "tail_upper": np.ones(n)}
    with np.errstate(all="ignore"):
        flat = np.where(np.isfinite(flat), flat, 0.0)
    low, base_low, base_high, high = np.quantile(
        flat, [1 - tail, 1 - TAIL_BASE, TAIL_BASE, tail], axis=0)
    z, z_base = float(ndtri(tail)), float(ndtri(TAIL_BASE))
    cap = np.inf if stretch is None else stretch
    lower = np.minimum(-low / z, cap * np.maximum(1.0, -base_low / z_base))
    upper = np.minimum(high / z, cap * np.maximum(1.0, base_high / z_base))
    return {"tail_lower": np.maximum(1.0, lower), "tail_upper": np.maximum(1.0, upper)}
