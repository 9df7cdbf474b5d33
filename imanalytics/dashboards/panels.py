"""Panel builders: Grafana 10/11 panel types on the datasource variable, each with a title,
a description, a unit and a size (`layout` computes positions).

All take PromQL `Target`s made by `query`; reference ids are assigned in order.
"""

from __future__ import annotations

from collections.abc import Sequence

import attr
from grafanalib.core import GridPos, Panel, Stat, Table, Target, TimeSeries

from .variables import DATASOURCE

NEUTRAL = [{"color": "blue", "value": None}]
BASE = [{"color": "green", "value": None}]  # Grafana's default steps, written out
_HIDE_TIME = {"id": "organize", "options": {"excludeByName": {"Time": True}}}


@attr.s
class PromTarget(Target):
    """A Prometheus query as Grafana 10/11 saves it: no legacy step or intervalFactor."""

    def to_json_data(self):
        return {
            "datasource": DATASOURCE,
            "editorMode": "code",
            "expr": self.expr,
            "format": self.format,
            "instant": self.instant,
            "legendFormat": self.legendFormat,
            "range": not self.instant,
            "refId": self.refId,
        }


@attr.s
class Heatmap(Panel):
    """The heatmap panel of Grafana 9+ over pre-computed bucket series.

    grafanalib's Heatmap writes the pre-9 options, which Grafana would have to migrate.
    """

    unit = attr.ib(default="short")

    def to_json_data(self):
        return self.panel_json({
            "fieldConfig": {"defaults": {"custom": {"scaleDistribution": {"type": "linear"}}}},
            "options": {
                "calculate": False,  # the buckets come from Prometheus, not from Grafana
                "cellGap": 1,
                "color": {"mode": "scheme", "scheme": "Oranges", "scale": "exponential",
                          "exponent": 0.5, "steps": 64, "reverse": False},
                "filterValues": {"le": 1e-9},
                "legend": {"show": True},
                "rowsFrame": {"layout": "auto"},
                "tooltip": {"mode": "single", "show": True, "yHistogram": False},
                "yAxis": {"axisPlacement": "left", "reverse": False, "unit": self.unit},
            },
            "type": "heatmap",
        })


def query(expr: str, legend: str = "", *, instant: bool = False, table: bool = False,
          heatmap: bool = False) -> PromTarget:
    fmt = "table" if table else "heatmap" if heatmap else "time_series"
    return PromTarget(expr=expr, legendFormat=legend, instant=instant, format=fmt)


def timeseries(title: str, description: str, targets: Sequence[Target], unit: str, *,
               thresholds: list[dict] | None = None, w: int = 12, h: int = 8,
               overrides: Sequence[dict] = (), stack: bool = False) -> TimeSeries:
    return TimeSeries(
        title=title, description=description, dataSource=DATASOURCE, targets=_refs(targets),
        unit=unit, gridPos=_size(w, h), thresholds=thresholds or BASE,
        thresholdsStyleMode="line" if thresholds else "off", overrides=list(overrides),
        stacking={"mode": "normal", "group": "A"} if stack else {"mode": "none"},
        fillOpacity=20 if stack else 10, tooltipMode="multi", tooltipSort="desc",
        # A table legend with each series' last and highest value, to compare series.
        legendDisplayMode="table", legendCalcs=["lastNotNull", "max"],
    )


def stat(title: str, description: str, targets: Sequence[Target], unit: str, *,
         thresholds: list[dict] | None = None, w: int = 4, h: int = 4) -> Stat:
    return Stat(
        title=title, description=description, dataSource=DATASOURCE, targets=_refs(targets),
        format=unit, gridPos=_size(w, h), thresholds=thresholds or NEUTRAL,
        color={"mode": "thresholds"},
        colorMode="background" if thresholds else "value", reduceCalc="lastNotNull",
        graphMode="area", noValue="no data",
    )


def heatmap(title: str, description: str, expr: str, unit: str, *, w: int = 12,
            h: int = 8) -> Heatmap:
    """A heatmap of histogram bucket rates (`expr` sums them by ``le``)."""
    target = query(expr, "{{le}}", heatmap=True)
    return Heatmap(title=title, description=description, dataSource=DATASOURCE,
                   targets=_refs([target]), unit=unit, gridPos=_size(w, h), maxDataPoints=60,
                   thresholds=BASE)


def table(title: str, description: str, targets: Sequence[Target], unit: str, *,
          w: int = 24, h: int = 8) -> Table:
    """A table of instant query results, one row per series."""
    return Table(title=title, description=description, dataSource=DATASOURCE,
                 targets=_refs(targets), unit=unit, gridPos=_size(w, h),
                 transformations=[_HIDE_TIME], thresholds=BASE)


def _refs(targets: Sequence[Target]) -> list[Target]:
    if not targets:
        raise ValueError("a panel needs at least one query")
    return [attr.evolve(t, refId=chr(ord("A") + i)) for i, t in enumerate(targets)]


def _size(w: int, h: int) -> GridPos:
    return GridPos(h=h, w=w, x=0, y=0)  # layout sets x and y
