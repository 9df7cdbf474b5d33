"""Interactive threshold tuning in JupyterLab: ipywidgets controls over a plotly
`FigureWidget`.

Pick an SLI and a strategy, move the sensitivity and ``for:``; the chart redraws the band
(or the static line), the alerts and the incidents, and a line reports alerts, false pages
per week, recall and time to detect. "Write rule" ships the setting as Prometheus rules with
promtool tests. The work behind each change is in `imanalytics.tuning`.
"""

from __future__ import annotations

import html
from contextlib import contextmanager
from pathlib import Path

import ipywidgets as widgets
import pandas as pd
import plotly.graph_objects as go

from .plots import (
    ALERT_FILL,
    BAND_FILL,
    INCIDENT_FILL,
    SERIES_COLOURS,
    _naive,
    _x,
    short_name,
    thin,
    unit_axis,
)
from .review.run import _slis
from .tuning import FOR_CHOICES, STATIC, Outcome, Setting, Tuner

BAND, THRESHOLD, ALERTS = 0, 2, 3  # trace positions: band (2 traces), line, alert bars
FIRST_SERIES = 4
ALERT_ROW = 0.04  # height of one series' alert bar in the strip above the chart
# Points per drawn line: plenty for a notebook-wide chart (bench/bench_tuning_browser.py
# compares counts; at this size the browser's time per change hardly depends on them).
DRAW_POINTS = 1200


