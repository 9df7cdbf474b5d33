"""`STLBands`: a statsmodels STL decomposition on a regular grid; the seasonal component per
slot of the period is the centre's shape, the residuals' MAD per slot its spread."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from statsmodels.tsa.seasonal import STL

from . import checks, robust
from .base import (
    Baseline,
    LevelFollowing,
    floor_spread,
    keep_params,
    slot_spread,
    tiny_floor,
)
from .seasonal import DAY_NS, MONDAY_NS, WEEK_NS, WEEKS_FOR_WEEKLY

JUMP_SHARE = 0.1  # loess evaluated every 10% of its window and interpolated (R's stl default)


class STLBands(LevelFollowing, Baseline):
    """STL (Loess seasonal-trend decomposition) residual bands.

    Parameters
    ----------
    period : "auto" ("1w" from three weeks of history, else "1d"), "1d" or "1w".
    step : grid the series is put on before decomposing ("5m"); gaps are interpolated.
    robust : STL's robust fitting, so incidents in the history bend the components less.
    seasonal : STL's seasonal smoother length (odd, >= 7).
    history : how much recent history is decomposed ("28d").
    adapt, sensitivity, direction, min_rel_spread, smooth, tail : as for `SeasonalProfile`.
    """

    def __init__(self, period="auto", step="5m", robust=True, seasonal=7, history="28d",
                 adapt="1d", sensitivity=4.0, direction="both", min_rel_spread=0.05,
                 smooth="1h", tail=0.99):
        keep_params(self, locals())

    def _fit(self, clean: pd.Series) -> None:
        step = checks.duration_ns(self.step, "step")
        history = checks.duration_ns(self.history, "history")
        finite = clean.dropna()
        t = checks.ns(finite.index)
        keep = t > t[-1] - history
        t, v = t[keep], finite.to_numpy()[keep]
        bins = (t - MONDAY_NS) // step
        first = int(bins[0])
        period_ns = self._period_ns((int(bins[-1]) - first + 1) * step)
        if period_ns % step:
            raise checks.BaselineInputError(f"STLBands: step {self.step!r} must divide the period")
        n_slots = period_ns // step
        grid, observed = _grid(bins - first, v)
        result = STL(grid, period=n_slots, seasonal=self.seasonal, robust=self.robust,
                     **_jumps(n_slots, self.seasonal)).fit()
        slots = (np.arange(len(grid)) + first) % n_slots
        seasonal = pd.Series(result.seasonal[observed]).groupby(slots[observed]).median()
        self.seasonal_ = seasonal.reindex(range(n_slots)).fillna(0.0).to_numpy()
        self.level_ = float(result.trend[-1])
        self.step_ns_, self.n_slots_, self.period_ = step, n_slots, period_ns
        self.step_ = int(np.median(np.diff(t))) if len(t) > 1 else step
        # Residuals of the raw samples against the trend and, per cycle, the seasonal profile
        # of the *other* cycles: STL's own cycle-by-cycle seasonal follows the noise, so
        # its residuals would make the bands far too narrow.
        cycle = (bins - first + first % n_slots) // n_slots
        fitted = result.trend[bins - first] + _leave_one_cycle_out(
            result.seasonal, observed, first, n_slots)[cycle, bins % n_slots]
        half = int(checks.duration_ns(self.smooth, "smooth") // (2 * step))
        self.spread_, self.global_spread_, self.tail_lower_, self.tail_upper_ = slot_spread(
            bins % n_slots, v - fitted, n_slots, half, self.tail)
        self.tiny_ = float(tiny_floor(v))

    def _period_ns(self, span: int) -> int:
        periods = {"1d": DAY_NS, "1w": WEEK_NS}
        if self.period == "auto":
            period = WEEK_NS if span >= WEEKS_FOR_WEEKLY * WEEK_NS else DAY_NS
        elif self.period in periods:
            period = periods[self.period]
        else:
            raise checks.BaselineInputError(
                f"STLBands: period must be auto, 1d or 1w (got {self.period!r})")
        if span < 2 * period:
            raise checks.ShortHistoryError(
                f"STLBands: a period of {checks.human(period)} needs two periods of history, "
                f"got {checks.human(span)}")
        return period

    def _fitted_bands(self, index):
        t = checks.ns(pd.DatetimeIndex(index))
        slots = ((t - MONDAY_NS) // self.step_ns_) % self.n_slots_
        centre = self.level_ + self.seasonal_[slots]
        lo, hi = (floor_spread(self.spread_[slots] * tail, centre, self.min_rel_spread,
                               self.global_spread_, self.tiny_)
                  for tail in (self.tail_lower_, self.tail_upper_))
        return centre, lo, hi


def _grid(rows: np.ndarray, values: np.ndarray):
    """Median per grid row, gaps filled by linear interpolation; and which rows had data."""
    medians = pd.Series(values).groupby(rows).median()
    grid = np.full(int(rows[-1]) + 1, np.nan)
    grid[medians.index.to_numpy()] = medians.to_numpy()
    observed = np.isfinite(grid)
    where = np.flatnonzero(observed)
    grid = np.interp(np.arange(len(grid)), where, grid[where])
    return grid, observed


def _leave_one_cycle_out(seasonal, observed, first: int, n_slots: int) -> np.ndarray:
    """(cycles, slots): median seasonal value per slot over all cycles but each one."""
    rows = np.arange(len(seasonal)) + first % n_slots
    table = np.full((rows[-1] // n_slots + 1, n_slots), np.nan)
    table[rows[observed] // n_slots, rows[observed] % n_slots] = seasonal[observed]
    if len(table) < 2:
        return table
    return np.stack([robust.nanmedian_axis(np.delete(table, c, axis=0), 0)
                     for c in range(len(table))])


def _jumps(period: int, seasonal: int) -> dict:
    # statsmodels evaluates every loess at every point by default; R's stl() interpolates
    # between points 10% of a window apart, which is ~20x faster and visually identical.
    trend = math.ceil(1.5 * period / (1 - 1.5 / seasonal))
    trend += trend % 2 == 0
    low_pass = period + (period % 2 == 0)
    return {"seasonal_jump": max(1, int(JUMP_SHARE * seasonal)),
            "trend_jump": max(1, int(JUMP_SHARE * trend)),
            "low_pass_jump": max(1, int(JUMP_SHARE * low_pass))}
