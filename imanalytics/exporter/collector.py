"""The bands as Prometheus gauges, computed for the moment of each scrape.

Every served SLI series becomes three gauges with the SLI series' own labels plus `sli`
and `strategy`::

    imanalytics_baseline_lower{sli="e2e_latency_p95",strategy="seasonal",job="im",instance="im-0:9100"}
    imanalytics_baseline_centre{...}
    imanalytics_baseline_upper{...}

at the served sensitivity (band = centre ± sensitivity·spread), from the fitted state
(`predict_bands`), or following the SLI's recent level when the exporter may ask
Prometheus for it (see `live`). The scrape job needs ``honor_labels: true`` so the series
keep their `job`/`instance`.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable

import pandas as pd
from prometheus_client.core import Metric

from ..errors import ImanalyticsError
from .live import band_now, follows
from .score import SCORE, scores_at
from .store import ServedSeries, Store

PREFIX = "imanalytics_baseline_"
EDGES = ("lower", "centre", "upper")
HELP = {
    "lower": "Lower edge of the baseline band at the served sensitivity.",
    "centre": "Centre of the baseline band: the value the baseline expects now.",
    "upper": "Upper edge of the baseline band at the served sensitivity.",
}


def edge_metric(edge: str) -> str:
    """``imanalytics_baseline_upper``: the gauge holding one band edge."""
    return f"{PREFIX}{edge}"


def series_labels(series: ServedSeries) -> dict[str, str]:
    """The labels of the exported gauges for `series`."""
    return {**series.labels, "sli": series.sli, "strategy": series.strategy}


class BandCollector:
    """A prometheus-client collector over a loaded `Store`; `clock` gives epoch seconds;
    `live` (a `LiveLevels`) lets bands follow the SLIs' recent level."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time, live=None):
        self.store = store
        self.clock = clock
        self.live = live
        self._lock = threading.Lock()  # concurrent scrapes share the live budget: one at a time
        self.loaded_at = time.time()
        self.reload_ok = True

    def swap(self, store: Store) -> None:
        """Serve `store` from the next scrape on (a reload that succeeded)."""
        with self._lock:
            self.store, self.loaded_at, self.reload_ok = store, time.time(), True

    def reload_failed(self) -> None:
        with self._lock:
            self.reload_ok = False

    def collect(self):
        with self._lock:
            families = self._families()
        yield from families

    def _families(self) -> list[Metric]:
        now = pd.DatetimeIndex([pd.Timestamp(self.clock(), unit="s", tz="UTC")])
        families = {edge: Metric(edge_metric(edge), HELP[edge], "gauge") for edge in EDGES}
        sensitivity = Metric(f"{PREFIX}sensitivity",
                             "Band half-width in spreads the bands are served at.", "gauge")
        fitted = Metric(f"{PREFIX}fitted_until_timestamp_seconds",
                        "When the history the model was fitted on ends.", "gauge")
        following = Metric(f"{PREFIX}following",
                           "1 when the band follows the SLI's recent level from Prometheus, "
                           "0 when it comes from the fitted state alone.", "gauge")
        for series, band, followed in bands_at(self.store, now, self.live):
            labels = series_labels(series)
            for edge in EDGES:
                families[edge].add_sample(edge_metric(edge), labels, float(band[edge]))
            sensitivity.add_sample(f"{PREFIX}sensitivity", labels, series.sensitivity)
            following.add_sample(f"{PREFIX}following", labels, float(followed))
            if series.fitted_until:
                fitted.add_sample(f"{PREFIX}fitted_until_timestamp_seconds", labels,
                                  pd.Timestamp(series.fitted_until).timestamp())
        models = Metric(f"{PREFIX}models", "Fitted baseline models served.", "gauge")
        models.add_sample(f"{PREFIX}models", {}, float(len(self.store.models)))
        return [*families.values(), sensitivity, following, fitted, models, *self._reloads(),
                *self._scores(now[0])]

    def _scores(self, now: pd.Timestamp) -> list[Metric]:
        """The forests' thresholds, and their anomaly scores when read from Prometheus
        (absent otherwise: a missing score must not read as a normal 0)."""
        score = Metric(SCORE, "Multi-SLI isolation forest's anomaly score in [0, 1] at the "
                       "scrape time.", "gauge")
        threshold = Metric(f"{PREFIX}anomaly_threshold",
                           "Score above which the forest calls the SLIs' state anomalous.",
                           "gauge")
        for labels, value, limit in scores_at(self.store, now, self.live):
            if value is not None:
                score.add_sample(SCORE, labels, value)
            threshold.add_sample(f"{PREFIX}anomaly_threshold", labels, limit)
        return [score, threshold]

    def _reloads(self) -> list[Metric]:
        ok = Metric(f"{PREFIX}reload_success",
                    "0 when the last reload (SIGHUP) failed and the bands served are older "
                    "than the directory.", "gauge")
        ok.add_sample(f"{PREFIX}reload_success", {}, float(self.reload_ok))
        at = Metric(f"{PREFIX}loaded_timestamp_seconds",
                    "When the baselines served were read from the directory.", "gauge")
        at.add_sample(f"{PREFIX}loaded_timestamp_seconds", {}, self.loaded_at)
        return [ok, at]


