"""Scoring a live stream as it arrives, causally by construction.

`OnlineScorer` keeps the history seen so far and a baseline fitted on it. `update(points)`
scores the new points with the current baseline (its level following sees the recent
history and each point up to itself, never a later one) and refits on everything seen so far
every `refit_every` points (or time span), so no point is ever scored by a model that saw
it. `walk_forward(series, refit_every, warmup)` does the same over a recorded series: the
warm-up rows are history only, the rest are scored block by block.

A live stream has bad stretches: while there is not enough history to fit (too few finite
values), or a refit fails on what arrived (a constant or all-NaN stretch), the previous
baseline keeps scoring and points before the first fit score 0 (no evidence). Bad input of
the kind a fit always refuses — counters, tz-naive indexes — is refused at once.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from . import checks
from .auto import auto

CONTEXT_NS = 3 * 86_400 * 10**9  # history passed along when scoring: the level window and more


class OnlineScorer:
    """Causal anomaly scores for a stream, refitting as it grows.

    refit_every : points (int) or a duration ("1d") between refits.
    fit : makes a fitted baseline from the history (default `auto`).
    max_history : history kept for fitting (a duration; default all of it).
    """

    def __init__(self, refit_every: int | str = "1d", fit: Callable = auto,
                 max_history: str | None = None):
        self.refit_every = refit_every
        self.fit = fit
        self.max_history = max_history
        self.history_ = pd.Series([], dtype=np.float64,
                                  index=pd.DatetimeIndex([], tz="UTC"))
        self.model_ = None
        self._since_fit = 0  # points since the last refit attempt (int cadence)
        self._fitted_at: pd.Timestamp | None = None  # time of the last refit attempt

    def update(self, points: pd.Series) -> pd.Series:
        """Scores of `points` (appended to the history), each from data up to itself."""
        x = self._after_history(_validated(points, "OnlineScorer.update"))
        out = []
        for block in self._blocks(x):
            out.append(self._score(block))
            self.history_ = _append(self.history_, block, self.max_history)
            self._refit_if_due(len(block), block.index[-1])
        if not out:
            return pd.Series([], dtype=np.float64, index=x.index, name="score")
        return pd.concat(out).rename("score")

    def warm_up(self, history: pd.Series) -> OnlineScorer:
        """Take `history` without scoring it, and fit on it."""
        x = self._after_history(_validated(history, "OnlineScorer.warm_up"))
        self.history_ = _append(self.history_, x, self.max_history)
        if len(x):
            self._refit(x.index[-1])
        return self

    # -- internals

    def _after_history(self, x: pd.Series) -> pd.Series:
        if len(self.history_) and len(x) and x.index[0] <= self.history_.index[-1]:
            raise checks.BaselineInputError(
                f"OnlineScorer: points must arrive in time order; got {x.index[0]} after "
                f"{self.history_.index[-1]}")
        return x

    def _blocks(self, x: pd.Series):
        """`x` cut where refits fall due, so each block is scored by one model (lazy: the
        refit after each block moves the next cut)."""
        while len(x):
            if self._by_count():
                cut = int(self.refit_every) - self._since_fit
            else:
                due = (self._fitted_at if self._fitted_at is not None else x.index[0]) \
                    + self._every()
                cut = int(x.index.searchsorted(due, side="right"))
            cut = max(1, cut)
            yield x.iloc[:cut]
            x = x.iloc[cut:]

    def _by_count(self) -> bool:
        if isinstance(self.refit_every, int | np.integer):
            if self.refit_every < 1:
                raise checks.BaselineInputError("OnlineScorer: refit_every must be >= 1")
            return True
        return False

    def _every(self) -> pd.Timedelta:
        return pd.Timedelta(checks.duration_ns(self.refit_every, "refit_every"), "ns")

    def _score(self, block: pd.Series) -> pd.Series:
        if self.model_ is None:
            return pd.Series(0.0, index=block.index)
        context = self.history_[self.history_.index > block.index[0]
                                - pd.Timedelta(CONTEXT_NS, "ns")]
        both = pd.concat([context, block])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", checks.BaselineWarning)
            scores = self.model_.score(both)
        return pd.Series(scores.to_numpy()[len(context):], index=block.index)

    def _refit_if_due(self, added: int, last: pd.Timestamp) -> None:
        self._since_fit += added
        if self._by_count():
            due = self._since_fit >= int(self.refit_every)
        else:
            due = self._fitted_at is None or last - self._fitted_at >= self._every()
        if due:
            self._refit(last)

    def _refit(self, last: pd.Timestamp) -> None:
        self._since_fit, self._fitted_at = 0, last
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", checks.BaselineWarning)
            try:
                self.model_ = self.fit(self.history_)
            except checks.CounterInputError:
                raise
            except checks.BaselineError:
                pass  # too little finite history yet, or a bad stretch: the previous one scores


def walk_forward(series: pd.Series, refit_every: int | str, warmup: int | str,
                 fit: Callable = auto) -> pd.Series:
    """Causal scores of `series` after its warm-up (rows, or a duration from its start).

    The warm-up is history only; each later block of `refit_every` rows (or time) is scored
    by a baseline fitted on every row before the block.
    """
    x = _validated(series, "walk_forward")
    if not isinstance(warmup, int | np.integer):
        end = x.index[0] + pd.Timedelta(checks.duration_ns(warmup, "warmup"), "ns")
        warmup = int(x.index.searchsorted(end, side="left"))
    finite = int(np.isfinite(x.to_numpy()).sum())
    if finite < checks.MIN_POINTS:
        raise checks.ShortHistoryError(
            f"walk_forward needs at least {checks.MIN_POINTS} finite values, got {finite}")
    scorer = OnlineScorer(refit_every=refit_every, fit=fit).warm_up(x.iloc[:warmup])
    return scorer.update(x.iloc[warmup:])


def _validated(points, who: str) -> pd.Series:
    """Time-ordered, one value per timestamp, on a UTC index; counters refused."""
    x = checks.as_series(points, who)
    x = checks.canonical(x.astype(np.float64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", checks.BaselineWarning)  # constant stretches are fine
        checks.check_values(x.dropna().to_numpy(), who)
    return x


def _append(history: pd.Series, block: pd.Series, keep: str | None) -> pd.Series:
    out = pd.concat([history, block]) if len(history) else block.copy()
    if keep is not None:
        out = out[out.index > out.index[-1] - pd.Timedelta(checks.duration_ns(keep, "history"),
                                                           "ns")]
    return out
