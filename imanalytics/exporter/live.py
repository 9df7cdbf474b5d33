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
    """Recent values of the SLIs, one range query per query text and scrape; and what
    stderr has said is failing, so each failure is said once until it is well again."""

    def __init__(self, url: str, timeout: float = TIMEOUT_S, budget: float = BUDGET_S):
        from ..source import PromSource

        self.source = PromSource(url, timeout=timeout, retries=0, progress=False)
        self.budget = budget
        self.until = float("inf")
        self.said: set[str] = set()
        self.why: dict[str, str] = {}  # query -> why Prometheus did not answer it

    def begin_scrape(self) -> None:
        self.until = time.monotonic() + self.budget

    def spent(self) -> bool:
        """Whether this scrape's budget for reading Prometheus is used up."""
        return time.monotonic() > self.until

    def recent(self, query: str, window: pd.Timedelta, now: pd.Timestamp
               ) -> dict[tuple, pd.Series] | None:
        """Each series of `query` over ``(now - window, now]`` at 1 m, by its sorted labels;
        None when Prometheus cannot answer (``why[query]`` says why)."""
        try:  # the grid ends at the scrape time, so the latest value counts at once
            frame = self.source.range(query, now - window, now, STEP)
        except (ImanalyticsError, OSError) as exc:
            self.why[query] = str(exc)
            return None
        self.why.pop(query, None)
        return {_key(column): frame[column] for column in frame.columns}

    def say_once(self, key: str, text: str) -> None:
        """`text` on stderr, unless `key` was said and is not `well` again since."""
        if key not in self.said:
            print(f"serve-baselines: {text}", file=sys.stderr, flush=True)
            self.said.add(key)

    def well(self, key: str, text: str) -> None:
        """`key` works again: `text` on stderr if its failure was said."""
        if key in self.said:
            self.said.discard(key)
            print(f"serve-baselines: {text}", file=sys.stderr, flush=True)

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
