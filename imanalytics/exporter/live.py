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
import time

import numpy as np
import pandas as pd

from ..baselines import checks
from ..errors import ImanalyticsError
from ..frames import parse_series
from ..samples import NAME

STEP = "1m"  # the review's SLI step: level following counts points at this step
# A scrape must end inside Prometheus' 10 s default scrape timeout: each request may take
# TIMEOUT_S, and no request or band computation starts once BUDGET_S has passed since the
# scrape began (a band from recent data costs about 2 ms).
TIMEOUT_S = 3.0
BUDGET_S = 6.0


class LiveLevels:
    """Recent values of the SLIs, one range query per query text and scrape."""

    def __init__(self, url: str, timeout: float = TIMEOUT_S, budget: float = BUDGET_S):
        from ..source import PromSource

        self.source = PromSource(url, timeout=timeout, retries=0, progress=False)
        self.budget = budget
        self.until = float("inf")
        self.failing: set[str] = set()
        self.warned = False

    def begin_scrape(self) -> None:
        self.until = time.monotonic() + self.budget

    def spent(self) -> bool:
        """Whether this scrape's budget is used up: the remaining bands come from the
        fitted state (their `following` gauge is 0); said once on stderr."""
        if time.monotonic() <= self.until:
            return False
        if not self.warned:
            print(f"serve-baselines: a scrape used up its {self.budget:g}s for recent data; "
                  "its remaining bands come from the fitted state only "
                  "(imanalytics_baseline_following 0)", file=sys.stderr, flush=True)
            self.warned = True
        return True

    def recent(self, query: str, window: pd.Timedelta, now: pd.Timestamp
               ) -> dict[tuple, pd.Series] | None:
        """Each series of `query` over ``(now - window, now]`` at 1 m, by its sorted labels;
        None when Prometheus cannot answer or the scrape's budget is spent (said once on
        stderr until it answers again)."""
        if self.spent():
            return None
        try:  # the grid ends at the scrape time, so the latest value counts at once
            frame = self.source.range(query, now - window, now, STEP)
        except (ImanalyticsError, OSError) as exc:
            return self.report(query, str(exc))
        self.failing.discard(query)
        return {_key(column): frame[column] for column in frame.columns}

    def report(self, what: str, why: str) -> None:
        """Say once on stderr that the bands of `what` come from the fitted state."""
        if what not in self.failing:
            print(f"serve-baselines: bands of {what} from the fitted state only: {why}",
                  file=sys.stderr, flush=True)
        self.failing.add(what)

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
