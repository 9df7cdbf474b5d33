"""Scoring a stream as it arrives: causal by construction, robust to bad stretches."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from imanalytics.baselines import (
    BaselineInputError,
    CounterInputError,
    OnlineScorer,
    ShortHistoryError,
    walk_forward,
)

DAY = 288  # rows of 5 minutes


def _stream(days: float = 5, seed: int = 0) -> pd.Series:
    rng = np.random.default_rng(seed)
    n = int(days * DAY)
    t = pd.date_range("2024-03-04", periods=n, freq="5min", tz="UTC")
    values = 100 + 30 * np.sin(2 * np.pi * np.arange(n) / DAY) + rng.normal(0, 3, n)
    values[int(3.5 * DAY):int(3.5 * DAY) + 12] += 60  # an incident
    return pd.Series(values, index=t)


def test_no_score_depends_on_a_later_point():
    series = _stream()
    full = walk_forward(series, refit_every=DAY // 2, warmup=2 * DAY)
    assert full.index.equals(series.index[2 * DAY:])
    assert full.iloc[int(1.5 * DAY):int(1.5 * DAY) + 12].max() > 0.5  # it sees the incident
    for cut in (2 * DAY + 1, 3 * DAY + 77, int(3.5 * DAY) + 5):
        changed = series.copy()
        changed.iloc[cut:] = changed.iloc[cut:] * 3 + 50  # whatever comes later
        early = walk_forward(changed, refit_every=DAY // 2, warmup=2 * DAY)
        np.testing.assert_array_equal(early.iloc[:cut - 2 * DAY], full.iloc[:cut - 2 * DAY])
        assert not np.array_equal(early.iloc[cut - 2 * DAY:], full.iloc[cut - 2 * DAY:])


def test_updates_in_any_chunks_give_the_same_scores():
    series = _stream(4)
    whole = OnlineScorer(refit_every="12h").warm_up(series.iloc[:2 * DAY])
    expected = whole.update(series.iloc[2 * DAY:])
    chunked = OnlineScorer(refit_every="12h").warm_up(series.iloc[:2 * DAY])
    sizes = np.resize([1, 37, 5, 120], len(series))
    edges = np.minimum(2 * DAY + np.concatenate(([0], np.cumsum(sizes))), len(series))
    got = pd.concat([chunked.update(series.iloc[a:b])
                     for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a])
    pd.testing.assert_series_equal(got, expected)


def test_constant_and_missing_stretches_in_a_live_stream_never_raise():
    series = _stream(4)
    series.iloc[2 * DAY:int(2.5 * DAY)] = np.nan
    series.iloc[int(2.5 * DAY):3 * DAY] = 7.0
    scorer = OnlineScorer(refit_every=DAY // 4)
    scores = pd.concat([scorer.update(series.iloc[a:a + 50]) for a in range(0, len(series), 50)])
    assert scores.index.equals(series.index)
    assert np.isfinite(scores.to_numpy()).all()
    assert (scores.iloc[:10] == 0).all()  # nothing to compare with yet: no evidence
    empty = OnlineScorer().update(series.iloc[:0])
    assert empty.empty


def test_bad_input_gets_the_usual_clear_errors():
    series = _stream(3)
    with pytest.raises(BaselineInputError, match="tz"):
        walk_forward(series.tz_localize(None), refit_every=DAY, warmup=DAY)
    counter = pd.Series(np.cumsum(np.arange(len(series)) % 5 + 1.0), index=series.index)
    with pytest.raises(CounterInputError, match="counter"):
        walk_forward(counter, refit_every=DAY, warmup=DAY)
    with pytest.raises(CounterInputError, match="counter"):
        OnlineScorer().update(counter)
    with pytest.raises(ShortHistoryError, match="at least 10"):
        walk_forward(series.iloc[:5], refit_every=2, warmup=2)
    scorer = OnlineScorer()
    scorer.update(series.iloc[100:110])
    with pytest.raises(BaselineInputError, match="time order"):
        scorer.update(series.iloc[:5])
