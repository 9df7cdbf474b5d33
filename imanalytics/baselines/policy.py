"""`AlertPolicy`: turn anomaly scores into alert events the way an on-call rotation wants
them — one event per incident, not one per bad minute.

Per series, in time order:

1. **direction** keeps the side of signed scores that matters (`Baseline.signed_score`:
   positive above the centre); plain scores in [0, 1] are used as they are.
2. **floor**: where traffic `volume` is below `volume_floor` (or unknown), the score counts
   as 0 — ratios over a handful of requests are noise.
3. **hysteresis**: the condition starts when the score reaches `threshold` and holds until
   it drops below `clear` (a lower value), so a score hovering at the line does not flap.
4. **for_**: like Prometheus' ``for:``, the condition must hold that long before the alert
   fires; the event's `start` is that firing time, `since` when the condition began.
5. **suppression**: an alert firing within `suppress` of the previous one's end continues
   it (edge triggering: one event, its `end` extended), so a long, wavering incident is one
   alert. The default, 12h, treats a series alerting again within half a day as the same
   incident: on real labelled data (NAB) and on the simulator alike, re-fires within hours
   are the same trouble far more often than a new one.

A missing score (NaN) counts as 0. Events still firing at the last score are reported with
``resolved=False`` and `end` at that last time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..slis import SLI
from ..timeparse import TimeParseError, duration_ms
from . import checks
from .base import BOTH, DIRECTIONS, LOWER, UPPER

EVENT_COLUMNS = ["start", "end", "since", "peak", "resolved"]


@dataclass(frozen=True)
class AlertPolicy:
    """Alerting rules applied to scores (see the module docstring for the steps).

    threshold : score that starts the condition (0.5: a baseline's band edge).
    clear : score below which it ends (default 0.8 × threshold).
    for_ : how long the condition must hold before firing (Prometheus ``for:``).
    direction : "upper", "lower" or "both" side of signed scores.
    suppress : a new alert within this time of the last one's end continues it (12h).
    volume_floor : no alert while traffic is below this (in the volume's unit).
    """

    threshold: float = 0.5
    clear: float | None = None  # default: 0.8 × threshold
    for_: str | pd.Timedelta = "5m"
    direction: str = BOTH
    suppress: str | pd.Timedelta = "12h"
    volume_floor: float | None = None

    def __post_init__(self):
        if self.direction not in DIRECTIONS:
            raise checks.BaselineInputError(
                f"AlertPolicy: direction must be one of {', '.join(DIRECTIONS)} "
                f"(got {self.direction!r})")
        if not 0 < self.threshold <= 1:
            raise checks.BaselineInputError(
                f"AlertPolicy: threshold must be in (0, 1] (got {self.threshold!r})")
        if not 0 <= self.clear_level <= self.threshold:
            raise checks.BaselineInputError(
                f"AlertPolicy: clear must be between 0 and threshold (got {self.clear!r})")
        _ns(self.for_, "for_")
        _ns(self.suppress, "suppress")

    @classmethod
    def for_sli(cls, sli: SLI, **overrides) -> AlertPolicy:
        """The SLI's bad direction and its static alert's ``for:`` duration."""
        settings = {"direction": sli.direction, "for_": sli.static_for, **overrides}
        return cls(**settings)

    @property
    def clear_level(self) -> float:
        return 0.8 * self.threshold if self.clear is None else float(self.clear)

    def alerts(self, scores, volume=None) -> pd.DataFrame:
        """Alert events from scores (a Series, or a DataFrame: one series per column).

        Returns one row per event with `start` (firing), `end`, `since`, `peak` (highest
        score during the event) and `resolved`; a DataFrame input adds a `series` column.
        """
        if isinstance(scores, pd.DataFrame):
            parts = []
            for column in scores.columns:
                vol = _column(volume, column)
                events = self.alerts(scores[column], vol)
                events.insert(0, "series", pd.Series([column] * len(events), dtype=object))
                parts.append(events)
            if not parts:
                return _empty(with_series=True)
            return pd.concat(parts, ignore_index=True)
        if not isinstance(scores, pd.Series):
            raise checks.BaselineInputError(
                f"AlertPolicy.alerts takes a Series or DataFrame of scores, "
                f"got {type(scores).__name__}")
        s = self._prepared(scores, volume)
        return self._events(checks.ns(s.index), s.to_numpy())

    def _prepared(self, scores: pd.Series, volume) -> pd.Series:
        index = checks.utc_index(scores.index, "AlertPolicy.alerts")
        s = pd.Series(np.nan_to_num(scores.to_numpy(dtype=np.float64), nan=0.0), index=index)
        if self.direction == UPPER:
            s = s.clip(lower=0.0)
        elif self.direction == LOWER and (s < 0).any():
            s = (-s).clip(lower=0.0)
        else:
            s = s.abs()
        if self.volume_floor is not None and volume is not None:
            s = s.where(self._traffic(volume, index) >= self.volume_floor, 0.0)
        if not s.index.is_monotonic_increasing:
            s = s.sort_index(kind="stable")
        return s

    @staticmethod
    def _traffic(volume, index: pd.DatetimeIndex) -> np.ndarray:
        """Volume at each score time (NaN, so below any floor, where it is unknown)."""
        if not isinstance(volume, pd.Series):
            raise checks.BaselineInputError(
                "AlertPolicy.alerts: volume must be a Series on the scores' timestamps")
        volume = pd.Series(volume.to_numpy(dtype=np.float64),
                           index=checks.utc_index(volume.index, "AlertPolicy volume"))
        volume = volume[~volume.index.duplicated()]
        return volume.reindex(index).to_numpy()

    def _events(self, t: np.ndarray, s: np.ndarray) -> pd.DataFrame:
        starts, ends = _hysteresis_runs(s, self.threshold, self.clear_level)
        fire = np.searchsorted(t, t[starts] + _ns(self.for_, "for_"), side="left")
        held = fire < ends  # the condition still held when for_ had passed
        starts, ends, fire = starts[held], ends[held], fire[held]
        if len(starts) == 0:
            return _empty()
        peaks = np.array([s[a:b].max() for a, b in zip(starts, ends, strict=True)])
        last = len(t) - 1
        fired, cleared, since = t[fire], t[np.minimum(ends, last)], t[starts]
        group = _suppression_groups(fired, cleared, _ns(self.suppress, "suppress"))
        first = np.flatnonzero(np.diff(group, prepend=-1))
        return pd.DataFrame({
            "start": _times(fired[first]),
            "end": _times(np.maximum.reduceat(cleared, first)),
            "since": _times(since[first]),
            "peak": np.maximum.reduceat(peaks, first),
            "resolved": np.append(ends[first[1:] - 1], ends[-1]) <= last,
        })


def _hysteresis_runs(s: np.ndarray, on: float, off: float):
    """[start, end) index pairs where the state is on: set at s >= on, reset at s < off."""
    mark = np.where(s >= on, 1.0, np.where(s < off, 0.0, np.nan))
    state = pd.Series(mark).ffill().fillna(0.0).to_numpy() > 0
    edges = np.diff(np.concatenate(([False], state, [False])).astype(np.int8))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def _suppression_groups(fired: np.ndarray, cleared: np.ndarray, gap_ns: int) -> np.ndarray:
    """Event numbers after merging alerts that fire within `gap_ns` of the previous end."""
    group = np.zeros(len(fired), dtype=np.int64)
    end = cleared[0]
    for i in range(1, len(fired)):
        merged = fired[i] - end <= gap_ns
        group[i] = group[i - 1] + (not merged)
        end = max(end, cleared[i]) if merged else cleared[i]
    return group


def _empty(with_series: bool = False) -> pd.DataFrame:
    stamp = pd.Series([], dtype="datetime64[ns, UTC]")
    frame = pd.DataFrame({"start": stamp, "end": stamp, "since": stamp,
                          "peak": pd.Series([], dtype=float),
                          "resolved": pd.Series([], dtype=bool)})
    if with_series:
        frame.insert(0, "series", pd.Series([], dtype=object))
    return frame


def _column(volume, column):
    if isinstance(volume, pd.DataFrame):
        return volume[column] if column in volume.columns else None
    return volume


def _times(ns_values: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(ns_values, utc=True))


def _ns(value, what: str) -> int:
    """A non-negative duration in ns (0 allowed: no `for:`, no suppression)."""
    try:
        ms = duration_ms(value)
    except TimeParseError as exc:
        raise checks.BaselineInputError(f"AlertPolicy {what}: {exc}") from None
    if ms < 0:
        raise checks.BaselineInputError(f"AlertPolicy {what} must not be negative")
    return ms * 1_000_000
