"""What every baseline shares: the estimator contract, bands, and the anomaly score.

A baseline learns, for each moment, a centre and a spread below and above it. The band at
sensitivity ``k`` is ``centre ± k·spread``. The anomaly score of a value ``x`` is

    z = (x - centre) / spread        score = z² / (z² + k²)    (k = `sensitivity`)

so a value on the band edge scores exactly 0.5 (the `default_threshold`), the centre
scores 0 and the score tends to 1 far outside.

The default sensitivity is 4 spreads, not the textbook 3: SLIs are sampled every minute
and their noise is correlated over many minutes, so a 3-spread band is crossed for the
five minutes of a typical ``for:`` about once a week per series by noise alone, while real
incidents are rarely that subtle. Spreads are honest forecast errors (see each estimator),
with tails widened where the noise is heavier than normal. `signed_score` carries the side (negative
below the centre); `score` keeps the side(s) named by `direction`. A missing value (NaN)
scores 0 — no evidence, as an absent series resolves a Prometheus alert — and ±Inf scores
1 on its side. Scores are causal: a point's score uses the fitted state and the data up to
and including that point only.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from . import checks, robust

UPPER, LOWER, BOTH = "upper", "lower", "both"
DIRECTIONS = (UPPER, LOWER, BOTH)
BAND_COLUMNS = ["lower", "centre", "upper"]
MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this is its standard deviation
MEAN_ABS_TO_SIGMA = 1.2533
GLOBAL_SPREAD_SHARE = 0.25  # a slot's spread never drops below this share of the overall one


def keep_params(estimator: BaseEstimator, given: dict) -> None:
    """Store every `__init__` parameter as given, as scikit-learn's contract asks (no logic
    in `__init__`: checks happen in `fit`); `given` is the `__init__`'s ``locals()``."""
    for name in estimator._get_param_names():
        setattr(estimator, name, given[name])


class Baseline(BaseEstimator):
    """Base class: subclasses implement `_fit`, `_fitted_bands` and, if they use more than
    the fitted state, `_context_bands`."""

    default_threshold: ClassVar[float] = 0.5

    def fit(self, series, y=None):
        """Learn the baseline from `series` (an SLI: rates, ratios, quantiles, gauges)."""
        self._validate_params()
        clean = checks.fit_input(series, type(self).__name__)
        self._fit(clean)
        return self

    def predict_bands(self, index, sensitivity: float | None = None) -> pd.DataFrame:
        """Bands at the times in `index` from the fitted state alone."""
        self._require_fitted()
        index = checks.utc_index(pd.DatetimeIndex(index), type(self).__name__)
        centre, lo, hi = self._fitted_bands(index)
        return band_frame(index, centre, lo, hi, self._k(sensitivity), self._band_columns())

    def bands(self, series, sensitivity: float | None = None) -> pd.DataFrame:
        """The bands `score` compares each row of `series` with (causal, row-aligned)."""
        self._require_fitted()
        x = self._input(series)
        centre, lo, hi = self._row_bands(x)
        return band_frame(x.index, centre, lo, hi, self._k(sensitivity), self._band_columns())

    def signed_score(self, series) -> pd.Series:
        """Scores in [-1, 1]: magnitude as `score`, sign = side of the centre."""
        self._require_fitted()
        x = self._input(series)
        centre, lo, hi = self._row_bands(x)
        values = signed_scores(x.to_numpy(), centre, lo, hi, self.sensitivity)
        if isinstance(x, pd.DataFrame):
            return pd.DataFrame(values, index=x.index, columns=x.columns)
        return pd.Series(values, index=x.index, name="score")

    def score(self, series) -> pd.Series:
        """Anomaly scores in [0, 1], one per row of `series`, on the `direction` side(s)."""
        return directional(self.signed_score(series), self.direction)

    # -- for subclasses

    def _repr_html_(self) -> str:
        from ..display import baseline_html

        return baseline_html(self)

    def _repr_mimebundle_(self, **kwargs) -> dict:
        # Instead of scikit-learn's estimator diagram: parameters and what was learned.
        return {"text/plain": repr(self), "text/html": self._repr_html_()}

    def _fit(self, clean: pd.Series) -> None:
        raise NotImplementedError

    def _fitted_bands(self, index: pd.DatetimeIndex):
        """(centre, lower spread, upper spread) arrays from the fitted state."""
        raise NotImplementedError

    def _context_bands(self, clean: pd.Series):
        """Bands at each timestamp of `clean` (sorted, unique) using data up to it."""
        return self._fitted_bands(clean.index)

    # -- shared machinery

    def _input(self, x):
        return checks.as_series(x, type(self).__name__)

    def _canonical(self, x):
        return checks.canonical(x)

    def _band_columns(self):
        return None  # univariate: plain lower/centre/upper columns

    def _row_bands(self, x):
        clean = self._canonical(x)
        centre, lo, hi = self._context_bands(clean)
        rows = clean.index.get_indexer(x.index)
        return centre[rows], lo[rows], hi[rows]

    def _validate_params(self) -> None:
        name = type(self).__name__
        if self.direction not in DIRECTIONS:
            raise checks.BaselineInputError(
                f"{name}: direction must be one of {', '.join(DIRECTIONS)} "
                f"(got {self.direction!r})")
        if not np.isfinite(self.sensitivity) or self.sensitivity <= 0:
            raise checks.BaselineInputError(
                f"{name}: sensitivity must be a positive number (got {self.sensitivity!r})")

    def _k(self, sensitivity: float | None) -> float:
        return float(self.sensitivity if sensitivity is None else sensitivity)

    def _require_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise checks.NotFittedBaselineError(
                f"this {type(self).__name__} is not fitted yet; call fit() first")

    def __sklearn_is_fitted__(self) -> bool:
        return any(k.endswith("_") and not k.startswith("_") for k in vars(self))


