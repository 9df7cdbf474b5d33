"""The bands as Prometheus gauges, computed for the moment of each scrape.

Every served SLI series becomes three gauges with the SLI series' own labels plus `sli`
and `strategy`::

    imanalytics_baseline_lower{sli="e2e_latency_p95",strategy="seasonal",job="im",instance="im-0:9100"}
    imanalytics_baseline_centre{...}
    imanalytics_baseline_upper{...}

at the served sensitivity (band = centre ± sensitivity·spread), from the fitted state alone
(`predict_bands`): the exporter sees no live data. The scrape job needs
``honor_labels: true`` so the series keep their `job`/`instance`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pandas as pd
from prometheus_client.core import Metric

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
    """A prometheus-client collector over a loaded `Store`; `clock` gives epoch seconds."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time):
        self.store = store
        self.clock = clock

    def collect(self):
        now = pd.DatetimeIndex([pd.Timestamp(self.clock(), unit="s", tz="UTC")])
        families = {edge: Metric(edge_metric(edge), HELP[edge], "gauge") for edge in EDGES}
        sensitivity = Metric(f"{PREFIX}sensitivity",
                             "Band half-width in spreads the bands are served at.", "gauge")
        for series, band in bands_at(self.store, now):
            labels = series_labels(series)
            for edge in EDGES:
                families[edge].add_sample(edge_metric(edge), labels, float(band[edge]))
            sensitivity.add_sample(f"{PREFIX}sensitivity", labels, series.sensitivity)
        models = Metric(f"{PREFIX}models", "Fitted baseline models loaded at start.", "gauge")
        models.add_sample(f"{PREFIX}models", {}, float(len(self.store.models)))
        yield from (*families.values(), sensitivity, models)


def bands_at(store: Store, index: pd.DatetimeIndex):
    """(series, {lower, centre, upper}) for every served series at the first time of `index`.

    Models serving several series are asked once; their bands come back as
    (series, band) column pairs.
    """
    predicted: dict[tuple, dict] = {}
    for series in store.series:
        key = (series.file, series.sensitivity)
        if key not in predicted:
            row = store.models[series.file].predict_bands(index, series.sensitivity).iloc[0]
            # A plain dict: looking up one column of a wide model in pandas per series
            # would cost more than predicting them all.
            predicted[key] = dict(zip(row.index, row.to_numpy().tolist(), strict=True))
        values = predicted[key]
        if series.column is None:
            yield series, {edge: values[edge] for edge in EDGES}
        else:
            yield series, {edge: values[(series.column, edge)] for edge in EDGES}
