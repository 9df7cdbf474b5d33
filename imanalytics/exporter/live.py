"""Bands that follow the SLI's recent level, as the review's backtest judged them.

A seasonal profile's centre follows the trailing median of its residuals over its `adapt`
window (a day by default), so a lasting level shift stops alerting within about half of
it. The fitted state alone cannot do that: with ``--prometheus URL`` the exporter asks
Prometheus for each SLI's recent values (the index's `query`, the SLI's recorded series)
at every scrape and computes the band at the scrape time from them with `bands`, exactly
as the backtest did. Without the data (Prometheus down, a series missing, a model without
`adapt`) the band falls back to the fitted state, and the `following` gauge says so.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from ..baselines import checks
from ..errors import ImanalyticsError
from ..frames import parse_series
from ..samples import NAME

STEP = "1m"  # the review's SLI step: level following counts points at this step
TIMEOUT_S = 5.0  # per request; a scrape must finish well inside Prometheus' timeout


class LiveLevels:
    """Recent values of the SLIs, one range query per query text and scrape."""

    def __init__(self, url: str, timeout: float = TIMEOUT_S):
        from ..source import PromSource

        self.source = PromSource(url, timeout=timeout, retries=0, progress=False)
        self.failing: set[str] = set()

    def recent(self, query: str, window: pd.Timedelta, now: pd.Timestamp
               ) -> dict[tuple, pd.Series] | None:
        """Each series of `query` over ``(now - window, now]`` at 1 m, by its sorted labels;
        None when Prometheus cannot answer (said once on stderr until it answers again)."""
        end = now.floor("1min")  # the review's grid: whole minutes
        try:
            frame = self.source.range(query, end - window, end, STEP)
        except (ImanalyticsError, OSError) as exc:
            if query not in self.failing:
                print(f"serve-baselines: bands of {query} from the fitted state only: {exc}",
                      file=sys.stderr, flush=True)
            self.failing.add(query)
            return None
        self.failing.discard(query)
        return {_key(column): frame[column] for column in frame.columns}

    def close(self) -> None:
        self.source.close()


def follows(model, column: str | None) -> pd.Timedelta | None:
    """The model's level-following window, if it has one and takes a single series."""
    adapt = getattr(model, "adapt", None)
    if adapt is None or column is not None or getattr(model, "columns_", None) is not None:
        return None
    return pd.Timedelta(checks.duration_ns(adapt, "adapt"), "ns")


def band_now(model, recent: pd.Series, now: pd.Timestamp, sensitivity: float) -> dict:
    """The causal band at `now` from the values up to it (a missing value at `now` itself
    adds no evidence: the band uses the data before it)."""
    series = recent[recent.index <= now]
    if not len(series) or series.index[-1] != now:
        series = pd.concat([series, pd.Series([np.nan], index=pd.DatetimeIndex([now]))])
    row = model.bands(series, sensitivity=sensitivity).iloc[-1]
    return {edge: float(row[edge]) for edge in ("lower", "centre", "upper")}


def _key(column: str) -> tuple:
    return tuple(sorted((k, v) for k, v in parse_series(column).items() if k != NAME))
