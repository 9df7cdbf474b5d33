"""`SeasonalProfile`: robust centre and spread per slot of the week (or day), trend-adjusted.

The history is cut into its most recent seasons (weeks, or days when less than three weeks
are available). Each season gets a level (the median of its deviations from the slot
profile; a ratio for positive series, whose growth is proportional), a Theil-Sen line
through the levels gives the trend, and per slot the centre is the median over seasons of
the de-levelled values: one abnormal week out of four moves no median.

The spread is measured the way a forecast will meet it: each season's residuals are taken
against the profile of the *other* seasons, their median absolute value per slot gives a
sigma, smoothed over neighbouring slots. Each side of the band then widens by how much
heavier than normal the residuals' tail is (their `tail` quantile), so skewed SLIs —
ratios, latencies — get a wider upper side, and floors keep the spread above zero.

It fits one series (`pd.Series`) or many at once (a wide `pd.DataFrame`, one column per
series, all columns in a few vectorised numpy passes); `predict_bands`, `bands` and
`score` then return one result per column.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import checks, robust
from .base import (
    MEAN_ABS_TO_SIGMA,
    Baseline,
    floor_spread,
    follow_level,
    keep_params,
    mean_z,
    recent_scale,
    share_floor,
    shift_scale,
    signed_scores,
)

DAY_NS = 86_400 * 10**9
WEEK_NS = 7 * DAY_NS
# A slot's median over two weeks is their mean, which one abnormal week drags along.
WEEKS_FOR_WEEKLY = 3
MONDAY_NS = 4 * DAY_NS  # 1970-01-05, the first Monday after the epoch: week slots start there
SEASONS = {"week": WEEK_NS, "day": DAY_NS, "none": DAY_NS}  # "none": one slot, daily levels
CHUNK = 512  # columns per block in multi-series fits: bounded memory, one block per thread


class SeasonalProfile(Baseline):
    """Median/MAD profile per slot of the week or day, with trend and level following.

    Parameters
    ----------
    season : "auto", "week", "day" or "none"
        "auto" takes "week" from three weeks of history (the median of two weeks is their
        mean, which one abnormal week drags along), else "day" (needs two days).
    slot : duration of one profile slot ("5m").
    history : how much recent history the profile uses ("28d": four weeks).
    trend : fit a robust linear trend through the seasons' levels (multiplicative for
        series that are always positive, additive otherwise).
    adapt : window of the trailing median of residuals added to the centre when scoring,
        so a lasting level shift stops alerting within half the window; None disables.
    sensitivity : band half-width in spreads; a value on the band edge scores 0.5.
    direction : "upper", "lower" or "both": the side(s) `score` keeps.
    min_rel_spread : spread floor as a fraction of the centre.
    smooth : spreads are averaged over slots within this window ("1h").
    tail : residual quantile that widens each side of the band where the noise has heavier
        tails than a normal distribution (ratios and latencies skew up); None: no widening.
    shift : window of a second, level-shift score (single series only): the trailing mean
        of the in-band deviations over this window, less its usual value in the history,
        in units of how much it wandered there (at least 0.3 spreads), scored like a value;
        a row's score is the larger of the two. It catches a sustained deviation too small
        for any single value to leave the band. None: off (`auto` turns it on for series
        without a daily rhythm).
    """

    shift = None  # class default: a profile saved without this parameter reads as off

    def __init__(self, season="auto", slot="5m", history="28d", trend=True, adapt="1d",
                 sensitivity=4.0, direction="both", min_rel_spread=0.05, smooth="1h",
                 tail=0.99, shift=None):
        keep_params(self, locals())

    # -- fitting

    def fit(self, series, y=None):
        """Fit one series (pd.Series) or every column of a wide DataFrame at once."""
        self._validate_params()
        if self.season not in (*SEASONS, "auto"):
            raise checks.BaselineInputError(
                f"SeasonalProfile: season must be auto, week, day or none (got {self.season!r})")
        who = type(self).__name__
        if isinstance(series, pd.DataFrame):
            frame = checks.as_frame(series, who)
            for column in frame.columns:
                checks.check_values(frame[column].to_numpy(), who, column)
            frame = _canonical_frame(frame)
            self.columns_ = frame.columns
            self.step_ = checks.check_sampling(frame.index, who)
        else:
            frame = checks.fit_input(series, who).to_frame()
            self.columns_ = None
            self.step_ = checks.check_sampling(frame.dropna().index, who)
        self._fit_frame(frame)
        self.shift_scale_, self.shift_centre_ = None, 0.0
        if self.shift is not None and self.columns_ is None:
            self.shift_centre_, self.shift_scale_ = shift_scale(
                self._mean_z(frame.iloc[:, 0]), self._shift_ns(), self.step_)
        return self

    # -- level-shift score

    def signed_score(self, series):
        """Scores in [-1, 1]; with `shift`, the larger of the value's and the shift's."""
        scores = super().signed_score(series)
        if getattr(self, "shift_scale_", None) is None:
            return scores
        x = self._input(series)
        clean = self._canonical(x)
        z = self._mean_z(clean) - getattr(self, "shift_centre_", 0.0)
        z = z / recent_scale(clean.index, z, self.shift_scale_, self._shift_ns())
        shifted = signed_scores(z, 0.0, 1.0, 1.0, self.sensitivity)
        shifted = shifted[clean.index.get_indexer(x.index)]
        return scores.where(np.abs(scores.to_numpy()) >= np.abs(shifted), shifted)

    def _mean_z(self, clean: pd.Series) -> np.ndarray:
        centre, lo, hi = self._context_bands(clean)
        return mean_z(clean.index, clean.to_numpy(dtype=np.float64), centre, lo, hi,
                      self._shift_ns(), self.step_, self.sensitivity)

    def _shift_ns(self) -> int:
        return checks.duration_ns(self.shift, "shift")

    def _fit_frame(self, frame: pd.DataFrame) -> None:
        slot = checks.duration_ns(self.slot, "slot")
        t = checks.ns(frame.index)
        a = (t - MONDAY_NS) // slot
        span = (int(a[-1] - a[0]) + 1) * slot
        self.season_ = self._choose_season(span)
        pooled = self.season_ == "none"
        season = SEASONS[self.season_]
        if season % slot:
            raise checks.BaselineInputError(f"SeasonalProfile: slot {self.slot!r} must divide "
                                            f"one {self.season_}")
        n_slots = season // slot
        periods = self._periods(span, season)
        base = int(a[-1]) - periods * n_slots + 1
        grid = _slot_grid(frame.to_numpy(), a, base, periods * n_slots)
        half = int(checks.duration_ns(self.smooth, "smooth") // (2 * slot))
        on_grid = _on_grid(t, slot)
        fit = _fit_blocks(grid.reshape(periods, n_slots, -1), _Settings(
            pooled, bool(self.trend), season / DAY_NS, 0 if pooled else half,
            self.tail, keep_loo=not on_grid))
        roll = base % n_slots  # cube column j holds slot (base + j) % n_slots
        if not on_grid:
            fit.update(_raw_spread(frame.to_numpy(), a, base, n_slots, fit, self.tail,
                                   0 if pooled else half))
        self.slot_ns_, self.n_slots_, self.n_periods_ = slot, n_slots, periods
        self.t_base_ = base * slot + MONDAY_NS  # start of the oldest season in the profile
        self.profile_ = _fill_empty_slots(np.roll(fit["profile"], roll, axis=0))
        self.level_, self.slope_, self.tiny_ = fit["level"], fit["slope"], fit["tiny"]
        self.multiplicative_ = fit["multiplicative"].astype(bool)
        self.global_spread_ = fit["global"]
        sigma = np.roll(fit["sigma"], roll, axis=0)
        self.spread_ = np.where(np.isfinite(sigma), sigma, self.global_spread_)
        self.tail_lower_, self.tail_upper_ = fit["tail_lower"], fit["tail_upper"]

    def _periods(self, span: int, season: int) -> int:
        history = checks.duration_ns(self.history, "history")
        periods = min(-(-span // season), history // season)
        if periods < 2 and self.season_ != "none":
            raise checks.BaselineInputError(
                f"SeasonalProfile: history {self.history!r} must cover at least two "
                f"{self.season_}s")
        return max(1, periods)

    def _choose_season(self, span: int) -> str:
        needed = {"week": 2 * WEEK_NS, "day": 2 * DAY_NS, "none": 0}
        season = self.season
        if season == "auto":
            season = "week" if span >= WEEKS_FOR_WEEKLY * WEEK_NS else "day"
        if span < needed[season]:
            raise checks.ShortHistoryError(
                f"SeasonalProfile: a {season}ly profile needs at least two {season}s of "
                f"history, got {checks.human(span)}; use season='none' or "
                "imanalytics.baselines.auto() for short series")
        return season

    # -- bands

    def _fitted_bands(self, index):
        centre, lo, hi = self._centre_spread(checks.ns(pd.DatetimeIndex(index)))
        return self._shape(centre), self._shape(lo), self._shape(hi)

    def _context_bands(self, clean):
        centre, lo, hi = self._centre_spread(checks.ns(clean.index))
        if self.adapt is not None:
            values = np.asarray(clean.to_numpy(), dtype=np.float64).reshape(centre.shape)
            centre = centre + follow_level(clean.index, values, centre, lo, hi,
                                           checks.duration_ns(self.adapt, "adapt"), self.step_)
        return self._shape(centre), self._shape(lo), self._shape(hi)

    def _centre_spread(self, t: np.ndarray):
        """Centre and the spreads below and above it, (times, series) arrays."""
        slots = ((t - MONDAY_NS) // self.slot_ns_) % self.n_slots_
        if self.season_ == "none":
            slots = np.zeros_like(slots)
        # The profile holds the within-season part of the trend, so the level is the trend
        # line at the middle of the season holding t (at most one season ahead).
        season = SEASONS[self.season_]
        k = np.minimum((t - self.t_base_) // season, self.n_periods_)
        mid_days = (k + 0.5 - self.n_periods_) * (season / DAY_NS)
        level = self.level_[None, :] + self.slope_[None, :] * mid_days[:, None]
        mult = self.multiplicative_[None, :]
        flat_centre = self.profile_[slots]
        centre = apply_level(flat_centre, level, mult)
        reference = np.where(mult, flat_centre, centre)  # the centre in flat units
        widths = []
        for tail in (self.tail_lower_, self.tail_upper_):
            width = floor_spread(self.spread_[slots] * tail[None, :], reference,
                                 self.min_rel_spread, self.global_spread_[None, :],
                                 self.tiny_[None, :])
            widths.append(np.where(mult, apply_level(width, level, mult), width))
        return centre, widths[0], widths[1]

    def _shape(self, values: np.ndarray) -> np.ndarray:
        return values[:, 0] if self.columns_ is None else values

    # -- multi-series input and output

    def _input(self, x):
        if isinstance(x, pd.DataFrame) and self.columns_ is not None:
            frame = checks.as_frame(x, type(self).__name__)
            missing = self.columns_.difference(frame.columns)
            if len(missing):
                raise checks.BaselineInputError(
                    f"SeasonalProfile: columns {list(missing)[:3]} were fitted but are missing")
            return frame[self.columns_]
        if self.columns_ is not None:
            raise checks.BaselineInputError(
                "SeasonalProfile was fitted on a DataFrame; score a DataFrame with the same "
                "columns")
        return checks.as_series(x, type(self).__name__)

    def _canonical(self, x):
        return _canonical_frame(x) if isinstance(x, pd.DataFrame) else checks.canonical(x)

    def _band_columns(self):
        return self.columns_


def _canonical_frame(frame: pd.DataFrame) -> pd.DataFrame:
    values = frame.to_numpy()
    if not np.isfinite(values).all():
        frame = frame.where(np.isfinite(values))
    if frame.index.is_monotonic_increasing and frame.index.is_unique:
        return frame
    return frame.groupby(level=0, sort=True).median()


def _on_grid(t: np.ndarray, slot: int) -> bool:
    return bool(((t - MONDAY_NS) % slot == 0).all() and (np.diff(t) == slot).all())


def _slot_grid(values: np.ndarray, a: np.ndarray, base: int, rows: int) -> np.ndarray:
    """Slot medians on consecutive slots ``base .. base + rows - 1`` (NaN where empty)."""
    if len(a) == rows and a[0] == base and (np.diff(a) == 1).all():
        return values  # already one sample per slot: no copy
    keep = a >= base
    grid = np.full((rows, values.shape[1]), np.nan)
    if (np.diff(a[keep]) == 1).all():
        grid[a[keep] - base] = values[keep]
        return grid
    binned = pd.DataFrame(values[keep]).groupby(a[keep] - base).median()
    grid[binned.index.to_numpy()] = binned.to_numpy()
    return grid


@dataclass(frozen=True)
class _Settings:
    pooled: bool  # one slot for the whole season ("none")
    trend: bool
    season_days: float
    half: int  # slots each side the spread is averaged over
    tail: float | None
    keep_loo: bool  # return the leave-one-out profiles (needed for off-grid residuals)


def _fit_blocks(cube: np.ndarray, settings: _Settings) -> dict:
    """Fit column blocks of a (periods, slots, series) cube, in threads when it is large."""
    n = cube.shape[2]
    if n <= CHUNK:
        return _fit_cube(cube, settings)
    blocks = [(j, min(j + CHUNK, n)) for j in range(0, n, CHUNK)]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        parts = list(pool.map(lambda b: _fit_cube(cube[:, :, b[0]:b[1]], settings), blocks))
    return {key: np.concatenate([p[key] for p in parts], axis=-1) for key in parts[0]}


def _fit_cube(cube: np.ndarray, settings: _Settings) -> dict:
    """Levels, trend line, profile and spread for one block of series.

    Positive series get multiplicative levels (traffic grows in proportion: the night
    grows less in absolute terms than the evening peak); others additive ones. Profile,
    residuals and sigma are in "flat" units: values with their season's level removed.
    """
    periods = cube.shape[0]
    over_periods = _pooled_median if settings.pooled else robust.nanmedian_axis
    mult = np.zeros(cube.shape[2], dtype=bool)
    levels = np.zeros((periods, cube.shape[2]))
    if settings.trend:
        with np.errstate(all="ignore"):
            mult = np.nanmin(cube, axis=(0, 1)) > 0
            scaled = np.where(mult, np.log(np.where(mult, cube, 1.0)), cube)
        first = over_periods(scaled, 0)
        levels = np.nan_to_num(robust.nanmedian_axis(scaled - first[None], 1))  # (periods, n)
    flat = remove_level(cube, levels[:, None, :], mult)
    profile = over_periods(flat, 0)
    # Period midpoints in days relative to the end of the history.
    mid = -(periods - np.arange(periods) - 0.5) * settings.season_days
    slope, level = robust.theil_sen(mid, levels) if settings.trend else (levels[0], levels[0])
    out = {"profile": profile, "levels": levels, "level": level, "slope": slope,
           "multiplicative": mult,
           "tiny": 1e-9 * np.maximum(np.nan_to_num(np.nanmedian(np.abs(profile), axis=0)), 1)}
    # Residuals against the profile of the *other* seasons: what a forecast will really see.
    loo = profile[None] if settings.pooled else _leave_one_out(flat)
    if settings.keep_loo:
        out["loo"] = loo
        return out
    residual = flat - loo
    count = np.full(profile.shape, residual.size // residual.shape[2]) if settings.pooled \
        else np.sum(np.isfinite(residual), axis=0)
    sigma = _sigma(over_periods(np.abs(residual), 0), count, settings.half)
    out.update(_floored(sigma, np.nanmean(np.abs(residual), axis=(0, 1))))
    with np.errstate(all="ignore"):  # a zero sigma (constant series) gives Inf: ignored
        out.update(robust.tail_factors(residual / out["sigma"][None], settings.tail))
    return out


def _floored(sigma: np.ndarray, mean_abs: np.ndarray) -> dict:
    """Slot sigmas raised to their share of the overall one, and that overall sigma."""
    overall = _global_sigma(sigma, mean_abs)
    return {"sigma": share_floor(sigma, overall[None, :]), "global": overall}


def apply_level(x, level, mult):
    """`x` at `level`: scaled by exp(level) where multiplicative, shifted elsewhere."""
    return np.where(mult, x * np.exp(np.where(mult, level, 0.0)), x + level)


def remove_level(x, level, mult):
    return np.where(mult, x * np.exp(-np.where(mult, level, 0.0)), x - level)


def _leave_one_out(flat: np.ndarray) -> np.ndarray:
    """For each season, the slot medians of the other seasons."""
    return np.stack([robust.nanmedian_axis(np.delete(flat, p, axis=0), 0)
                     for p in range(flat.shape[0])])


def _sigma(median_abs: np.ndarray, count: np.ndarray, half: int) -> np.ndarray:
    """Sigma from the median |residual| of `count` values per slot, averaged over slots."""
    with np.errstate(all="ignore"):
        # E[median of n half-normal values] ~ 0.6745 + 0.2/n (n >= 3), the mean's 0.798 below.
        expected = np.where(count >= 3, 0.6745 + 0.2 / np.maximum(count, 1), 0.7979)
        sigma = np.where(count > 0, median_abs / expected, np.nan)
    return robust.circular_mean(sigma, half)


def _raw_spread(values, a, base, n_slots, fit, tail, half) -> dict:
    """Spread from the raw samples (several per slot) against the leave-one-out profiles."""
    keep = a >= base
    a, values = a[keep], values[keep]
    period, slot = (a - base) // n_slots, (a - base) % n_slots  # cube coordinates
    loo = fit.pop("loo")
    pooled = loo.shape[1] == 1
    flat = remove_level(values, fit["levels"][period], fit["multiplicative"][None, :])
    residual = flat - loo[period if not pooled else 0, 0 if pooled else slot]
    group = np.zeros_like(slot) if pooled else slot
    slots = range(loo.shape[1])
    groups = pd.DataFrame(np.abs(residual)).groupby(group)
    median_abs = groups.median().reindex(slots).to_numpy()
    count = groups.count().reindex(slots).to_numpy()
    out = _floored(_sigma(median_abs, count, half), np.nanmean(np.abs(residual), axis=0))
    with np.errstate(all="ignore"):
        out.update(robust.tail_factors(residual / out["sigma"][group], tail))
    return out


def _pooled_median(cube: np.ndarray, _axis: int) -> np.ndarray:
    """Median over seasons and slots together: the one-slot profile of season "none"."""
    flat = cube.reshape(-1, cube.shape[2])
    return robust.nanmedian_axis(flat, 0)[None, :]


def _fill_empty_slots(profile: np.ndarray) -> np.ndarray:
    """Slots no sample fell into take the value interpolated between their neighbours."""
    empty = np.isnan(profile)
    if not empty.any() or len(profile) == 1:
        return profile
    out = profile.copy()
    slots = np.arange(len(profile))
    for j in np.flatnonzero(empty.any(axis=0) & ~empty.all(axis=0)):
        known = ~empty[:, j]
        out[:, j] = np.interp(slots, slots[known], profile[known, j], period=len(profile))
    return out


def _global_sigma(spread: np.ndarray, mean_abs: np.ndarray) -> np.ndarray:
    """Overall sigma per series: median slot sigma, or from the mean |residual| if that is 0."""
    with np.errstate(all="ignore"):
        sigma = np.nanmedian(spread, axis=0)
    sigma = np.nan_to_num(sigma)
    return np.where(sigma > 0, sigma, MEAN_ABS_TO_SIGMA * np.nan_to_num(mean_abs))