class TuningWidget(widgets.VBox):
    """The tuning panel; display it in a notebook cell (`tune` builds one)."""

    def __init__(self, data, since="14d", until=None, *, incidents=None, catalog=None,
                 engine: str = "local", out: str | Path = "tuned-rules",
                 sli: str | None = None, strategy: str = "adaptive_band"):
        self._load = dict(data=data, since=since, until=until, incidents=incidents,
                          catalog=catalog, engine=engine)
        self._tuners: dict[str, Tuner] = {}
        keys = [s.key for s in _slis(catalog, None)]
        self.sli = widgets.Dropdown(options=keys, value=sli or keys[0], description="SLI")
        self.strategy = widgets.Dropdown(options=[strategy], description="strategy")
        self.series = widgets.Dropdown(description="band of")
        self.level = widgets.FloatSlider(description="sensitivity", continuous_update=False,
                                         readout_format=".3g")
        self.for_ = widgets.SelectionSlider(options=FOR_CHOICES, value="5m",
                                            description="for:", continuous_update=False)
        self.stats = widgets.HTML()
        self.out = widgets.Text(value=str(out), description="folder")
        self.write = widgets.Button(description="Write rule", icon="save",
                                    button_style="primary")
        self.status = widgets.HTML()
        self.figure = go.FigureWidget()
        self._busy = False
        self._floor = 0.0  # the lowest value of the SLI: where the drawn band stops
        super().__init__([
            widgets.HBox([self.sli, self.strategy, self.series]),
            widgets.HBox([self.level, self.for_]),
            self.stats, self.figure, widgets.HBox([self.out, self.write]), self.status])
        self.sli.observe(self._unless_busy(self._sli_changed), "value")
        self.strategy.observe(self._unless_busy(self._strategy_changed), "value")
        for control in (self.series, self.level, self.for_):
            control.observe(self._unless_busy(self.refresh), "value")
        self.write.on_click(lambda _: self.write_rule())
        self._sli_changed()

    # --- state --------------------------------------------------------------------

    @property
    def tuner(self) -> Tuner:
        key = self.sli.value
        if key not in self._tuners:
            self._tuners[key] = Tuner.load(sli_key=key, **self._load)
        return self._tuners[key]

    @property
    def setting(self) -> Setting:
        return Setting(self.strategy.value, float(self.level.value), self.for_.value)

    # --- events ---------------------------------------------------------------------

    def _sli_changed(self) -> None:
        tuner = self.tuner
        with self._quiet():
            wanted = self.strategy.value
            self.strategy.options = tuner.strategies
            self.strategy.value = wanted if wanted in tuner.strategies else STATIC
            self.series.options = [(short_name(c), c) for c in tuner.frame.columns]
            self.series.value = tuner.frame.columns[0] if len(tuner.frame.columns) else None
            self.for_.value = tuner.sli.static_for if tuner.sli.static_for in FOR_CHOICES \
                else "5m"
        self._draw_sli(tuner)
        self._strategy_changed()

    def _strategy_changed(self) -> None:
        strategy = self.strategy.value
        self.tuner.prepare(strategy)
        low, high, default = self.tuner.level_range(strategy)
        with self._quiet():
            self.level.min, self.level.max = -1e300, 1e300  # never clamp while re-ranging
            self.level.min, self.level.max = low, high
            self.level.step = (high - low) / 200
            self.level.value = default
            self.level.description = "threshold" if strategy == STATIC else "sensitivity k"
        self.refresh()

    def refresh(self) -> Outcome:
        """Redraw for the current setting; returns its outcome."""
        tuner, setting = self.tuner, self.setting
        outcome = tuner.evaluate(setting)
        band = tuner.band(setting, self.series.value) if self.series.value else None
        with self.figure.batch_update():
            self._draw_band(band)
            self._draw_threshold(tuner, setting)
            self._draw_alerts(tuner, outcome.events)
        self.stats.value = f"<b>{outcome.metrics['candidate']}</b>: {outcome.summary()}"
        return outcome

    def write_rule(self) -> dict[str, Path] | None:
        """Write the current setting's rules into the folder field; report where."""
        try:
            files = self.tuner.write_rule(self.setting, self.out.value)
        except (ValueError, OSError) as error:
            self.status.value = f"<span style='color:#b00'>{_escape(error)}</span>"
            return None
        names = ", ".join(f"<code>{_escape(p)}</code>" for p in files.values())
        self.status.value = f"wrote {names}"
        return files

    # --- drawing --------------------------------------------------------------------

    def _draw_sli(self, tuner: Tuner) -> None:
        """Series, incidents and axes: once per SLI; settings only touch the rest."""
        frame = thin(tuner.judged, DRAW_POINTS)
        self._floor = float(tuner.judged.min().min())
        fig = self.figure
        with fig.batch_update():
            fig.data = []
            fig.add_scatter(mode="lines", line={"width": 0}, showlegend=False,
                            hoverinfo="skip", name="band")
            fig.add_scatter(mode="lines", line={"width": 0}, fill="tonexty",
                            fillcolor=BAND_FILL, name="baseline band")
            fig.add_scatter(mode="lines", line={"dash": "dash", "color": "#d62728"},
                            name="threshold")
            fig.add_scatter(mode="lines", line={"width": 10, "color": ALERT_FILL},
                            name="alerts", yaxis="y2", hoverinfo="text")
            for i, column in enumerate(frame.columns):
                colour = SERIES_COLOURS[i % len(SERIES_COLOURS)]
                fig.add_scattergl(x=_x(frame.index), y=frame[column].to_numpy(),
                                  mode="lines", line={"width": 1.2, "color": colour},
                                  name=short_name(column))
            fig.layout.shapes = [
                {"type": "rect", "xref": "x", "yref": "paper", "y0": 0, "y1": 1,
                 "x0": _naive(i.start), "x1": _naive(i.end), "fillcolor": INCIDENT_FILL,
                 "line": {"width": 0}, "layer": "below"} for i in tuner.incidents]
            rows = max(len(frame.columns), 1)
            fig.update_layout(
                title={"text": tuner.sli.title, "subtitle": {
                    "text": "labelled incidents shaded orange; alerts as red bars on top"}},
                height=460, template="plotly_white",
                xaxis_title="time (UTC)",
                margin={"l": 60, "r": 20, "t": 80, "b": 40},
                legend={"orientation": "h", "y": -0.18},
                yaxis={"domain": [0, 1 - ALERT_ROW * rows - 0.02]},
                yaxis2={"domain": [1 - ALERT_ROW * rows, 1], "range": [rows, 0],
                        "showticklabels": False, "showgrid": False, "zeroline": False})
            fig.layout.yaxis.update(unit_axis(tuner.sli.unit))
            fig.layout.yaxis2.anchor = "x"

    def _draw_band(self, band: pd.DataFrame | None) -> None:
        upper, lower = self.figure.data[BAND], self.figure.data[BAND + 1]
        if band is None:
            upper.x = lower.x = upper.y = lower.y = ()
            return
        band = thin(band, DRAW_POINTS)
        x = _x(band.index)
        upper.x, upper.y = x, band["upper"].to_numpy()
        # A band below zero says nothing about a series that never goes there.
        lower.x, lower.y = x, band["lower"].clip(lower=min(self._floor, 0.0)).to_numpy()

    def _draw_threshold(self, tuner: Tuner, setting: Setting) -> None:
        line = self.figure.data[THRESHOLD]
        if setting.strategy != STATIC:
            line.x = line.y = ()
            return
        index = tuner.judged.index
        line.x = _x(index[[0, -1]])
        line.y = [setting.level, setting.level]

    def _draw_alerts(self, tuner: Tuner, events: pd.DataFrame) -> None:
        """One bar per alert, in its series' row of the strip above the chart."""
        row = {c: i + 0.5 for i, c in enumerate(tuner.frame.columns)}
        x, y, text = [], [], []
        for event in events.itertuples():
            label = f"{short_name(event.series)}: {event.start:%m-%d %H:%M}–{event.end:%H:%M}"
            x += [_naive(event.start), _naive(event.end), None]
            y += [row[event.series]] * 2 + [None]
            text += [label, label, None]
        bars = self.figure.data[ALERTS]
        bars.x, bars.y, bars.text = x, y, text

    def _unless_busy(self, handler):
        return lambda _change: None if self._busy else handler()

    @contextmanager
    def _quiet(self):
        """Controls set together redraw once, after the last one."""
        self._busy = True
        try:
            yield
        finally:
            self._busy = False


def tune(data, since="14d", until=None, **options) -> TuningWidget:
    """The tuning panel over `data` (a `Workload`, a `PromSource` or a Prometheus URL)."""
    return TuningWidget(data, since, until, **options)



def _escape(value) -> str:
    return html.escape(str(value))
