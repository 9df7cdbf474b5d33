"""The recommended candidates as Prometheus rules, with promtool tests that show each alert
firing on an incident it caught and silent on a quiet stretch of the same history."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..alerting.rule_tests import AlertCase
from ..alerting.rules import AlertRule, static_alert
from ..frames import parse_series
from ..samples import NAME, Series
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


def ship(test: SLIBacktest, row: pd.Series) -> Shipped | None:
    """Rules and promtool cases for the recommended `row` of one SLI's backtest."""
    if not row["exportable"]:
        return None
    if row["strategy"] == "static":
        alert = static_alert(test.sli, row["level"], row["for"])
        shipped = Shipped(test.sli.key, alert, [], None, [])
    else:
        shipped = _banded(test, row)
    shipped.cases = _cases(test, row, shipped)
    return shipped


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
    events = _events(test, row)
    cases = []
    caught = _caught_incident(test, events)
    if caught is not None:
        window = (caught.start.floor("1min") - CONTEXT, caught.end.ceil("1min") + CONTEXT)
        cases.append(_case(test, row, shipped, window, f"{shipped.alert.name} fires on "
                           f"the {caught.kind} incident of {caught.start:%Y-%m-%d %H:%M}"))
    quiet = _quiet_window(test, events)
    if quiet is not None:
        cases.append(_case(test, row, shipped, quiet, f"{shipped.alert.name} stays silent "
                           f"on {quiet[0]:%Y-%m-%d %H:%M} to {quiet[1]:%H:%M}"))
    return cases


def _events(test: SLIBacktest, row: pd.Series) -> pd.DataFrame:
    return test.events[row["candidate"]]


def _caught_incident(test: SLIBacktest, events: pd.DataFrame):
    for incident in test.incidents:
        if ((events["start"] <= incident.end) & (events["end"] >= incident.start)).any():
            return incident
    return None


def _quiet_window(test: SLIBacktest, events: pd.DataFrame):
    """The first `QUIET` stretch of the judged history with no alert and no incident."""
    busy = [(e.start, e.end) for e in events.itertuples()]
    busy += [(i.start, i.end) for i in test.incidents]
    start = test.evaluated_from.ceil("1h")
    last = test.frame.index[-1]
    while start + QUIET <= last:
        end = start + QUIET
        clash = [b for b in busy if b[0] <= end + CONTEXT and b[1] >= start - CONTEXT]
        if not clash:
            return start, end
        start = max(b[1] for b in clash).ceil("1h") + CONTEXT
    return None


def _case(test: SLIBacktest, row: pd.Series, shipped: Shipped, window, comment: str):
    frame = test.frame.loc[window[0]:window[1]]
    grid = ((frame.index - frame.index[0]) // pd.Timedelta("1min")).to_numpy() * 60_000
    inputs = []
    for column in frame.columns:
        labels = {**parse_series(column), NAME: test.sli.record}
        inputs.append(Series(labels, grid.astype(np.int64), frame[column].to_numpy()))
        if shipped.edge_record:
            band = test.bands[row["strategy"]].get(column)
            if band is not None:
                edge = "upper" if test.sli.direction == "upper" else "lower"
                k = float(row["level"])
                centre = band["centre"].loc[frame.index]
                values = centre + k * (band[edge].loc[frame.index] - centre)
                inputs.append(Series({**labels, NAME: shipped.edge_record},
                                     grid.astype(np.int64), values.to_numpy()))
    minutes = list(range(10, len(frame), 5))
    return AlertCase(shipped.alert, inputs, minutes, comment)
