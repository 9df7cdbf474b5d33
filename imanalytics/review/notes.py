"""Warnings about the data a review stands on, for the CLI, summary.md and the report.

A review is only as good as its history: less of it than asked, an SLI with no data,
incidents it cannot judge and series with holes all change what its numbers mean, so
each is said in words next to them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..plots import short_name
from ..slis import SLI

SHORT_BY = pd.Timedelta("30min")  # less history than asked by more than this is said
MIN_GAP = pd.Timedelta("10min")  # holes shorter than this are scrape noise
INVENTORY = "run `python -m imanalytics inventory --url URL` to see which metrics the server has"


def skipped_note(sli: SLI, missing: Sequence[str]) -> str:
    if missing:
        return (f"SLI {sli.key} skipped: no series for {', '.join(missing)} in the history; "
                f"{INVENTORY}")
    return (f"SLI {sli.key} skipped: its expression returns no data over the history; "
            f"{INVENTORY}")


def data_notes(review) -> list[str]:
    """Span, incident and gap warnings for a finished review."""
    return [*_span(review), *_incidents(review), *(n for t in review.backtests for n in _gaps(t))]


def _span(review) -> list[str]:
    start, end = review.asked
    if review.start - start <= SHORT_BY and end - review.end <= SHORT_BY:
        return []
    return [f"the history covers {_days(review.end - review.start)} "
            f"({review.start:%Y-%m-%d %H:%M} to {review.end:%Y-%m-%d %H:%M} UTC), not the "
            f"{_days(end - start)} asked for; every per-week figure uses the real span"]


def _days(span: pd.Timedelta) -> str:
    days = span / pd.Timedelta("1D")
    return f"{days:.1f} days" if days >= 1 else f"{span / pd.Timedelta('1h'):.1f} hours"


def _incidents(review) -> list[str]:
    notes = []
    outside = [i for i in review.incidents if i.end <= review.start or i.start >= review.end]
    if outside:
        notes.append(f"{len(outside)} incident(s) fall outside the history "
                     f"({review.start:%Y-%m-%d %H:%M} to {review.end:%Y-%m-%d %H:%M} UTC) "
                     "and are not judged")
    watched = {k for t in review.backtests for k in t.sli.incident_kinds}
    learning = [i for i in review.incidents if i.kind in watched and i not in outside
                and all(i.end <= t.evaluated_from for t in review.backtests)]
    if learning:
        notes.append(f"{len(learning)} incident(s) end in the first part of the history, "
                     "where baselines learn, and are not judged")
    return notes


def _gaps(test) -> list[str]:
    notes = []
    step = _step(test.frame.index)
    for column in test.frame.columns:
        holes = _holes(test.frame[column], step)
        if holes:
            longest = max(holes) / pd.Timedelta("1min")
            notes.append(f"SLI {test.sli.key}, {short_name(column)}: {len(holes)} gap(s) "
                         f"in the data, the longest {longest:.0f} min (no alert can fire "
                         "there)")
    return notes


def _holes(series: pd.Series, step: pd.Timedelta) -> list[pd.Timedelta]:
    """Lengths of the runs without data between the series' first and last point."""
    present = series.notna().to_numpy()
    if not present.any():
        return []
    first, last = np.flatnonzero(present)[[0, -1]]
    inside = ~present[first:last + 1]
    padded = np.concatenate([[False], inside, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    lengths = [(stop - begin) * step for begin, stop in zip(edges[::2], edges[1::2],
                                                            strict=True)]
    return [length for length in lengths if length >= MIN_GAP]


def _step(index: pd.DatetimeIndex) -> pd.Timedelta:
    return pd.Timedelta(np.median(np.diff(index.as_unit("ns").asi8)), "ns") if len(index) > 1 \
        else pd.Timedelta("1min")
