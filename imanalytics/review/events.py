"""Alert events the way Prometheus produces them from an alert condition.

A rule is evaluated every `step`; a series whose condition holds becomes pending and
fires once it has held for ``for:``; it resolves at the first evaluation where the
condition is gone. A shipped alert rule behaves exactly like this, so the review counts
pages with it, not with a smoother policy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

EVENT_COLUMNS = ["series", "start", "end", "since", "resolved"]


def firing_events(condition: pd.DataFrame, for_: pd.Timedelta) -> pd.DataFrame:
    """One row per firing: `start` (fired), `end` (last firing evaluation), `since`
    (condition began), `resolved`; `condition` is a boolean frame, one column per series."""
    step = _step(condition.index)
    hold = int(np.ceil(for_ / step)) if step > pd.Timedelta(0) else 0
    rows = []
    for column in condition.columns:
        rows += _series_events(column, condition.index, condition[column].to_numpy(), hold)
    return pd.DataFrame(rows, columns=EVENT_COLUMNS)


def _series_events(column: str, index: pd.DatetimeIndex, on: np.ndarray, hold: int) -> list:
    padded = np.concatenate([[False], on.astype(bool), [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    rows = []
    for begin, stop in zip(edges[::2], edges[1::2], strict=True):  # runs [begin, stop)
        fire = begin + hold
        if fire < stop:
            rows.append((column, index[fire], index[stop - 1], index[begin], stop < len(on)))
    return rows


def _step(index: pd.DatetimeIndex) -> pd.Timedelta:
    if len(index) < 2:
        return pd.Timedelta(0)
    return pd.Timedelta(np.median(np.diff(index.as_unit("ns").asi8)), "ns")


def flaps(events: pd.DataFrame, within: pd.Timedelta) -> int:
    """Firings that start within `within` of the same series' previous resolution."""
    count = 0
    for _, group in events.groupby("series", sort=False):
        starts = group["start"].to_numpy()[1:]
        ends = group["end"].to_numpy()[:-1]
        count += int(np.sum(starts - ends <= within.to_timedelta64()))
    return count
