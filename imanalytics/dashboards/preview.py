"""Preview a dashboard panel in a notebook: run its queries as Grafana would and draw them
as a plotly figure, with the panel's legend and a human unit on the axis.

Variables are substituted the way Grafana sends a query: every picker on "All" (``.+``)
unless `values` says otherwise, ``$__rate_interval`` as the step's Grafana floor. A recorded
series is replaced by its rule's expression (`inline_rules`), so a panel also previews on a
server without the rules loaded, such as the backfilled sandbox.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import plotly.graph_objects as go

from ..frames import parse_series
from ..plots import SERIES_COLOURS, unit_axis
from ..rules import inline, recording_rules
from ..timeparse import duration_ms
from .builders import to_dict
from .lint import panels
from .variables import ALL, substitute

PICKERS = ("job", "instance", "tenant")
# A recorded series (its name holds a colon) and its label filters.
_RECORDED = re.compile(r"(?<![\w:])([a-zA-Z_]\w*:[\w:]+)\{([^}]*)\}")
_LEGEND = re.compile(r"\{\{\s*(\w+)\s*\}\}")


class PreviewError(ValueError):
    """The panel cannot be previewed as asked."""


def panel(board, title: str) -> dict:
    """The panel called `title` in `board` (a dashboard or its JSON as a dict)."""
    found = [p for p in panels(_as_dict(board)) if p.get("title") == title]
    if not found:
        names = ", ".join(repr(p.get("title")) for p in panels(_as_dict(board)))
        raise PreviewError(f"no panel {title!r} in dashboard "
                           f"{_as_dict(board).get('title')!r}; panels: {names}")
    return found[0]


def panel_queries(board, title: str, step: str = "1m",
                  values: Mapping[str, str] | None = None,
                  inline_rules: bool = True) -> list[tuple[str, str]]:
    """(PromQL ready to run, legend template) for each query of the panel."""
    chosen = {**{name: ALL for name in PICKERS}, "__rate_interval": _rate_interval(step),
              **(values or {})}
    rules = recording_rules() if inline_rules else []
    out = []
    for target in panel(board, title).get("targets", []):
        expr = substitute(target["expr"], chosen)
        if inline_rules:
            expr = inline(_RECORDED.sub(lambda m: _unfiltered(m, title), expr), rules)
        out.append((expr, target.get("legendFormat", "")))
    return out


def preview_panel(source, board, title: str, start, end, step: str = "1m",
                  values: Mapping[str, str] | None = None,
                  inline_rules: bool = True) -> go.Figure:
    """The panel's queries over [start, end] from `source` (a `PromSource`), one line per
    series, named by the panel's legend, on an axis in the panel's unit."""
    spec = panel(board, title)
    fig = go.Figure()
    for expr, legend in panel_queries(board, title, step, values, inline_rules):
        frame = source.range(expr, start, end, step=step)
        for column in frame.columns:
            fig.add_scatter(x=frame.index.tz_convert(None), y=frame[column].to_numpy(),
                            mode="lines", name=legend_name(legend, column),
                            line={"width": 1.4})
    unit = spec.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
    fig.update_layout(title=title, height=320, template="plotly_white",
                      colorway=SERIES_COLOURS, xaxis_title="time (UTC)",
                      margin={"l": 60, "r": 20, "t": 50, "b": 40})
    fig.update_yaxes(**unit_axis(unit))
    return fig


def legend_name(template: str, column: str) -> str:
    """A Grafana legend template (``{{tenant}}``) filled from a series' labels."""
    labels = parse_series(column)
    return _LEGEND.sub(lambda m: labels.get(m.group(1), ""), template).strip() or column


def _unfiltered(match: re.Match, title: str) -> str:
    """The recorded name alone: its filters would be dropped by inlining, which is right
    only while every filter is "All"."""
    for filter_ in match.group(2).split(","):
        if filter_.strip() and not filter_.strip().endswith(f'"{ALL}"'):
            raise PreviewError(f"panel {title!r}: {match.group(0)} filters a recorded series "
                               "by a picker value; preview it with inline_rules=False on a "
                               "server that has the recording rules")
    return match.group(1)


def _rate_interval(step: str) -> str:
    # Grafana's $__rate_interval is at least four scrape intervals (15 s scrapes: 1m).
    return f"{max(duration_ms(step), 60_000) // 1000}s"


def _as_dict(board) -> dict:
    if isinstance(board, dict):
        return board
    return to_dict(board)