def band_frame(index, centre, lo, hi, k: float, columns=None) -> pd.DataFrame:
    """lower/centre/upper columns; for many series, (series, band) column pairs."""
    centre = np.asarray(centre, dtype=np.float64)
    parts = [centre - k * np.asarray(lo), centre, centre + k * np.asarray(hi)]
    if columns is None:
        frame = pd.DataFrame(dict(zip(BAND_COLUMNS, parts, strict=True)), index=index)
        frame.columns.name = "band"
        return frame
    values = np.stack(parts, axis=2).reshape(len(index), -1)
    names = pd.MultiIndex.from_product([columns, BAND_COLUMNS], names=["series", "band"])
    return pd.DataFrame(values, index=index, columns=names)


def signed_scores(x, centre, lo, hi, k: float) -> np.ndarray:
    """The score formula of the module docstring, signed by the side of the centre."""
    with np.errstate(all="ignore"):
        dev = np.asarray(x, dtype=np.float64) - centre
        z = dev / np.where(dev >= 0, hi, lo)
        score = np.where(np.isinf(z), 1.0, z * z / (z * z + k * k))
    score = np.where(np.isnan(score), 0.0, score)
    return np.sign(dev, where=~np.isnan(dev), out=np.zeros_like(dev)) * score


def directional(signed: pd.Series | pd.DataFrame, direction: str):
    """Keep the side(s) of signed scores that `direction` alerts on, as values in [0, 1]."""
    if direction == UPPER:
        return signed.clip(lower=0.0)
    if direction == LOWER:
        return (-signed).clip(lower=0.0)
    return signed.abs()


def robust_sigma(residuals: np.ndarray) -> float:
    """Standard deviation estimate from the MAD; mean absolute deviation if most are equal."""
    r = np.abs(residuals[np.isfinite(residuals)])
    if r.size == 0:
        return 0.0
    sigma = MAD_TO_SIGMA * float(np.median(r))
    return sigma if sigma > 0 else MEAN_ABS_TO_SIGMA * float(np.mean(r))


def floor_spread(spread, centre, min_rel_spread: float, global_sigma, tiny) -> np.ndarray:
    """Spread with its floors: a share of the overall spread, a fraction of the level, and a
    tiny absolute floor so a constant series never divides by zero."""
    floor = np.maximum(GLOBAL_SPREAD_SHARE * np.asarray(global_sigma),
                       min_rel_spread * np.abs(centre))
    floor = np.maximum(floor, tiny)
    spread = np.where(np.isfinite(spread), spread, floor)
    return np.maximum(spread, floor)


def share_floor(sigma: np.ndarray, overall) -> np.ndarray:
    """Slot spreads raised to their share of the overall spread (NaN, no data, stays NaN).

    Applied before tails are measured, as the bands will be: on a mostly-zero series the
    slot MADs are 0 and the occasional 1 or 2 is the tail to learn.
    """
    with np.errstate(invalid="ignore"):
        return np.maximum(sigma, GLOBAL_SPREAD_SHARE * np.asarray(overall))


def tiny_floor(values: np.ndarray) -> np.ndarray | float:
    """An absolute spread floor far below any meaningful change of `values`."""
    with np.errstate(all="ignore"):
        scale = np.nanmedian(np.abs(values), axis=0)
    return 1e-9 * np.maximum(np.nan_to_num(scale), 1.0)


def adapt_offsets(t_ns: np.ndarray, residuals: np.ndarray, window_ns: int,
                  min_points: int) -> np.ndarray:
    """Trailing median of residuals over ``(t - window, t]`` (0 until `min_points` are in it).

    Following the level this way absorbs a lasting level shift within half a window, while
    an incident much shorter than the window hardly moves the median.
    """
    residuals = pd.Series(residuals, index=pd.DatetimeIndex(pd.to_datetime(t_ns, utc=True)))
    med = residuals.rolling(pd.Timedelta(window_ns, "ns"), min_periods=min_points).median()
    return np.nan_to_num(med.to_numpy(), nan=0.0)


