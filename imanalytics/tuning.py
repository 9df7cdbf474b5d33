"""Tune one SLI's alert by hand: pick a strategy, move its sensitivity and ``for:``, and see
the alerts, false pages per week, recall and time to detect at once.

A strategy's bands are fitted once (on the first part of the history, as in the review);
each setting after that is a comparison of the SLI with a scaled band, the Prometheus
``for:`` rule and a match against the incidents, so it stays cheap enough to feel live.
The chosen setting ships through the review's own rule writers, with promtool tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .display import duration
from .review.backtest import (
    STRATEGIES,
    Candidate,
    SLIBacktest,
    _metrics,
    _z_scores,
    covered,
    judged_incidents,
)
from .review.events import firing_events
from .review.outputs import write_exporter_files
from .review.run import _end, _slis, _start, load_history
from .review.shipping import ship
from .rules import alert_groups, alert_test_file
from .rules.files import dump_rules, write_text_atomic
from .sandbox.incidents import Incident
from .slis import SLI, UPPER

STATIC = "static"
FOR_CHOICES = ("0m", "1m", "2m", "3m", "5m", "10m", "15m", "20m", "30m")
SENSITIVITY_RANGE = (0.5, 10.0)  # band half-widths in spreads
STATIC_SCALES = (0.1, 5.0)  # threshold range around the SLI's static line


@dataclass(frozen=True)
class Setting:
    """One strategy at one sensitivity (a static threshold, or k spreads) and ``for:``."""

    strategy: str
    level: float
    for_: str


@dataclass
class Outcome:
    setting: Setting
    events: pd.DataFrame  # alert events: series, start, end, since, resolved
    metrics: dict  # the review's candidate row: alerts, pages_per_week, recall, ...

    @property
    def false_pages_per_week(self) -> float:
        """Alerts that match no incident, per week of judged history."""
        m = self.metrics
        true_alerts = round(m["precision"] * m["alerts"]) if m["incidents"] and m["alerts"] else 0
        return (m["alerts"] - true_alerts) / m["weeks"]

    def summary(self) -> str:
        """One line: what this setting costs in pages and what it catches."""
        m = self.metrics
        recall = "–" if m["recall"] != m["recall"] else f"{m['recall']:.0%}"
        return (f"{m['alerts']} alerts · {self.false_pages_per_week:.1f} false pages/week · "
                f"recall {recall} ({m['detected']} of {m['incidents']} incidents) · "
                f"time to detect {duration(m['mean_ttd_min'])}")


class Tuner:
    """One SLI's history, its incidents, and each strategy's bands fitted once."""

    def __init__(self, sli: SLI, frame: pd.DataFrame, incidents: Sequence[Incident] = (),
                 train_share: float = 0.5):
        self.sli = sli
        self.frame = covered(frame.sort_index())
        index = self.frame.index
        self.evaluated_from = index[0] + (index[-1] - index[0]) * train_share
        self._judged = index >= self.evaluated_from
        self.weeks = max((index[-1] - self.evaluated_from) / pd.Timedelta("7D"), 1e-9)
        self.incidents = judged_incidents(sli, incidents, self.evaluated_from, index[-1])
        self._fitted: dict[str, tuple] = {}  # strategy -> (z, bands, estimators)

    @classmethod
    def load(cls, data, sli_key: str, since="14d", until=None, *, incidents=None,
             catalog=None, engine: str = "local") -> Tuner:
        """The SLI from a `Workload`, a `PromSource` or a Prometheus URL (as the review)."""
        sli = _slis(catalog, [sli_key])[0]
        end = _end(data, until)
        frame = load_history(data, [sli], _start(since, end), end, engine).frames[sli.key]
        found = incidents if incidents is not None else getattr(data, "incidents", [])
        return cls(sli, frame, list(found))

    @property
    def strategies(self) -> tuple[str, ...]:
        return (STATIC, *STRATEGIES)

    @property
    def judged(self) -> pd.DataFrame:
        """The part of the history settings are judged on."""
        return self.frame[self._judged]

    def prepare(self, strategy: str) -> None:
        """Fit the strategy's bands once (the slow part; every setting reuses them)."""
        if strategy == STATIC or strategy in self._fitted:
            return
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; known: "
                             f"{', '.join(self.strategies)}")
        self._fitted[strategy] = _z_scores(self.sli, self.frame, self.evaluated_from,
                                           STRATEGIES[strategy])

    def level_range(self, strategy: str) -> tuple[float, float, float]:
        """(low, high, default) for the strategy's sensitivity slider."""
        if strategy == STATIC:
            t = self.sli.static_threshold
            return t * STATIC_SCALES[0], t * STATIC_SCALES[1], t
        return (*SENSITIVITY_RANGE, 3.0)

    def condition(self, setting: Setting) -> pd.DataFrame:
        """Where the alert condition holds, per series, over the judged history."""
        frame = self.judged
        if setting.strategy == STATIC:
            return frame > setting.level if self.sli.direction == UPPER else \
                frame < setting.level
        self.prepare(setting.strategy)
        z = self._fitted[setting.strategy][0][self._judged]
        return z > setting.level

    def evaluate(self, setting: Setting) -> Outcome:
        """Alerts and their cost for one setting: a comparison, not a refit."""
        fired = firing_events(self.condition(setting), pd.Timedelta(setting.for_))
        candidate = Candidate(self.sli.key, setting.strategy, setting.level, setting.for_,
                              below=self.sli.direction != UPPER)
        metrics = _metrics(candidate, fired, self.incidents, self.weeks)
        detected = metrics["recall"] * len(self.incidents) if self.incidents else 0
        metrics.update(sli=self.sli.key, weeks=self.weeks, detected=int(round(detected)))
        return Outcome(setting, fired, metrics)

    def band(self, setting: Setting, column: str) -> pd.DataFrame | None:
        """The band (lower/centre/upper) of one series at the setting's sensitivity."""
        if setting.strategy == STATIC:
            return None
        self.prepare(setting.strategy)
        band = self._fitted[setting.strategy][1].get(column)
        if band is None:
            return None
        band = band[self._judged]
        centre, k = band["centre"], setting.level
        return pd.DataFrame({"lower": centre + k * (band["lower"] - centre), "centre": centre,
                             "upper": centre + k * (band["upper"] - centre)})

    def as_backtest(self, outcome: Outcome) -> SLIBacktest:
        """The setting as a one-candidate review backtest, for the review's rule writers."""
        strategy = outcome.setting.strategy
        bands, estimators = ({}, {}) if strategy == STATIC else self._fitted[strategy][1:]
        row = pd.DataFrame([outcome.metrics])
        return SLIBacktest(self.sli, self.frame, self.evaluated_from, row,
                           {outcome.metrics["candidate"]: outcome.events},
                           {strategy: bands}, {strategy: estimators}, self.incidents)

    def write_rule(self, setting: Setting, out: str | Path) -> dict[str, Path]:
        """The setting as Prometheus rules: the alert, its band's recording rules (banded
        strategies) and promtool tests, named after the SLI, in the folder `out`."""
        outcome = self.evaluate(setting)
        test = self.as_backtest(outcome)
        shipped = ship(test, test.candidates.iloc[0])
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        stem = f"{self.sli.key}-{setting.strategy}"
        files = {"alerts": out / f"{stem}.rules.yml"}
        texts = {"alerts": dump_rules(alert_groups([shipped.alert]))}
        if shipped.recording_groups:
            files["baseline_rules"] = out / f"{stem}.baseline.rules.yml"
            texts["baseline_rules"] = dump_rules(shipped.recording_groups)
        if shipped.cases:
            files["alert_tests"] = out / f"{stem}.rules.test.yml"
            rule_files = [files["alerts"].name]
            texts["alert_tests"] = alert_test_file(rule_files, shipped.cases)
        for key, path in files.items():
            write_text_atomic(path, texts[key])
        if not shipped.baselines:
            return files
        # Strategies without a PromQL form ship their fitted models for serve-baselines, in
        # a folder of the setting's own so other settings written to `out` keep theirs.
        return {**files, **write_exporter_files([shipped], out / stem)}

