"""The multi-SLI isolation forest's anomaly score at the latest complete minute.

With ``--prometheus URL`` the exporter reads each forest's SLIs over its `adapt` window
(one range query per query text, inside the scrape's budget, as `live` does for bands)
and serves the forest's own `score` of that frame at the latest complete minute. Without
the data no score is served (never a made-up 0 that would read as "normal"); stderr says
so once.
"""

from __future__ import annotations

import sys
import warnings

import pandas as pd

from ..baselines import checks
from ..errors import ImanalyticsError
from .store import Store


def forests(store: Store) -> dict[str, list]:
    """Served series of models that score several SLIs together, by model file."""
    out: dict[str, list] = {}
    for series in store.series:
        if series.column is not None and hasattr(store.models[series.file], "forest_"):
            out.setdefault(series.file, []).append(series)
    return out


def score_labels(served: list) -> dict[str, str]:
    """The labels the forest's series share, plus its `strategy`."""
    shared = dict(served[0].labels)
    for series in served[1:]:
        shared = {k: v for k, v in shared.items() if series.labels.get(k) == v}
    return {**shared, "strategy": served[0].strategy}


def threshold(model) -> float:
    return float(getattr(model, "threshold", model.default_threshold))


def scores_at(store: Store, now: pd.Timestamp, live):
    """(labels, score, threshold) of every served forest; score None when Prometheus
    (`live`, None without it) has not its SLIs at the latest complete minute before `now`."""
    minute = now.floor("1min")
    for file, served in forests(store).items():
        model = store.models[file]
        yield score_labels(served), _score(file, model, served, minute, live), threshold(model)


def _score(file: str, model, served: list, minute: pd.Timestamp, live) -> float | None:
    if live is None:
        return None
    frame = _recent_frame(model, served, minute, live)
    if frame is None:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # short or gappy recent data
            score = float(model.score(frame).iloc[-1])
    except (ImanalyticsError, ValueError) as exc:
        return _say(live, file, str(exc))
    live.failing.discard(f"anomaly score of {file}")
    return score


def _recent_frame(model, served: list, minute: pd.Timestamp, live) -> pd.DataFrame | None:
    """The model's columns over its adapt window up to `minute`; None (said once) when a
    column has no value at `minute`."""
    window = pd.Timedelta(checks.duration_ns(model.adapt, "adapt"), "ns")
    columns = {}
    for series in served:
        found = None
        if series.query and not live.spent():
            found = (live.recent(series.query, window, minute) or {}).get(
                tuple(sorted(series.labels.items())))
        if found is None or minute not in found.index or pd.isna(found.loc[minute]):
            _say(live, series.file, f"no recent value of {series.describe()}")
            return None
        columns[series.column] = found[found.index <= minute]
    return pd.DataFrame(columns)[list(model.columns_)]


def _say(live, file: str, why: str) -> None:
    """Say once on stderr (until it is served again) that a forest's score is left out."""
    what = f"anomaly score of {file}"
    if what not in live.failing:
        print(f"serve-baselines: no {what} served: {why}", file=sys.stderr, flush=True)
    live.failing.add(what)
    return None
