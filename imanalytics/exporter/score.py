"""The multi-SLI isolation forest's anomaly score at the moment of the scrape.

With ``--prometheus URL`` the exporter reads each forest's SLIs over its `adapt` window
(one range query per query text and scrape, inside the scrape's budget, as `live` does for
bands) and serves the forest's own `score` of that frame at the scrape's second. Without
the data no score is served (never a made-up 0 that would read as "normal"); stderr says
once which scores are left out and why, and again when they are back.
"""

from __future__ import annotations

import sys
import warnings

import pandas as pd

from ..baselines import checks
from ..errors import ImanalyticsError
from .store import Store

SCORE = "imanalytics_baseline_anomaly_score"
OVER_BUDGET = "the scrape's budget for recent data is used up"


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
    (`live`, None without it) has not its SLIs at `now` (to the second)."""
    at = now.floor("s")
    fetched: dict[tuple, dict | None] = {}  # this scrape's range queries
    said = Said()
    for file, served in forests(store).items():
        model = store.models[file]
        labels = score_labels(served)
        score = None
        if live is not None:
            score, why = _score(model, served, at, live, fetched)
            said.add(_series_name(labels), score, why)
        yield labels, score, threshold(model)
    if live is not None:
        said.tell(live)


class Said:
    """What one scrape has to say on stderr about the scores: those newly left out (by
    why), those back, and how many the scrape's budget left out; each said once."""

    def __init__(self):
        self.left_out: dict[str, list[str]] = {}
        self.back: list[str] = []
        self.over_budget = 0

    def add(self, name: str, score: float | None, why: str) -> None:
        if score is not None:
            self.back.append(name)
        elif why is OVER_BUDGET:  # which forests miss the budget varies between scrapes
            self.over_budget += 1
        else:
            self.left_out.setdefault(why, []).append(name)

    def tell(self, live) -> None:
        back = [name for name in self.back if name in live.said]
        if back:
            live.said.difference_update(back)
            _say(f"{_names(back)} {'are' if len(back) > 1 else 'is'} served again")
        for why, names in self.left_out.items():
            new = [name for name in names if name not in live.said]
            if new:
                live.said.update(new)
                they = "they" if len(new) > 1 else "it"
                _say(f"no {_names(new)} in this scrape, nor in later ones until {they} can "
                     f"be computed (thresholds and bands are served as before): {why}")
        if self.over_budget:
            live.say_once(OVER_BUDGET, f"a scrape used up its {live.budget:g}s for recent "
                          f"data before {self.over_budget} anomaly score(s) were computed: "
                          f"those are left out of it ({SCORE} absent for them; said once)")


def _score(model, served: list, at: pd.Timestamp, live, fetched: dict
           ) -> tuple[float | None, str]:
    """The forest's score at `at`, or None and why not."""
    frame, why = _recent_frame(model, served, at, live, fetched)
    if frame is None:
        return None, why
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # short or gappy recent data
            return model.latest_score(frame), ""
    except (ImanalyticsError, ValueError) as exc:
        return None, f"the forest cannot score its SLIs' recent values: {exc}"


def _recent_frame(model, served: list, at: pd.Timestamp, live, fetched: dict
                  ) -> tuple[pd.DataFrame | None, str]:
    """The model's columns over its adapt window up to `at`, or None and why: every
    column needs a value at `at`."""
    if live.spent():  # no new query or score once the scrape's budget is used up
        return None, OVER_BUDGET
    window = pd.Timedelta(checks.duration_ns(model.adapt, "adapt"), "ns")
    columns = {}
    for series in served:
        if not series.query:
            return None, f"index.json gives no query for {series.describe()}"
        key = (series.query, window)
        if key not in fetched:
            fetched[key] = live.recent(series.query, window, at)
        if fetched[key] is None:
            return None, f"no recent values of its SLIs: {live.why[series.query]}"
        found = fetched[key].get(tuple(sorted(series.labels.items())))
        if found is None or at not in found.index or pd.isna(found.loc[at]):
            return None, f"Prometheus has no value of {series.sli} ({series.query}) now"
        columns[series.column] = found[found.index <= at]
    return pd.DataFrame(columns)[list(model.columns_)], ""


def _names(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _say(text: str) -> None:
    print(f"serve-baselines: {text}", file=sys.stderr, flush=True)


def _series_name(labels: dict[str, str]) -> str:
    pairs = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{SCORE}{{{pairs}}}"
