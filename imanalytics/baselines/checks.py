"""Input checks for baselines: what they accept, what they refuse, and what they warn about.

Baselines model SLI values — rates, ratios, quantiles, gauges — not raw counters. A series
that only ever grows (with drops back towards zero at restarts) is refused with a message
saying to ``rate()`` it first. NaN and ±Inf are ignored when fitting; gaps and irregular
sampling are accepted with a named warning; a constant series gets a spread floor.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.exceptions import NotFittedError

from ..errors import ImanalyticsError
from ..timeparse import TimeParseError, duration_ms

_NS_PER_MS = 1_000_000
MIN_POINTS = 10  # below this no spread can be estimated
GAP_STEPS = 10  # a hole of this many sampling steps (and at least GAP_MIN) is a gap
GAP_MIN = pd.Timedelta("30min")


class BaselineError(ImanalyticsError):
    """A baseline cannot use the input it was given; the message says why and what to do."""


class BaselineInputError(BaselineError, ValueError):
    """The input is not a time series a baseline accepts (index, dtype, shape, emptiness)."""


class ShortHistoryError(BaselineError, ValueError):
    """The history is shorter than the estimator needs (e.g. less than two seasons)."""


class CounterInputError(BaselineError, ValueError):
    """The input looks like a raw Prometheus counter instead of a rate or ratio."""


class NotFittedBaselineError(NotFittedError, BaselineError):
    """The estimator was used before `fit`."""


class BaselineWarning(UserWarning):
    """Something about the input that lowers a baseline's quality but does not stop it."""


class GapWarning(BaselineWarning):
    """The series has holes much longer than its sampling step."""


class IrregularSamplingWarning(BaselineWarning):
    """Sample spacing varies a lot; values are put on a regular grid first."""


class ConstantSeriesWarning(BaselineWarning):
    """The series has no spread; the spread floor decides what counts as a deviation."""


class NonFiniteWarning(BaselineWarning):
    """±Inf values were found; they are ignored when fitting."""


def duration_ns(value, what: str) -> int:
    """A Prometheus duration or timedelta in nanoseconds; errors name the parameter."""
    try:
        ms = duration_ms(value)
    except TimeParseError as exc:
        raise BaselineInputError(f"{what}: {exc}") from None
    if ms <= 0:
        raise BaselineInputError(f"{what} must be a positive duration (got {value!r})")
    return ms * _NS_PER_MS


def as_series(x, who: str) -> pd.Series:
    """`x` as a float Series on a UTC DatetimeIndex named ``timestamp`` (order kept)."""
    if isinstance(x, pd.DataFrame):
        if x.shape[1] != 1:
            raise BaselineInputError(
                f"{who} takes one series (a pd.Series); got a DataFrame with {x.shape[1]} "
                "columns")
        x = x.iloc[:, 0]
    if not isinstance(x, pd.Series):
        raise BaselineInputError(f"{who} takes a pd.Series, got {type(x).__name__}")
    index = utc_index(x.index, who)
    values = _float_values(x.to_numpy(), who)
    return pd.Series(values, index=index, name=x.name)


def as_frame(x, who: str) -> pd.DataFrame:
    """`x` as a float DataFrame on a UTC DatetimeIndex named ``timestamp``."""
    if isinstance(x, pd.Series):
        x = x.to_frame()
    if not isinstance(x, pd.DataFrame):
        raise BaselineInputError(f"{who} takes a pd.DataFrame, got {type(x).__name__}")
    if x.shape[1] == 0:
        raise BaselineInputError(f"{who}: the DataFrame has no columns")
    index = utc_index(x.index, who)
    values = x.to_numpy()
    if values.dtype != np.float64:
        values = _float_values(values, who)
    return pd.DataFrame(values, index=index, columns=x.columns, copy=False)


def utc_index(index, who: str) -> pd.DatetimeIndex:
    if not isinstance(index, pd.DatetimeIndex):
        raise BaselineInputError(
            f"{who} needs a DatetimeIndex of sample times, got {type(index).__name__}")
    if index.tz is None:
        raise BaselineInputError(
            f"{who} needs a tz-aware DatetimeIndex (UTC); localise it with "
            "index.tz_localize('UTC')")
    if index.hasnans:
        raise BaselineInputError(f"{who}: the index has missing timestamps (NaT)")
    out = index.tz_convert("UTC")
    out.name = "timestamp"
    return out


