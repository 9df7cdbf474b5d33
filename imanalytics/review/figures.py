"""The review report's figures: the SLI with its band, the alerts against the incidents
per series, and the trade-off between false pages and recall."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..plots import ALERT_FILL, INCIDENT_FILL, series_figure, short_name
from ..slis import SLI
from .backtest import SLIBacktest

MAX_BANDS = 12  # per SLI figure: each band is two traces of data in the page
# Grafana unit -> (factor, unit people read)
HUMAN_UNITS = {"percentunit": (100.0, "%"), "s": (1000.0, "ms"), "short": (1.0, ""),
               "reqps": (1.0, "requests/s"), "msgps": (1.0, "messages/s")}
LOG_FLOOR = 0.05  # where zero false pages sit on the log axis


def human(sli: SLI) -> tuple[float, str]:
    """Factor and unit that show the SLI in the units people read (%, ms, messages/s)."""
    return HUMAN_UNITS.get(sli.unit, (1.0, sli.unit))


def value_text(sli: SLI, value: float) -> str:
    factor, unit = human(sli)
    shown = value * factor
    number = f"{shown:,.0f}" if abs(shown) >= 1000 else f"{shown:.4g}"
    return f"{number}{' ' if unit and unit != '%' else ''}{unit}"


def sli_range(sli: SLI) -> tuple[float, float]:
    """What the SLI can be: ratios in [0, 1], everything else non-negative."""
    return (0.0, 1.0) if sli.unit == "percentunit" else (0.0, np.inf)


def sli_figure(test: SLIBacktest, best: pd.Series | None) -> go.Figure:
    """The judged history, the recommended band per series (clipped), alerts, incidents."""
    factor, unit = human(test.sli)
    frame = test.frame[test.frame.index >= test.evaluated_from]
    events = test.events[best["candidate"]] if best is not None else None
    bands = _bands(test, best, frame.index, events) if best is not None else {}
    threshold = None
    if best is not None and best["strategy"] == "static":
        threshold = float(best["level"]) * factor
    title = f"{test.sli.title} ({unit})" if unit else test.sli.title
    return series_figure(frame * factor, title, unit, {c: b * factor for c, b in bands.items()},
                         events, _incident_frame(test), threshold)


def _bands(test: SLIBacktest, best: pd.Series, index, events) -> dict[str, pd.DataFrame]:
    low, high = sli_range(test.sli)
    k = float(best["level"])
    strategy_bands = test.bands.get(best["strategy"]) or {}
    out = {}
    for column in _most_alerted(list(strategy_bands), events)[:MAX_BANDS]:
        band = strategy_bands[column]
        centre = band["centre"]
        out[column] = pd.DataFrame({"lower": centre + k * (band["lower"] - centre),
                                    "upper": centre + k * (band["upper"] - centre)}
                                   ).loc[index].clip(lower=low, upper=high)
    return out


def _most_alerted(columns: list[str], events: pd.DataFrame | None) -> list[str]:
    """Series with the most alerts first (their bands are what a reviewer checks)."""
    counts = events["series"].value_counts() if events is not None and len(events) \
        else pd.Series(dtype=int)
    return sorted(columns, key=lambda c: -int(counts.get(c, 0)))  # stable: ties keep order


def _incident_frame(test: SLIBacktest) -> pd.DataFrame:
    return pd.DataFrame({"start": [i.start for i in test.incidents],
                         "end": [i.end for i in test.incidents]})


def timeline_figure(test: SLIBacktest, best: pd.Series | None, current: list) -> go.Figure:
    """Per series: incidents, the recommended candidate's alerts, the current rules' alerts."""
    rows = {column: short_name(column) for column in test.frame.columns}
    fig = go.Figure()
    _segments(fig, _incident_rows(test, rows), "incidents", INCIDENT_FILL.replace("0.22", "0.9"),
              -0.25)
    if best is not None:
        _segments(fig, _event_rows(test.events[best["candidate"]], rows),
                  f"recommended: {best['candidate']}", ALERT_FILL.replace("0.25", "0.9"), 0.0)
    for i, result in enumerate(current):
        _segments(fig, _event_rows(result.events, rows), f"current: {result.rule.name}",
                  ["#555555", "#8c564b", "#9467bd"][i % 3], 0.25)
    names = list(rows.values())
    fig.update_layout(
        title=f"{test.sli.title}: alerts against incidents, per series", template="plotly_white",
        height=200 + 40 * len(names), margin={"l": 180, "r": 20, "t": 90, "b": 50},
        xaxis={"title": "time (UTC)", "range": [_naive(test.evaluated_from),
                                                _naive(test.frame.index[-1])]},
        yaxis={"tickvals": list(range(len(names))), "ticktext": names,
               "range": [-0.7, len(names) - 0.3]},
        legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"})
    return fig


def _incident_rows(test: SLIBacktest, rows: dict[str, str]) -> list[tuple]:
    """(row, start, end) of each incident on every series it concerns."""
    from ..frames import parse_series

    out = []
    for incident in test.incidents:
        for i, column in enumerate(rows):
            labels = parse_series(column)
            if all(labels.get(k, v) == v for k, v in incident.labels.items()):
                out.append((i, incident.start, incident.end))
    return out


def _event_rows(events: pd.DataFrame, rows: dict[str, str]) -> list[tuple]:
    index = {column: i for i, column in enumerate(rows)}
    return [(index[e.series], e.start, e.end) for e in events.itertuples()
            if e.series in index]


def _segments(fig: go.Figure, rows: list[tuple], name: str, colour: str, offset: float):
    x, y = [], []
    for row, start, end in rows:
        end = max(pd.Timestamp(end), pd.Timestamp(start) + pd.Timedelta("1min"))
        x += [_naive(start), _naive(end), None]
        y += [row + offset, row + offset, None]
    fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=f"{name} ({len(rows)})",
                             line={"width": 9, "color": colour}, hoverinfo="x+name"))


def _naive(t) -> pd.Timestamp:
    t = pd.Timestamp(t)
    return t.tz_convert(None) if t.tzinfo is not None else t


def merged_points(candidates: pd.DataFrame, y: str = "recall") -> pd.DataFrame:
    """One point per distinct (false pages/week, `y`) per strategy, naming every
    candidate behind it: identical candidates are one point, not a pile."""
    key = [candidates["strategy"], candidates["false_pages_per_week"].round(6),
           candidates[y].astype(float).fillna(-1).round(6)]
    return (candidates.groupby(key, sort=False)
            .agg(candidate=("candidate", list))
            .reset_index(names=["strategy", "false_pages_per_week", y])
            .assign(**{y: lambda f: f[y].where(f[y] >= 0)}))


def tradeoff_figure(test: SLIBacktest, best: pd.Series | None, budget: float,
                    current: list) -> go.Figure:
    """False pages per week (log axis) against recall; budget line; the pick highlighted."""
    judged = test.candidates["incidents"].max() > 0
    y = "recall" if judged else "alerts"
    points = merged_points(test.candidates, y)
    fig = go.Figure()
    for strategy, rows in points.groupby("strategy", sort=False):
        fig.add_trace(go.Scatter(
            x=_log_x(rows["false_pages_per_week"]), y=rows[y], mode="markers",
            name=str(strategy), text=[_names(c) for c in rows["candidate"]],
            marker={"size": 8, "opacity": 0.7},
            hovertemplate="%{text}<extra>" + str(strategy) + "</extra>"))
    for result in current:
        if result.engine:
            f = result.figures
            fig.add_trace(go.Scatter(
                x=_log_x(pd.Series([f["false_pages_per_week"]])),
                y=[f[y]], mode="markers",
                name=f"current: {result.rule.name}",
                marker={"symbol": "diamond", "size": 13, "color": "#333333"}))
    if best is not None:
        fig.add_trace(go.Scatter(
            x=_log_x(pd.Series([best["false_pages_per_week"]])),
            y=[best[y]], mode="markers",
            name=f"recommended: {best['candidate']}",
            marker={"symbol": "star", "size": 20, "color": "#2ca02c",
                    "line": {"width": 1.5, "color": "#000000"}}))
    fig.add_vline(x=budget, line={"dash": "dash", "color": "#d62728"},
                  annotation_text=f"budget {budget:g} false pages/week")
    fig.update_layout(
        title=f"{test.sli.title}: false pages against recall", template="plotly_white",
        height=400, margin={"l": 60, "r": 20, "t": 50, "b": 40},
        xaxis={"type": "log", "title": f"false pages per week (log; 0 drawn at {LOG_FLOOR:g})"},
        yaxis={"title": "recall (share of incidents caught)" if judged else "alerts"})
    return fig


def _log_x(values: pd.Series) -> list[float]:
    return [max(float(v), LOG_FLOOR) for v in values]


def _names(candidates: list[str]) -> str:
    if len(candidates) == 1:
        return candidates[0]
    shown = "<br>".join(candidates[:6]) + ("<br>…" if len(candidates) > 6 else "")
    return f"{len(candidates)} identical candidates:<br>{shown}"
