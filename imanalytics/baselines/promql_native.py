"""Baselines that Prometheus itself can run: each is a handful of PromQL expressions over the
SLI's recorded series, evaluated here with numpy and exported as recording and alert rules.

`WeekOverWeekZScore` is the scheme from GitLab's "Anomaly detection with Prometheus"
(Monitorama 2019): the prediction is the median over the last three weeks of the 4h average
around the same time, each corrected by the growth of the weekly average since; the spread
is the standard deviation over the last week. `AdaptiveBand` is the short/long-window band:
the last hour's average ± k standard deviations over the last day.

Both keep the recent history they were fitted on, because their bands at time t are window
statistics of the data before t: `score` and `bands` evaluate the windows over that history
followed by the series given (which wins where they overlap in time). Window edges follow
the Prometheus version in `prometheus` (``[t-r, t]`` in 2.x, ``(t-r, t]`` from 3.0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..promql import Semantics
from ..rules.alerts import DEFAULT_RUNBOOKS, band_alert
from ..slis import SLI
from . import checks
from .base import LOWER, UPPER, Baseline, keep_params, tiny_floor

_UNITS = (("w", 7 * 86_400_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000),
          ("s", 1000), ("ms", 1))


class PromQLScheme(Baseline):
    """Shared machinery: kept history, window statistics, rule export."""

    strategy = ""  # rule-name and alert-label word, set by subclasses

    def _fit(self, clean: pd.Series) -> None:
        self._semantics()
        finite = clean.dropna()
        t = checks.ns(finite.index)
        span = int(t[-1] - t[0])
        needed = self._min_history_ns()
        if span < needed:
            raise checks.ShortHistoryError(
                f"{type(self).__name__} needs at least {checks.human(needed)} of history, "
                f"got {checks.human(span)}")
        # All of it: predict_bands may be asked about any time inside the history.
        self.history_t_ = t
        self.history_v_ = finite.to_numpy()
        self.tiny_ = float(tiny_floor(self.history_v_))
        self.step_ = int(np.median(np.diff(t))) if len(t) > 1 else 0

    def _fitted_bands(self, index):
        samples = _Samples(self.history_t_, self.history_v_)
        centre, spread = self._evaluate(samples, checks.ns(pd.DatetimeIndex(index)))
        return centre, spread, spread

    def _context_bands(self, clean):
        t = checks.ns(clean.index)
        values = clean.to_numpy()
        finite = np.isfinite(values)
        older = self.history_t_ < (t[0] if len(t) else 0)
        samples = _Samples(np.concatenate([self.history_t_[older], t[finite]]),
                           np.concatenate([self.history_v_[older], values[finite]]))
        centre, spread = self._evaluate(samples, t)
        return centre, spread, spread

    def _spread(self, samples, at, window_ms: int):
        """max(stddev, min_rel_spread·|mean|) over the window, and at least the tiny floor."""
        _, mean, std = samples.stats(at, window_ms * 1_000_000, 0, self._left_open())
        return np.maximum(np.maximum(std, self.min_rel_spread * np.abs(mean)), self.tiny_)

    def _semantics(self) -> Semantics:
        try:
            return Semantics.coerce(self.prometheus)
        except Exception as exc:  # PromQLError for unknown versions
            raise checks.BaselineInputError(f"{type(self).__name__}: prometheus: {exc}") from None

    def _left_open(self) -> bool:
        return self._semantics().range_left_open

    # -- rules

    def _expressions(self, selector: str) -> dict[str, str]:
        """PromQL for each recorded quantity over the series `selector` (a recorded SLI)."""
        self._require_fitted()
        names = {key: f"{selector}:{key}" for key in ("prediction", "spread", "zscore")}
        k = float(self.sensitivity)
        z = names["zscore"]
        if self.direction == UPPER:
            z = f"clamp_min({z}, 0)"
        elif self.direction == LOWER:
            z = f"clamp_max({z}, 0)"
        return {
            "prediction": self._centre_expr(selector),
            "spread": self._spread_expr(selector),
            "upper": f"{names['prediction']} + {_num(k)} * {names['spread']}",
            "lower": f"{names['prediction']} - {_num(k)} * {names['spread']}",
            "zscore": f"({selector} - {names['prediction']}) / {names['spread']}",
            "score": f"{z} * {z} / ({z} * {z} + {_num(k * k)})",
        }

    def to_rules(self, sli: SLI, *, for_: str | None = None, severity: str | None = None,
                 runbooks: str = DEFAULT_RUNBOOKS) -> list[dict]:
        """Recording rules for the bands and score of `sli`, and the alert when the SLI
        leaves the band on its bad side, as one rule group for `rules.dump_rules`.

        The rules apply to every series of the SLI's recording rule; the tiny absolute
        spread floor is the fitted series'.
        """
        exprs = self._expressions(sli.record)
        record = {key: rule_name(sli.record, f"{self.strategy}_{key}") for key in exprs}
        rules = [{"record": record[key], "expr": _rename(expr, sli.record, record)}
                 for key, expr in exprs.items()]
        edge = record["upper"] if sli.direction == UPPER else record["lower"]
        alert = band_alert(sli, edge, for_ or sli.static_for, strategy=self.strategy,
                           severity=severity, runbooks=runbooks)
        return [{"name": f"{sli.key}-{self.strategy.replace('_', '-')}",
                 "rules": [*rules, alert.as_dict()]}]


class WeekOverWeekZScore(PromQLScheme):
    """GitLab's week-over-week prediction with a one-week standard deviation.

    Parameters
    ----------
    period : the season compared ("1w").
    seasons : how many past seasons predict (3: one, two and three weeks back).
    window : width of the average around the same time in past seasons ("4h").
    sensitivity, direction : as for every baseline.
    min_rel_spread : spread floor as a fraction of the period's average.
    prometheus : version whose range-window edges are reproduced.
    """

    strategy = "week_over_week"

    def __init__(self, period="1w", seasons=3, window="4h", sensitivity=4.0, direction="both",
                 min_rel_spread=0.05, prometheus="2.42.0"):
        keep_params(self, locals())

    def _durations(self):
        period = checks.duration_ns(self.period, "period") // 1_000_000
        window = checks.duration_ns(self.window, "window") // 1_000_000
        if int(self.seasons) != self.seasons or self.seasons < 1:
            raise checks.BaselineInputError(
                f"WeekOverWeekZScore: seasons must be a positive integer (got {self.seasons!r})")
        return period, window, int(self.seasons)

    def _min_history_ns(self) -> int:
        period, window, _ = self._durations()
        return (period + window // 2) * 1_000_000

    def _evaluate(self, samples, at):
        period, window, seasons = self._durations()
        left_open = self._left_open()
        ms = 1_000_000
        _, now, _ = samples.stats(at, period * ms, 0, left_open)
        predictions = []
        for j in range(1, seasons + 1):
            n, past, _ = samples.stats(at, window * ms, (j * period - window // 2) * ms,
                                       left_open)
            _, before, _ = samples.stats(at, period * ms, j * period * ms, left_open)
            predictions.append(past + now - before)  # NaN where a window is empty
        stacked = np.vstack(predictions)
        with np.errstate(all="ignore"):
            centre = _median_ignoring_nan(stacked)
        return centre, self._spread(samples, at, period)

    def _centre_expr(self, s: str) -> str:
        period, window, seasons = self._durations()
        parts = []
        for j in range(1, seasons + 1):
            back = _dur(j * period)
            guess = (f"avg_over_time({s}[{_dur(window)}] offset {_dur(j * period - window // 2)})"
                     f" + avg_over_time({s}[{_dur(period)}])"
                     f" - avg_over_time({s}[{_dur(period)}] offset {back})")
            parts.append(f'label_replace({guess}, "offset", "{back}", "", "")')
        union = "\n  or\n  ".join(parts)
        return f"quantile without (offset) (0.5,\n  {union}\n)"

    def _spread_expr(self, s: str) -> str:
        period, _, _ = self._durations()
        return _spread_expr(s, _dur(period), self.min_rel_spread, self.tiny_)


class AdaptiveBand(PromQLScheme):
    """Short-window average ± k standard deviations over a long window.

    Parameters
    ----------
    short : window of the centre, ``avg_over_time`` ("1h").
    long : window of the spread, ``stddev_over_time`` ("1d").
    sensitivity, direction, min_rel_spread, prometheus : as for `WeekOverWeekZScore`.
    """

    strategy = "adaptive_band"

    def __init__(self, short="1h", long="1d", sensitivity=4.0, direction="both",
                 min_rel_spread=0.05, prometheus="2.42.0"):
        keep_params(self, locals())

    def _durations(self):
        return (checks.duration_ns(self.short, "short") // 1_000_000,
                checks.duration_ns(self.long, "long") // 1_000_000)

    def _min_history_ns(self) -> int:
        return self._durations()[1] * 1_000_000

    def _evaluate(self, samples, at):
        short, long = self._durations()
        _, centre, _ = samples.stats(at, short * 1_000_000, 0, self._left_open())
        return centre, self._spread(samples, at, long)

    def _centre_expr(self, s: str) -> str:
        return f"avg_over_time({s}[{_dur(self._durations()[0])}])"

    def _spread_expr(self, s: str) -> str:
        return _spread_expr(s, _dur(self._durations()[1]), self.min_rel_spread, self.tiny_)


@dataclass
class _Samples:
    """Time-sorted samples with prefix sums for O(1) window counts, means and variances."""

    t: np.ndarray
    v: np.ndarray

    def __post_init__(self):
        order = np.argsort(self.t, kind="stable")
        self.t, self.v = self.t[order], self.v[order]
        # Shifting by a typical value keeps the sum-of-squares variance well conditioned.
        self.ref = float(np.median(self.v)) if len(self.v) else 0.0
        d = self.v - self.ref
        self.s1 = np.concatenate(([0.0], np.cumsum(d)))
        self.s2 = np.concatenate(([0.0], np.cumsum(d * d)))

    def stats(self, at, range_ns: int, offset_ns: int, left_open: bool):
        """(count, mean, population stddev) over each window ending `offset_ns` before `at`."""
        end = np.asarray(at) - offset_ns
        lo = np.searchsorted(self.t, end - range_ns, side="right" if left_open else "left")
        hi = np.searchsorted(self.t, end, side="right")
        n = hi - lo
        with np.errstate(all="ignore"):
            m1 = (self.s1[hi] - self.s1[lo]) / n
            var = np.maximum((self.s2[hi] - self.s2[lo]) / n - m1 * m1, 0.0)
        empty = n == 0
        return n, np.where(empty, np.nan, self.ref + m1), np.where(empty, np.nan, np.sqrt(var))


def _median_ignoring_nan(stacked: np.ndarray) -> np.ndarray:
    """PromQL quantile(0.5) over the predictions present at each step."""
    s = np.sort(stacked, axis=0)
    n = np.sum(~np.isnan(stacked), axis=0)
    lo, hi = np.maximum(n - 1, 0) // 2, np.minimum(n // 2, len(stacked) - 1)
    cols = np.arange(stacked.shape[1])
    return np.where(n > 0, 0.5 * (s[lo, cols] + s[hi, cols]), np.nan)


def _spread_expr(s: str, window: str, rel: float, tiny: float) -> str:
    std = f"stddev_over_time({s}[{window}])"
    floor = f"{_num(rel)} * abs(avg_over_time({s}[{window}]))"
    # max(std, floor) per series: PromQL has no two-vector max, so keep std where it is not
    # below the floor and fall back to the floor elsewhere.
    return f"clamp_min(({std} >= {floor}) or {floor}, {_num(tiny)})"


def rule_name(record: str, operation: str) -> str:
    """``level:metric:ops`` with `operation` prepended to the operations (newest first)."""
    parts = record.split(":")
    if len(parts) == 3:
        return f"{parts[0]}:{parts[1]}:{operation}_{parts[2]}"
    return f"{record}:{operation}"


def _rename(expr: str, sli_record: str, record: dict[str, str]) -> str:
    for key, name in record.items():
        expr = expr.replace(f"{sli_record}:{key}", name)
    return expr


def _dur(ms: int) -> str:
    """Prometheus duration text in the largest unit that divides `ms` (166h, 1w, 90m)."""
    for unit, size in _UNITS:
        if ms % size == 0:
            return f"{ms // size}{unit}"
    raise ValueError(f"not a duration: {ms} ms")  # unreachable: 1 ms divides everything


def _num(x: float) -> str:
    return repr(float(x))