def _float_values(values: np.ndarray, who: str) -> np.ndarray:
    if values.dtype.kind not in "biuf":
        try:
            return np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise BaselineInputError(
                f"{who} needs numeric values, got dtype {values.dtype}") from None
    return np.asarray(values, dtype=np.float64)


def ns(index: pd.DatetimeIndex) -> np.ndarray:
    """Epoch nanoseconds of a DatetimeIndex, whatever its unit."""
    return index.as_unit("ns").asi8


def canonical(x: pd.Series) -> pd.Series:
    """Sorted, one row per timestamp (median of duplicates), ±Inf as NaN."""
    values = np.where(np.isfinite(x.to_numpy()), x.to_numpy(), np.nan)
    x = pd.Series(values, index=x.index, name=x.name)
    if x.index.is_monotonic_increasing and x.index.is_unique:
        return x
    if x.index.is_unique:
        return x.sort_index(kind="stable")
    return x.groupby(level=0, sort=True).median()


def fit_input(x, who: str) -> pd.Series:
    """Validate a univariate fit input; returns it canonical with NaN where not finite."""
    series = as_series(x, who)
    finite = np.isfinite(series.to_numpy())
    check_values(series.sort_index(kind="stable").to_numpy(), who)  # counters: in time order
    clean = canonical(series)
    if int(finite.sum()) < MIN_POINTS:
        raise ShortHistoryError(
            f"{who} needs at least {MIN_POINTS} finite values to fit, got {int(finite.sum())}")
    check_sampling(clean.dropna().index, who)
    return clean


def check_values(values: np.ndarray, who: str, column: str | None = None) -> None:
    """Refuse counters; warn about ±Inf and constant series."""
    where = f" (column {column!r})" if column is not None else ""
    inf = np.isinf(values)
    if inf.any():
        warnings.warn(f"{who}{where}: {int(inf.sum())} ±Inf values are ignored when fitting",
                      NonFiniteWarning, stacklevel=4)
    finite = values[np.isfinite(values)]
    if looks_like_counter(finite):
        raise CounterInputError(
            f"{who}{where}: the series only grows (with drops to near zero at resets): it "
            "looks like a raw counter. Baselines model SLI values such as rates and ratios; "
            "fit rate(<counter>[5m]) instead")
    if finite.size and np.all(finite == finite[0]):
        warnings.warn(f"{who}{where}: the series is constant ({finite[0]:g}); its spread is "
                      "the floor (min_rel_spread of its level), so small changes score high",
                      ConstantSeriesWarning, stacklevel=4)


def looks_like_counter(values: np.ndarray) -> bool:
    """Mostly rising, never falling except in resets that drop to below half the value."""
    if values.size < 20:
        return False
    step = np.diff(values)
    falls = step < 0
    if step.size == 0 or (step > 0).mean() < 0.5 or falls.mean() > 0.01:
        return False
    before, after = values[:-1][falls], values[1:][falls]
    return bool(np.all(after <= 0.5 * before))


def check_sampling(index: pd.DatetimeIndex, who: str) -> int:
    """Median sampling step in ns; warns about irregular spacing and long gaps."""
    t = ns(index)
    if t.size < 2:
        return 0
    gaps = np.diff(t)
    step = int(np.median(gaps))
    off = np.abs(gaps - step) > 0.5 * step
    # Missed scrapes double a gap now and then; irregular means most gaps disagree.
    if off.mean() > 0.2:
        warnings.warn(f"{who}: irregular sampling ({off.mean():.0%} of intervals differ from "
                      f"the median {pd.Timedelta(step, 'ns')} by more than half); values are "
                      "put on a regular grid", IrregularSamplingWarning, stacklevel=3)
    limit = max(GAP_STEPS * step, GAP_MIN.value)
    big = gaps > limit
    if big.any():
        longest = int(np.argmax(gaps))
        start = pd.Timestamp(t[longest], tz="UTC")
        warnings.warn(f"{who}: {int(big.sum())} gaps longer than {pd.Timedelta(limit, 'ns')}; "
                      f"the longest is {pd.Timedelta(int(gaps[longest]), 'ns')} from {start}",
                      GapWarning, stacklevel=3)
    return step


def span_ns(index: pd.DatetimeIndex) -> int:
    t = ns(index)
    return int(t[-1] - t[0]) if t.size else 0


def human(ns_value: int) -> str:
    return str(pd.Timedelta(int(ns_value), "ns")).replace("0 days ", "")
