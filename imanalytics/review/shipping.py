"""The recommended candidates as Prometheus rules, with promtool tests that show each alert
firing on an incident it caught and silent on a quiet stretch of the same history.

Static and PromQL-native candidates ship as rules alone. Other baselines (seasonal, `auto`,
STL, quantile GBM: any estimator with `predict_bands`) ship through the baseline exporter:
their models are refitted on the whole reviewed history, saved for ``serve-baselines``, and
the alert compares the SLI's recorded series with the exporter's band edge.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import clone

from ..exporter import ServedSeries, edge_metric, series_labels
from ..frames import parse_series
from ..rules import AlertCase, AlertRule, band_alert, fires, static_alert
from ..samples import NAME, Series
from ..slis import UPPER
from .backtest import SLIBacktest

CONTEXT = pd.Timedelta("60min")
QUIET = pd.Timedelta("6h")


@dataclass
class Shipped:
    sli: str
    alert: AlertRule
    recording_groups: list[dict]  # band rules, for a file of their own
    edge_record: str | None  # the band edge series the alert compares with
    cases: list[AlertCase]
    # exporter-shipped: SLI series (frame column) -> what the exporter serves for it
    models: dict[str, tuple[ServedSeries, object]] = field(default_factory=dict)

    @property
    def baselines(self) -> list[tuple[ServedSeries, object]]:
        """(served series, fitted model) pairs for `imanalytics.exporter.save_baselines`."""
        return list(self.models.values())


def ship(test: SLIBacktest, row: pd.Series) -> Shipped:
    """Rules and promtool cases for the recommended `row` of one SLI's backtest."""
    if row["strategy"] == "static":
        alert = static_alert(test.sli, row["level"], row["for"])
        shipped = Shipped(test.sli.key, alert, [], None, [])
    elif row["exportable"]:
        shipped = _banded(test, row)
    else:
        shipped = _exported(test, row)
    shipped.cases = _cases(test, row, shipped)
    return shipped


def _exported(test: SLIBacktest, row: pd.Series) -> Shipped:
    """The alert on the exporter's band edge, and a model per SLI series to serve it."""
    sli, strategy, k = test.sli, row["strategy"], float(row["level"])
    edge = edge_metric(_edge(test))
    selector = f'{edge}{{sli="{sli.key}",strategy="{strategy}"}}'
    alert = band_alert(sli, selector, row["for"], strategy=strategy)
    models = {}
    for column, fitted in test.estimators[strategy].items():
        served = ServedSeries(sli.key, _series_labels(column), strategy, k, sli.direction,
                              query=sli.record, fitted_until=test.frame.index[-1].isoformat())
        models[column] = (served, _refit(fitted, test.frame[column], k))
    return Shipped(sli.key, alert, [], edge, [], models)


