"""Machine-learned baselines: quantile gradient boosting on calendar features, and an
isolation forest over several SLIs of one service at once."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy.special import ndtri
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingRegressor, IsolationForest
from threadpoolctl import threadpool_limits

from . import checks, robust
from .base import (
    BOTH,
    DIRECTIONS,
    LOWER,
    UPPER,
    Baseline,
    LevelFollowing,
    floor_spread,
    keep_params,
    robust_sigma,
    tiny_floor,
)
from .seasonal import DAY_NS, MONDAY_NS, WEEK_NS, WEEKS_FOR_WEEKLY, SeasonalProfile

OUTLIER_SIGMAS = 6.0  # training points this far from the median model are incidents, not noise


class QuantileGBM(LevelFollowing, Baseline):
    """Lower, middle and upper quantiles from HistGradientBoostingRegressor(loss="quantile")
    on calendar features (minute of day as value and sin/cos, day of week and weekend when
    the history spans three weeks). The regressors run single-threaded: on one series' few
    thousand rows OpenMP threads cost more than they save, and far more when several fits
    share the cores.

    Parameters
    ----------
    interval : central probability between the lower and upper quantile models (0.9:
        the 5% and 95% quantiles); their distance from the median, in normal standard
        deviations, is the spread.
    tail : as for `SeasonalProfile`: widens each side where the residuals' tails are
        heavier than the quantile models' spread implies.
    step : the models train on medians over this grid ("5m").
    history : how much recent history trains the models ("28d").
    max_iter, learning_rate, max_leaf_nodes, min_samples_leaf : passed to the regressors;
        the outer quantiles' leaves hold min_samples_leaf points beyond their quantile.
    adapt, sensitivity, direction, min_rel_spread : as for `SeasonalProfile`.
    random_state : seed of the regressors (fits are reproducible for a seed).
    """

    def __init__(self, interval=0.9, step="5m", history="28d", max_iter=60,
                 learning_rate=0.1, max_leaf_nodes=31, min_samples_leaf=20, adapt="1d",
                 sensitivity=4.0, direction="both", min_rel_spread=0.05, tail=0.99,
                 random_state=0):
        keep_params(self, locals())

    def _fit(self, clean: pd.Series) -> None:
        if not 0 < self.interval < 1:
            raise checks.BaselineInputError(
                f"QuantileGBM: interval must be between 0 and 1 (got {self.interval!r})")
        finite = clean.dropna()
        t = checks.ns(finite.index)
        keep = t > t[-1] - checks.duration_ns(self.history, "history")
        t, v = t[keep], finite.to_numpy()[keep]
        if t[-1] - t[0] < DAY_NS:
            raise checks.ShortHistoryError(
                f"QuantileGBM needs at least one day of history, got {checks.human(t[-1] - t[0])}")
        self.weekly_ = bool(t[-1] - t[0] >= WEEKS_FOR_WEEKLY * WEEK_NS)
        grid_t, grid_v = _grid_medians(t, v, checks.duration_ns(self.step, "step"))
        features = calendar_features(grid_t, self.weekly_)
        tail = (1 - self.interval) / 2
        self.quantiles_ = (tail, 0.5, 1 - tail)
        with threadpool_limits(1):
            middle = self._regressor(0.5).fit(features, grid_v)
            raw_features = calendar_features(t, self.weekly_)
            r = v - middle.predict(raw_features)
            low, high = self._fit_spread(raw_features, r, len(grid_v))
            self.models_ = [low, middle, high]
        self.step_ = int(np.median(np.diff(t))) if len(t) > 1 else 0
        self.tiny_ = float(tiny_floor(v))
        self._calibrate(t, r)

    def _fit_spread(self, features: np.ndarray, r: np.ndarray, size: int) -> tuple:
        """The outer quantile models, fitted to the raw residuals of the median model.

        Raw, not grid medians: a sparse series (errors per path) has medians of 0 and raw
        values that are not. A seeded sample of `size` points keeps the cost of the grid.
        Residuals, not values: they start near their answer, while a 0.95 model started
        from the overall 0.95 quantile is still far above the quiet night after max_iter
        rounds. Incidents in the history would become the outer quantiles of their
        calendar cells: points far from the median model are left out.
        """
        keep = np.flatnonzero(np.abs(r) <= OUTLIER_SIGMAS * max(robust_sigma(r), 1e-300))
        if len(keep) > size:
            rng = np.random.default_rng(self.random_state)
            keep = np.sort(rng.choice(keep, size, replace=False))
        return tuple(self._regressor(q).fit(features[keep], r[keep])
                     for q in (self.quantiles_[0], self.quantiles_[2]))

    def _calibrate(self, t: np.ndarray, r: np.ndarray) -> None:
        """Overall spread and tail factors of the raw residuals `r` at times `t`."""
        self.tail_lower_ = self.tail_upper_ = 1.0
        self.global_spread_ = robust_sigma(r)
        _, lo, hi = self._fitted_bands(pd.DatetimeIndex(pd.to_datetime(t, utc=True)))
        with np.errstate(all="ignore"):
            u = r / np.where(r >= 0, hi, lo)
        # In-sample quantile fits are narrower than on new data; the full tail of their
        # residuals, not a capped one, is what widens them back.
        tails = robust.tail_factors(u, self.tail, stretch=None)
        self.tail_lower_, self.tail_upper_ = tails["tail_lower"][0], tails["tail_upper"][0]

    def _regressor(self, q: float) -> HistGradientBoostingRegressor:
        categorical = [5] if self.weekly_ else None  # the day-of-week column
        # A leaf estimates its q-quantile from the points beyond it: min_samples_leaf of them.
        leaf = max(self.min_samples_leaf, math.ceil(self.min_samples_leaf / min(q, 1 - q)))
        return HistGradientBoostingRegressor(
            loss="quantile", quantile=q, max_iter=self.max_iter,
            learning_rate=self.learning_rate, max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=leaf, early_stopping=False,
            categorical_features=categorical, random_state=self.random_state)

    def _fitted_bands(self, index):
        centre, lo, hi = self._quantile_bands(
            calendar_features(checks.ns(pd.DatetimeIndex(index)), self.weekly_))
        floor = getattr(self, "global_spread_", 0.0)
        lo, hi = (floor_spread(s * tail, centre, self.min_rel_spread, floor, self.tiny_)
                  for s, tail in ((lo, self.tail_lower_), (hi, self.tail_upper_)))
        return centre, lo, hi

    def _quantile_bands(self, features):
        with threadpool_limits(1):
            low, centre, high = (m.predict(features) for m in self.models_)
        z = ndtri(self.quantiles_[2])
        return centre, np.maximum(-low, 0) / z, np.maximum(high, 0) / z


def _grid_medians(t: np.ndarray, v: np.ndarray, step: int):
    """Median per grid cell (the cell's start time): fewer, less noisy training rows."""
    cells = pd.Series(v).groupby(t // step).median()
    return cells.index.to_numpy() * step, cells.to_numpy()


def calendar_features(t: np.ndarray, weekly: bool) -> np.ndarray:
    """Minute of day (value, two sin/cos harmonics); day of week and weekend if `weekly`."""
    minute = (t % DAY_NS) / 60e9
    angle = 2 * np.pi * minute / 1440
    columns = [minute, np.sin(angle), np.cos(angle), np.sin(2 * angle), np.cos(2 * angle)]
    if weekly:
        day = ((t - MONDAY_NS) // DAY_NS) % 7
        columns += [day, (day >= 5).astype(float)]
    return np.column_stack(columns)


class MultiSLIIsolationForest(BaseEstimator):
    """An IsolationForest over the SLIs of one service, for incidents seen only together
    ("latency up while deliveries drop").

    Each column (one SLI) is first turned into deviations from its own `SeasonalProfile`
    (z = (x - centre) / spread, compressed as sign·log1p|z|), so the forest compares
    deviations rather than daily rhythms; deviations on a column's good side are zeroed per
    `directions`. The largest and the root-sum-square deviation are two more features.
    The forest's anomaly measure m is calibrated on the history: with m0 its median and
    m1 its ``1 - contamination`` quantile, u = (m - m0) / (m1 - m0) and the score is
    u² / (u² + 1): 0.5 where only `contamination` of the history lies.

    Parameters
    ----------
    directions : mapping column -> "upper" / "lower" / "both" (default: both for all).
    contamination : share of the history taken to be anomalous (0.005).
    season, slot, history, adapt : for the per-column `SeasonalProfile`.
    sensitivity : band width of the per-column profiles (`predict_bands`, `bands`).
    n_estimators, max_samples, random_state : passed to IsolationForest.
    """

    default_threshold = 0.5

    def __init__(self, directions=None, contamination=0.005, season="auto", slot="5m",
                 history="28d", adapt="1d", sensitivity=4.0, n_estimators=200, max_samples=256,
                 random_state=0):
        keep_params(self, locals())

    def fit(self, frame, y=None):
        """Fit on a DataFrame with one column per SLI of the same service."""
        frame = self._frame(frame, fitting=True)
        if not 0 < self.contamination < 0.5:
            raise checks.BaselineInputError(
                "MultiSLIIsolationForest: contamination must be between 0 and 0.5 "
                f"(got {self.contamination!r})")
        self.columns_ = frame.columns
        self._check_directions()
        # The forest learns from deviations the profiles did not see being fitted (the
        # second half of the history against profiles of the first), as when scoring;
        # in-sample deviations are smaller and would make every new point look odd.
        half = frame.index[0] + (frame.index[-1] - frame.index[0]) / 2
        try:
            early = self._profiles(frame[frame.index < half])
            features = self._features(frame[frame.index >= half], early)
        except checks.ShortHistoryError:  # too short to split: in-sample deviations
            features = None
        self.profiles_ = self._profiles(frame)
        if features is None:
            features = self._features(frame)
        self.forest_ = IsolationForest(n_estimators=self.n_estimators,
                                       max_samples=self.max_samples,
                                       random_state=self.random_state).fit(features)
        raw = -self.forest_.score_samples(features)
        self.raw_median_ = float(np.median(raw))
        self.raw_scale_ = max(float(np.quantile(raw, 1 - self.contamination))
                              - self.raw_median_, 1e-6)
        return self

    def _profiles(self, frame: pd.DataFrame) -> dict:
        return {column: SeasonalProfile(season=self.season, slot=self.slot,
                                        history=self.history, adapt=self.adapt,
                                        sensitivity=self.sensitivity).fit(frame[column])
                for column in frame.columns}

    def score(self, frame) -> pd.Series:
        """Scores in [0, 1] per row (causal: per-column bands use data up to the row)."""
        self._require_fitted()
        frame = self._frame(frame)[self.columns_]
        raw = -self.forest_.score_samples(self._features(frame))
        return pd.Series(self._calibrated(raw), index=frame.index, name="score")

    def latest_score(self, frame) -> float:
        """``score(frame).iloc[-1]`` without scoring the other rows through the forest (the
        per-column bands still use the whole frame): about half the cost on a day at 1 m."""
        self._require_fitted()
        frame = self._frame(frame)[self.columns_]
        raw = -self.forest_.score_samples(self._features(frame)[-1:])
        return float(self._calibrated(raw)[0])

    def _calibrated(self, raw: np.ndarray) -> np.ndarray:
        u = np.maximum(raw - self.raw_median_, 0.0) / self.raw_scale_
        return u * u / (u * u + 1.0)

    def signed_score(self, frame) -> pd.Series:
        return self.score(frame)  # no side: the forest only says "unusual together"

    def predict_bands(self, index, sensitivity=None) -> pd.DataFrame:
        """Each column's own SeasonalProfile bands, as (series, band) column pairs."""
        self._require_fitted()
        parts = {c: p.predict_bands(index, sensitivity) for c, p in self.profiles_.items()}
        return pd.concat(parts, axis=1, names=["series", "band"])

    def bands(self, frame, sensitivity=None) -> pd.DataFrame:
        self._require_fitted()
        frame = self._frame(frame)
        parts = {c: p.bands(frame[c], sensitivity) for c, p in self.profiles_.items()}
        return pd.concat(parts, axis=1, names=["series", "band"])

    def _features(self, frame: pd.DataFrame, profiles: dict | None = None) -> np.ndarray:
        columns = []
        for column, profile in (profiles or self.profiles_).items():
            x = frame[column].to_numpy()
            band = profile.bands(frame[column], sensitivity=1.0)  # edges one spread away
            centre = band["centre"].to_numpy()
            spread = np.where(x >= centre, band["upper"].to_numpy() - centre,
                              centre - band["lower"].to_numpy())
            with np.errstate(all="ignore"):
                z = (x - centre) / spread
            side = self._direction(column)
            if side == UPPER:
                z = np.maximum(z, 0)
            elif side == LOWER:
                z = np.minimum(z, 0)
            columns.append(np.sign(z) * np.log1p(np.abs(z)))
        features = np.column_stack(columns)
        features = np.where(np.isfinite(features), features, 0.0)
        # The worst deviation and the overall one as features of their own: a split on
        # them isolates a point far out on any one SLI, or a little out on several, which
        # random splits on one of many columns rarely pick.
        worst = np.abs(features).max(axis=1)
        overall = np.sqrt((features ** 2).sum(axis=1))
        return np.column_stack([features, worst, overall])

    def _direction(self, column) -> str:
        return (self.directions or {}).get(column, BOTH)

    def _check_directions(self) -> None:
        if self.directions is None:
            return
        if not isinstance(self.directions, Mapping):
            raise checks.BaselineInputError(
                "MultiSLIIsolationForest: directions must map column names to upper, lower "
                f"or both (got {type(self.directions).__name__})")
        bad = {c: d for c, d in self.directions.items() if d not in DIRECTIONS}
        unknown = [c for c in self.directions if c not in self.columns_]
        if bad or unknown:
            raise checks.BaselineInputError(
                f"MultiSLIIsolationForest: directions {bad or unknown} name unknown columns or "
                "directions (use upper, lower, both)")

    def _frame(self, frame, fitting: bool = False) -> pd.DataFrame:
        who = type(self).__name__
        if not isinstance(frame, pd.DataFrame):
            raise checks.BaselineInputError(
                f"{who} takes a DataFrame with one column per SLI, got {type(frame).__name__}")
        frame = checks.as_frame(frame, who)
        if not fitting:
            missing = [c for c in self.columns_ if c not in frame.columns]
            if missing:
                raise checks.BaselineInputError(f"{who}: fitted columns {missing} are missing")
        return frame

    def _require_fitted(self) -> None:
        if not hasattr(self, "forest_"):
            raise checks.NotFittedBaselineError(
                f"this {type(self).__name__} is not fitted yet; call fit() first")

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "forest_")
