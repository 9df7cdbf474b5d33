"""`auto(series)`: one entry point that picks and fits a baseline for a univariate SLI of
unknown cadence and seasonality.

What it does, in order:

1. Validates the series (tz-aware index, numbers, not a raw counter) and puts it in time
   order with one value per timestamp (median of duplicates) — the input itself may be
   irregular, duplicated or out of order; `score` answers row by row in the input's order.
2. Picks a slot: the sampling cadence rounded up to 5m, 10m, 15m, 30m, 1h, ... (at least 5m).
3. Detects seasonality on that grid from autocorrelations of the series less its linear
   trend and what drifts slower than a week (seasons would hide a weekly cycle): daily
   when ``acf(1d)`` is at least `MIN_ACF` and clearly above ``acf(12h)`` (so a slowly
   wandering series is not mistaken for a rhythm), weekly when, with three weeks of
   history, ``acf(1w)`` beats ``acf(1d)`` by `WEEKLY_MARGIN` (weekends differ from
   weekdays) or when a weekly profile's held-out residuals are clearly smaller than a
   daily one's. Three weeks, not two: a slot's median over two weeks is their mean, which
   one abnormal week drags along; with fewer weeks a daily profile over many days is safer.
4. Returns a fitted `SeasonalProfile` with that season ("none" when there is no rhythm or
   less than two days): medians and MADs are robust to incidents in the history, the
   per-season levels and the trailing-median level following absorb level shifts.
5. Without a daily rhythm it adds the profile's level-shift score over `SHIFT_WINDOW`: a
   one-level profile re-levelled daily sees a slow excursion (a machine warming over a
   day) only as a sustained deviation inside the band. With a rhythm it does not: the
   slot profile already holds the daily swing, and the residual left around its busy hours
   (latency rising with load) is no incident.

Its `score` and `default_threshold` (0.5: the band edge, 4 spreads from the centre)
are what threshold reviews and the CLI use when nobody chose an estimator.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import checks
from .seasonal import DAY_NS, MONDAY_NS, WEEK_NS, WEEKS_FOR_WEEKLY, SeasonalProfile

SLOTS = ("5m", "10m", "15m", "30m", "1h", "2h", "3h", "4h", "6h", "12h")
MIN_ACF = 0.3  # weaker day-to-day resemblance is not worth a profile
RHYTHM_MARGIN = 0.1  # acf(1d) must beat acf(12h) by this much
WEEKLY_MARGIN = 0.05  # acf(1w) must beat acf(1d) by this much
WEEKLY_SPREAD_GAIN = 0.9  # a weekly profile must cut the daily one's spread by 10 %
SHIFT_WINDOW = "12h"  # level-shift score of series without a rhythm (half a day)


@dataclass(frozen=True)
class Choice:
    """What `auto` picked and why."""

    season: str
    slot: str
    adapt: str
    cadence: pd.Timedelta
    span: pd.Timedelta
    acf: dict[str, float]
    shift: str | None = None

    def estimator(self) -> SeasonalProfile:
        return SeasonalProfile(season=self.season, slot=self.slot, adapt=self.adapt,
                               shift=self.shift)


def auto(series) -> SeasonalProfile:
    """A fitted baseline for `series` (see the module docstring for how it is chosen)."""
    return choose(series).estimator().fit(series)


def choose(series) -> Choice:
    """The season, slot and level-following window `auto` would use for `series`."""
    x = checks.as_series(series, "auto")
    checks.check_values(x.sort_index(kind="stable").to_numpy(), "auto")
    clean = checks.canonical(x).dropna()
    if len(clean) < checks.MIN_POINTS:
        raise checks.ShortHistoryError(
            f"auto needs at least {checks.MIN_POINTS} finite values, got {len(clean)}")
    t = checks.ns(clean.index)
    cadence = int(np.median(np.diff(t)))
    span = int(t[-1] - t[0]) + cadence  # the last sample covers one more interval
    slot = _slot(cadence)
    acf = _autocorrelations(t, clean.to_numpy(), checks.duration_ns(slot, "slot"), span)
    season = _season(acf, span)
    if season == "day" and span >= WEEKS_FOR_WEEKLY * WEEK_NS and _weekly_fits_better(clean, slot):
        season = "week"
    return Choice(season=season, slot=slot, adapt=_adapt(span),
                  cadence=pd.Timedelta(cadence, "ns"), span=pd.Timedelta(span, "ns"), acf=acf,
                  shift=SHIFT_WINDOW if season == "none" else None)


def _slot(cadence_ns: int) -> str:
    for slot in SLOTS:
        if checks.duration_ns(slot, "slot") >= cadence_ns:
            return slot
    return SLOTS[-1]


def _season(acf: dict[str, float], span: int) -> str:
    day, half, week = acf.get("1d", np.nan), acf.get("12h", np.nan), acf.get("1w", np.nan)
    daily = span >= 2 * DAY_NS and day >= MIN_ACF and day >= half + RHYTHM_MARGIN
    weeks = span >= WEEKS_FOR_WEEKLY * WEEK_NS
    if weeks and week >= MIN_ACF and week >= day + WEEKLY_MARGIN:
        return "week"
    return "day" if daily else "none"


def _weekly_fits_better(clean: pd.Series, slot: str) -> bool:
    """Whether a weekly profile forecasts the history clearly better than a daily one.

    A weekend dip a third the size of the daily swing hardly moves the autocorrelations,
    yet a daily profile takes it for noise and every weekend for an incident. Compared
    here by what matters: the overall spread of each profile's held-out residuals.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spreads = [SeasonalProfile(season=s, slot=slot, adapt=None).fit(clean).global_spread_[0]
                   for s in ("day", "week")]
    return bool(spreads[1] <= WEEKLY_SPREAD_GAIN * spreads[0])


def _adapt(span: int) -> str:
    # A day when there is room for it; on short histories, half the history (at least 1h).
    hours = int(min(24, max(1, span // (2 * 3600 * 10**9))))
    return "1d" if hours == 24 else f"{hours}h"


def _autocorrelations(t: np.ndarray, v: np.ndarray, slot: int, span: int) -> dict[str, float]:
    """Autocorrelation at 12h, 1d and 1w on the slot grid, after removing a linear trend
    and what drifts slower than a week."""
    rows = (t - MONDAY_NS) // slot
    grid = pd.Series(v).groupby(rows - rows[0]).median()
    y = np.full(int(rows[-1] - rows[0]) + 1, np.nan)
    y[grid.index.to_numpy()] = grid.to_numpy()
    ok = np.isfinite(y)
    x = np.arange(len(y))
    slope, intercept = np.polyfit(x[ok], y[ok], 1) if ok.sum() > 2 else (0.0, 0.0)
    y = y - (slope * x + intercept)
    y = y - _slow_part(y, WEEK_NS // slot)
    out = {}
    for name, lag_ns in (("12h", DAY_NS // 2), ("1d", DAY_NS), ("1w", WEEK_NS)):
        lag = lag_ns // slot
        if span >= 2 * lag_ns and lag > 0:
            out[name] = _corr(y[lag:], y[:-lag])
    return out


def _slow_part(y: np.ndarray, week: int) -> np.ndarray:
    """The centred one-week moving mean: a drift slower than a week (the seasons of a
    room's temperature) would otherwise hide a daily or weekly cycle from the
    autocorrelations, while a mean over exactly one week leaves both cycles whole."""
    return pd.Series(y).rolling(week, center=True, min_periods=max(1, week // 4)).mean() \
        .to_numpy()


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return float("nan")
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denom) if denom > 0 else float("nan")