def _refit(fitted, series: pd.Series, k: float):
    """The backtested model, same parameters, fitted on the whole history for production."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the backtest already fitted this data once
        return clone(fitted).set_params(sensitivity=k).fit(series.dropna())


def _series_labels(column: str) -> dict[str, str]:
    return {k: v for k, v in parse_series(column).items() if k != NAME}


def _edge(test: SLIBacktest) -> str:
    return "upper" if test.sli.direction == UPPER else "lower"


def _banded(test: SLIBacktest, row: pd.Series) -> Shipped:
    estimator = next(iter(test.estimators[row["strategy"]].values()))
    estimator = estimator.set_params(sensitivity=float(row["level"]))
    group = estimator.to_rules(test.sli, for_=row["for"])[0]
    alert_dict = next(r for r in group["rules"] if "alert" in r)
    records = [r for r in group["rules"] if "record" in r]
    edge = next(r["record"] for r in records if r["record"] in alert_dict["expr"])
    alert = AlertRule(
        name=alert_dict["alert"], expr=alert_dict["expr"], for_=alert_dict["for"],
        severity=alert_dict["labels"]["severity"], sli=test.sli.key, layer=test.sli.layer,
        summary=alert_dict["annotations"]["summary"],
        description=alert_dict["annotations"]["description"],
        runbook_url=alert_dict["annotations"]["runbook_url"],
        labels={k: v for k, v in alert_dict["labels"].items()
                if k not in ("severity", "sli", "layer")})
    return Shipped(test.sli.key, alert, [{"name": group["name"], "rules": records}], edge, [])


def _cases(test: SLIBacktest, row: pd.Series, shipped: Shipped) -> list[AlertCase]:
    """A case where the shipped rule fires on a caught incident and one where it stays
    silent, each only if the shipped rule really does so (exported models are refitted,
    so their bands are not exactly the backtested ones)."""
    events = _events(test, row)
    firing = (_case(test, row, shipped, (i.start.floor("1min") - CONTEXT,
                                         i.end.ceil("1min") + CONTEXT),
                    f"{shipped.alert.name} fires on the {i.kind} incident of "
                    f"{i.start:%Y-%m-%d %H:%M}")
              for i in _caught_incidents(test, events))
    silent = (_case(test, row, shipped, q, f"{shipped.alert.name} stays silent on "
                    f"{q[0]:%Y-%m-%d %H:%M} to {q[1]:%H:%M}")
              for q in _quiet_windows(test, events))
    cases = [next((c for c in firing if fires(c)), None),
             next((c for c in silent if not fires(c)), None)]
    return [c for c in cases if c is not None]


def _events(test: SLIBacktest, row: pd.Series) -> pd.DataFrame:
    return test.events[row["candidate"]]


def _caught_incidents(test: SLIBacktest, events: pd.DataFrame):
    for incident in test.incidents:
        if ((events["start"] <= incident.end) & (events["end"] >= incident.start)).any():
            yield incident


def _quiet_windows(test: SLIBacktest, events: pd.DataFrame):
    """`QUIET` stretches of the judged history with no alert and no incident, in order."""
    busy = [(e.start, e.end) for e in events.itertuples()]
    busy += [(i.start, i.end) for i in test.incidents]
    start = test.evaluated_from.ceil("1h")
    last = test.frame.index[-1]
    while start + QUIET <= last:
        end = start + QUIET
        clash = [b for b in busy if b[0] <= end + CONTEXT and b[1] >= start - CONTEXT]
        if not clash:
            yield start, end
            start = end + CONTEXT
        else:
            start = max(b[1] for b in clash).ceil("1h") + CONTEXT


def _case(test: SLIBacktest, row: pd.Series, shipped: Shipped, window, comment: str):
    frame = test.frame.loc[window[0]:window[1]]
    grid = ((frame.index - frame.index[0]) // pd.Timedelta("1min")).to_numpy() * 60_000
    inputs = []
    for column in frame.columns:
        labels = {**parse_series(column), NAME: test.sli.record}
        inputs.append(Series(labels, grid.astype(np.int64), frame[column].to_numpy()))
        edge = _edge_input(test, row, shipped, column, frame.index)
        if edge is not None:
            inputs.append(Series(edge[0], grid.astype(np.int64), edge[1]))
    minutes = list(range(10, len(frame), 5))
    return AlertCase(shipped.alert, inputs, minutes, comment)


def _edge_input(test: SLIBacktest, row: pd.Series, shipped: Shipped, column: str, index):
    """(labels, values) of the band edge series the alert compares `column` with: the
    recorded PromQL band, or the exporter's gauge as the shipped model predicts it."""
    k, edge = float(row["level"]), _edge(test)
    if column in shipped.models:
        served, model = shipped.models[column]
        values = model.predict_bands(index, sensitivity=k)[edge].to_numpy()
        return {**series_labels(served), NAME: shipped.edge_record}, values
    band = test.bands.get(row["strategy"], {}).get(column)
    if not shipped.edge_record or band is None:
        return None
    centre = band["centre"].loc[index]
    values = centre + k * (band[edge].loc[index] - centre)
    return {**_series_labels(column), NAME: shipped.edge_record}, values.to_numpy()
