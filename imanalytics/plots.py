"""Plotly figures of IM SLIs: series, baseline bands, fired alerts and incident windows,
and HTML pages that embed plotly.js so they open offline."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from .frames import parse_series

BAND_FILL = "rgba(31, 119, 180, 0.15)"
ALERT_FILL = "rgba(214, 39, 40, 0.25)"
INCIDENT_FILL = "rgba(255, 160, 0, 0.22)"
MAX_POINTS = 3000
# Series colours that never look like the orange incidents or the red alerts and lines.
SERIES_COLOURS = ("#1f77b4", "#2ca02c", "#9467bd", "#17becf", "#8c564b", "#7f7f7f",
                  "#bcbd22", "#e377c2")
# Grafana unit ids as people read them on an axis: a title and plotly tick formatting.
# "~s" ticks use SI prefixes, so 0.05 with the suffix "s" reads "50ms".
UNIT_AXES = {
    "percentunit": {"title": "%", "tickformat": ".2~%"},
    "percent": {"title": "%", "ticksuffix": "%"},
    "s": {"title": "time", "tickformat": "~s", "ticksuffix": "s"},
    "ms": {"title": "time (ms)", "ticksuffix": " ms"},
    "short": {"title": "count", "tickformat": "~s"},
    "none": {"title": ""},
    "cps": {"title": "per second", "tickformat": "~s", "ticksuffix": "/s"},
    "ops": {"title": "operations/s", "tickformat": "~s", "ticksuffix": "/s"},
    "reqps": {"title": "requests/s", "tickformat": "~s", "ticksuffix": "/s"},
    "bytes": {"title": "bytes", "tickformat": "~s", "ticksuffix": "B"},
    "decbytes": {"title": "bytes", "tickformat": "~s", "ticksuffix": "B"},
}


def series_figure(frame: pd.DataFrame, title: str, unit: str = "",
                  bands: pd.DataFrame | Mapping[str, pd.DataFrame] | None = None,
                  alerts: pd.DataFrame | None = None,
                  incidents: pd.DataFrame | None = None,
                  threshold: float | None = None) -> go.Figure:
    """One SLI: its series, optional bands (lower/upper), alerts and incident windows.

    `bands` is one frame, or one per series (column name -> frame): the first is drawn
    and a menu switches to the others, so several series' bands never pile up.
    `alerts` and `incidents` are frames with ``start`` and ``end`` columns.
    """
    fig = go.Figure()
    frame = thin(frame)
    if isinstance(bands, pd.DataFrame):
        bands = {"": bands}
    bands = {k: b for k, b in (bands or {}).items() if len(b)}
    for i, band in enumerate(bands.values()):
        _add_band(fig, thin(band), visible=i == 0)
    if len(bands) > 1:
        _add_band_menu(fig, list(bands))
    for column in frame.columns:
        fig.add_trace(go.Scattergl(x=_x(frame.index), y=frame[column].to_numpy(), mode="lines",
                                   name=short_name(column), line={"width": 1.2}))
    if threshold is not None:
        fig.add_hline(y=threshold, line={"dash": "dash", "color": "#d62728"},
                      annotation_text=f"static threshold {threshold:g}")
        fig.update_yaxes(range=_range_with(frame, threshold))
    _add_windows(fig, incidents, INCIDENT_FILL, "incident")
    _add_windows(fig, alerts, ALERT_FILL, "alert", strip=(0.9, 1.0))
    fig.update_layout(title=title, height=360, margin={"l": 50, "r": 20, "t": 50, "b": 40},
                      xaxis_title="time (UTC)",
                      legend={"orientation": "h", "y": -0.2},
                      template="plotly_white", colorway=SERIES_COLOURS)
    fig.update_yaxes(**unit_axis(unit))
    return fig


def _range_with(frame: pd.DataFrame, value: float) -> list[float]:
    """A y range that holds the data and `value` (plotly's autorange ignores lines)."""
    low = min(float(frame.min().min()), value, 0.0)
    high = max(float(frame.max().max()), value)
    pad = (high - low) * 0.05 or abs(high) * 0.05 or 1.0
    return [low - pad if low < 0 else low, high + pad]


def unit_axis(unit: str) -> dict:
    """Axis settings for a unit: a Grafana unit id becomes a human title and tick format
    ("percentunit" reads "%", "s" reads "50ms"); any other text is the title as given."""
    axis = dict(UNIT_AXES.get(unit, {"title": unit}))
    return {"title_text": axis.pop("title"), **axis}


def thin(frame: pd.DataFrame, max_points: int = MAX_POINTS) -> pd.DataFrame:
    """At most `max_points` rows: bucket means over equal time steps (a page stays light)."""
    if len(frame) <= max_points:
        return frame
    span = frame.index[-1] - frame.index[0]
    bucket = (span / max_points).ceil("1min")
    return frame.resample(bucket).mean()


def _x(index: pd.DatetimeIndex):
    # Naive UTC datetime64: plotly serialises it fast, unlike tz-aware Timestamp objects.
    return index.tz_convert(None).to_numpy() if index.tz is not None else index.to_numpy()


def short_name(column: str) -> str:
    """A legend label: the label values that tell series apart, without the metric name."""
    labels = parse_series(column)
    labels.pop("__name__", None)
    labels.pop("job", None)
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or column


def _add_band(fig: go.Figure, bands: pd.DataFrame, visible: bool = True) -> None:
    x = _x(bands.index)
    fig.add_trace(go.Scatter(x=x, y=bands["upper"].to_numpy(), mode="lines", line={"width": 0},
                             name="band", showlegend=False, hoverinfo="skip", visible=visible))
    fig.add_trace(go.Scatter(x=x, y=bands["lower"].to_numpy(), mode="lines", line={"width": 0},
                             fill="tonexty", fillcolor=BAND_FILL, name="baseline band",
                             visible=visible))


def _add_band_menu(fig: go.Figure, columns: list[str]) -> None:
    """A drop-down that shows one series' band (the band traces are the first 2·n)."""
    traces = list(range(2 * len(columns)))
    buttons = [{"label": f"band: {short_name(column)}", "method": "restyle",
                "args": [{"visible": [j // 2 == i for j in traces]}, traces]}
               for i, column in enumerate(columns)]
    fig.update_layout(updatemenus=[{"buttons": buttons, "x": 1.0, "xanchor": "right",
                                    "y": 1.15, "yanchor": "top", "showactive": True}])


def _add_windows(fig: go.Figure, windows: pd.DataFrame | None, color: str, what: str,
                 strip: tuple[float, float] = (0.0, 1.0)) -> None:
    """Shade time windows; alerts sit in a strip on top so incidents stay visible below."""
    if windows is None:
        return
    for row in windows.itertuples():
        fig.add_vrect(x0=_naive(row.start), x1=_naive(row.end), y0=strip[0], y1=strip[1],
                      fillcolor=color, line_width=0, layer="below", annotation_text=what,
                      annotation_position="top left", annotation_font_size=10)


def _naive(t) -> pd.Timestamp:
    t = pd.Timestamp(t)
    return t.tz_convert(None) if t.tzinfo is not None else t


def tradeoff_figure(candidates: pd.DataFrame, title: str) -> go.Figure:
    """Pages per week against recall, one point per candidate, coloured by strategy."""
    fig = go.Figure()
    for strategy, rows in candidates.groupby("strategy", sort=True):
        fig.add_trace(go.Scatter(
            x=rows["pages_per_week"], y=rows["recall"], mode="markers", name=str(strategy),
            text=rows["candidate"], hovertemplate="%{text}<br>%{x:.1f} pages/week, "
            "recall %{y:.2f}<extra></extra>"))
    fig.update_layout(title=title, height=380, xaxis_title="pages per week",
                      yaxis_title="recall", template="plotly_white",
                      margin={"l": 50, "r": 20, "t": 50, "b": 40})
    return fig


def html_page(title: str, parts: Sequence[go.Figure | str]) -> str:
    """A self-contained page: plotly.js embedded once, figures and HTML fragments in order."""
    body, first = [], True
    for part in parts:
        if isinstance(part, go.Figure):
            body.append(pio.to_html(part, full_html=False, include_plotlyjs=first,
                                    config={"displaylogo": False}))
            first = False
        else:
            body.append(part)
    if first:  # no figure: still embed the library so the page behaves the same
        body.insert(0, pio.to_html(go.Figure(), full_html=False, include_plotlyjs=True))
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>"
            f"<body><h1>{html.escape(title)}</h1>\n" + "\n".join(body) + "\n</body></html>\n")


_CSS = ("body{font-family:system-ui,sans-serif;margin:24px;color:#222}"
        "table{border-collapse:collapse;font-size:13px;margin:8px 0 24px}"
        "th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}"
        "th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}"
        "tr.recommended{background:#e8f5e9;font-weight:600}")