class LevelFollowing:
    """Mixin for fitted-profile baselines with an ``adapt`` window: when scoring, the centre
    follows the trailing median of the residuals (see `adapt_offsets`), measured in units
    of the local spread so a shift seen at the busy peak is scaled down for the quiet night.
    """

    def _context_bands(self, clean):
        centre, lo, hi = self._fitted_bands(clean.index)
        if self.adapt is None:
            return centre, lo, hi
        offsets = follow_level(clean.index, clean.to_numpy(), centre, lo, hi,
                               checks.duration_ns(self.adapt, "adapt"), self.step_)
        return centre + offsets, lo, hi


def follow_level(index, values, centre, lo, hi, window: int, step: int) -> np.ndarray:
    """Offsets to add to `centre`: the trailing median of residuals in units of the local
    spread (mean of the two sides), turned back into values with the local spread.

    Measuring in local spreads keeps a shift learned at the busy evening peak from being
    applied in full to the quiet night.
    """
    min_points = max(3, int(window / max(step, 1) / 4))
    width = 0.5 * (lo + hi)
    with np.errstate(all="ignore"):
        u = (values - centre) / width
    t = checks.ns(index)
    if u.ndim == 1:
        med = adapt_offsets(t, u, window, min_points)
    else:
        med = np.column_stack([adapt_offsets(t, u[:, j], window, min_points)
                               for j in range(u.shape[1])])
    return med * width


def mean_z(index, values, centre, lo, hi, window: int, step: int, k: float) -> np.ndarray:
    """Trailing mean over ``(t - window, t]`` of the deviations in spreads of the values
    inside the band (``|z| <= k``); NaN until the window holds half the samples the
    sampling step gives it.

    Values outside the band are the value score's to page on: left in, one incident would
    hold a window's mean up for a whole window after it ended.
    """
    with np.errstate(all="ignore"):
        dev = values - centre
        z = dev / np.where(dev >= 0, hi, lo)
        z = np.where(np.abs(z) <= k, z, np.nan)
    z = pd.Series(z, index=pd.DatetimeIndex(pd.to_datetime(checks.ns(index), utc=True)))
    min_points = max(3, int(window / max(step, 1)) // 2)
    return z.rolling(pd.Timedelta(window, "ns"), min_periods=min_points).mean().to_numpy()


# The shift score's scale never drops below this many spreads: a smooth series' window
# means hardly wander, and a deviation a tenth of its band wide would otherwise look like
# many standard deviations. At 4 spreads a shift scores 0.5 from 1.2 spreads sustained.
SHIFT_FLOOR = 0.3


def shift_scale(mean: np.ndarray, window: int, step: int) -> tuple[float, float]:
    """Where the window mean of z sits in normal times, and how much it wanders.

    The centre is the history's median window mean: skewed noise (a ratio that is mostly 0)
    sits above its median centre all the time. The scale is the window means' standard
    deviation, never below that of independent noise (1/√samples in a window) nor
    `SHIFT_FLOOR`.
    """
    mean = mean[np.isfinite(mean)]
    if mean.size <= 2:
        return 0.0, 1.0
    floor = max(1.0 / np.sqrt(max(1.0, window / max(step, 1))), SHIFT_FLOOR)
    return float(np.median(mean)), float(max(np.std(mean), floor))


RECENT_NS = 2 * 86_400 * 10**9  # the shift score compares with this much recent wandering


def recent_scale(index, mean: np.ndarray, history_scale: float, window: int) -> np.ndarray:
    """Per row, the larger of the history's scale and the standard deviation of the window
    means over the `RECENT_NS` before the current window began: a lasting change alerts
    while it is new, then, once its own swings are the recent normal, stops."""
    t = checks.ns(index)
    ok = np.isfinite(mean)
    if not ok.any():
        return np.full(len(t), history_scale)
    means = pd.Series(mean[ok], index=pd.DatetimeIndex(pd.to_datetime(t[ok], utc=True)))
    spread = means.rolling(pd.Timedelta(RECENT_NS, "ns"), min_periods=3).std().to_numpy()
    before = np.searchsorted(t[ok], t - window, side="right") - 1
    recent = np.where(before >= 0, spread[np.maximum(before, 0)], np.nan)
    return np.fmax(recent, history_scale)


def slot_spread(slots: np.ndarray, residual: np.ndarray, n_slots: int, half: int,
                tail: float | None):
    """Per-slot sigma (MAD of `residual` grouped by slot) smoothed over ``2·half + 1``
    neighbouring slots, the overall sigma, and the tail factors of each side."""
    ok = np.isfinite(residual)
    groups = pd.Series(np.abs(residual[ok])).groupby(slots[ok])
    mad = groups.median().reindex(range(n_slots)).to_numpy()
    sigma = robust.circular_mean(MAD_TO_SIGMA * mad, half)
    overall = robust_sigma(residual)
    sigma = np.where(np.isfinite(sigma) & (sigma > 0), sigma, overall)
    sigma = share_floor(sigma, overall)
    tails = robust.tail_factors(residual / sigma[slots], tail)
    return sigma, overall, tails["tail_lower"][0], tails["tail_upper"][0]