def bands_at(store: Store, index: pd.DatetimeIndex, live=None):
    """(series, {lower, centre, upper}, follows) for every served series at the first time
    of `index`: from the SLI's recent values when `live` has them (follows = True), else
    from the fitted state.

    Models serving several series are asked once; their bands come back as
    (series, band) column pairs.
    """
    now = index[0]
    if live is not None:
        live.begin_scrape()
    recent: dict[tuple, dict | None] = {}
    predicted: dict[tuple, dict] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short or gappy recent data: the band still stands
        for series in store.series:
            model = store.models[series.file]
            band = _followed(series, model, now, live, recent)
            if band is not None:
                yield series, band, True
                continue
            key = (series.file, series.sensitivity)
            if key not in predicted:
                row = model.predict_bands(index, series.sensitivity).iloc[0]
                # A plain dict: looking up one column of a wide model in pandas per series
                # would cost more than predicting them all.
                predicted[key] = dict(zip(row.index, row.to_numpy().tolist(), strict=True))
            values = predicted[key]
            if series.column is None:
                yield series, {edge: values[edge] for edge in EDGES}, False
            else:
                yield series, {edge: values[(series.column, edge)] for edge in EDGES}, False


def _followed(series: ServedSeries, model, now, live, recent: dict) -> dict | None:
    window = follows(model, series.column) if live is not None and series.query else None
    if window is None or _spent(live):
        return None
    key = (series.query, window)
    if key not in recent:
        recent[key] = live.recent(series.query, window, now)
        what = f"bands of {series.query}"
        if recent[key] is None:
            live.say_once(what, f"{what} from the fitted state only "
                          f"(imanalytics_baseline_following 0): {live.why[series.query]}")
        else:
            live.well(what, f"{what} follow the recent level again")
    found = (recent[key] or {}).get(tuple(sorted(series.labels.items())))
    if found is None or not found.notna().any():
        return None
    what = f"band of {series.describe()}"
    try:
        band = band_now(model, found, now, series.sensitivity)
    except (ImanalyticsError, ValueError) as exc:  # odd recent data: keep the fitted band
        live.say_once(what, f"{what} from the fitted state only: {exc}")
        return None
    live.well(what, f"{what} follows the recent level again")
    return band


def _spent(live) -> bool:
    """Whether the scrape's budget is used up: the remaining bands come from the fitted
    state (their `following` gauge is 0); said once."""
    if not live.spent():
        return False
    live.say_once("budget", f"a scrape used up its {live.budget:g}s for recent data; its "
                  "remaining bands come from the fitted state only "
                  "(imanalytics_baseline_following 0)")
    return True
