"""Backtest candidate alerts on an SLI's history.

Candidates are the static threshold the team starts with, scaled up and down, and each
baseline strategy at a grid of sensitivities; all of them at a grid of ``for:``
durations. A strategy's bands are computed once per SLI; every sensitivity and duration
is then a cheap comparison, which is what makes hundreds of candidates per SLI fast.

Baselines are fitted on the first part of the history and judged on the rest, so no
candidate sees the incidents it is scored on before they happen.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..baselines import AdaptiveBand, SeasonalProfile, WeekOverWeekZScore, quality
from ..baselines.auto import choose
from ..sandbox.incidents import Incident
from ..slis import SLI, UPPER
from .events import firing_events, flaps

STATIC_SCALES = (0.5, 0.75, 1.0, 1.5, 2.0)
SENSITIVITIES = (2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0)
FOR_DURATIONS = ("0m", "2m", "5m", "10m", "15m")
FLAP_WINDOW = pd.Timedelta("30min")
# Strategies Prometheus can run as rules; the others ship through the baseline exporter.
EXPORTABLE = ("static", "week_over_week", "adaptive_band")
# Simplest first: a static line, then PromQL-native bands, then exporter-served baselines.
SIMPLICITY = ("static", "adaptive_band", "week_over_week", "seasonal", "auto")
WORST_WINDOW = pd.Timedelta("15min")  # an alert this close to the worst point fired on it


def _seasonal(sli: SLI, train: pd.Series):
    return SeasonalProfile(direction=sli.direction).fit(train)


def _auto(sli: SLI, train: pd.Series):
    estimator = choose(train).estimator()
    estimator.set_params(direction=sli.direction)
    return estimator.fit(train)


STRATEGIES: dict[str, Callable] = {
    "week_over_week": lambda sli, train: WeekOverWeekZScore(direction=sli.direction).fit(train),
    "adaptive_band": lambda sli, train: AdaptiveBand(direction=sli.direction).fit(train),
    "seasonal": _seasonal,
    "auto": _auto,
}


@dataclass(frozen=True)
class Candidate:
    sli: str
    strategy: str
    level: float  # static: the threshold; banded: the sensitivity k (band = centre ± k·spread)
    for_: str
    below: bool = False  # static: fires below the threshold (SLIs whose bad side is low)

    @property
    def name(self) -> str:
        side = "<" if self.below else ">"
        what = f"{side} {self.level:g}" if self.strategy == "static" else f"k={self.level:g}"
        return f"{self.strategy} {what} for {self.for_}"

    @property
    def exportable(self) -> bool:
        return self.strategy in EXPORTABLE

    @property
    def ships(self) -> str:
        return ships_as(self.strategy)


def ships_as(strategy: str) -> str:
    """How a strategy's alert reaches Prometheus: PromQL rules, or bands from the exporter."""
    return "PromQL" if strategy in EXPORTABLE else "exporter"


def simplicity(strategy: str) -> tuple[int, int]:
    """Sort key, simplest first: static, PromQL-native bands, exporter-served baselines."""
    kind = 0 if strategy == "static" else 1 if strategy in EXPORTABLE else 2
    order = SIMPLICITY.index(strategy) if strategy in SIMPLICITY else len(SIMPLICITY) + (
        list(STRATEGIES).index(strategy) if strategy in STRATEGIES else 0)
    return kind, order


@dataclass
class SLIBacktest:
    """Everything the report needs about one SLI."""

    sli: SLI
    frame: pd.DataFrame  # the SLI over the whole history
    evaluated_from: pd.Timestamp
    candidates: pd.DataFrame  # one row per candidate with its metrics
    events: dict[str, pd.DataFrame]  # candidate name -> its alert events
    bands: dict[str, dict[str, pd.DataFrame]]  # strategy -> column -> lower/centre/upper
    estimators: dict[str, dict[str, object]]  # strategy -> column -> fitted baseline
    incidents: list[Incident]  # the SLI's incidents in the judged part of the history
    worst: tuple[str, pd.Timestamp, float] | None = None  # series, time, value

    @property
    def weeks(self) -> float:
        return max((self.frame.index[-1] - self.evaluated_from) / pd.Timedelta("7D"), 1e-9)


def backtest(sli: SLI, frame: pd.DataFrame, incidents: Sequence[Incident],
             strategies: Sequence[str] = tuple(STRATEGIES), train_share: float = 0.5,
             sensitivities=SENSITIVITIES, fors=FOR_DURATIONS,
             progress: bool = False) -> SLIBacktest:
    """All candidates for one SLI: alerts, false pages per week, precision, recall, F1, TTD.

    Per-week figures use the span the data really covers, not the span asked for.
    """
    frame = covered(frame.sort_index())
    split = frame.index[0] + (frame.index[-1] - frame.index[0]) * train_share
    evaluated = frame.index >= split
    weeks = max((frame.index[-1] - split) / pd.Timedelta("7D"), 1e-9)
    mine = judged_incidents(sli, incidents, split, frame.index[-1])
    worst = worst_excursion(sli, frame[evaluated])
    rows, events = [], {}

    def judge(candidate: Candidate, condition: pd.DataFrame) -> None:
        fired = firing_events(condition[evaluated], pd.Timedelta(candidate.for_))
        events[candidate.name] = fired
        on_worst = fires_on(fired, worst)
        rows.append({**_metrics(candidate, fired, mine, weeks), "fires_on_worst": on_worst > 0,
                     "other_pages_per_week": (len(fired) - on_worst) / weeks})

    for scale in STATIC_SCALES:
        level = sli.static_threshold * (scale if sli.direction == UPPER else 1 / scale)
        condition = frame > level if sli.direction == UPPER else frame < level
        for for_ in fors:
            judge(Candidate(sli.key, "static", level, for_, below=sli.direction != UPPER),
                  condition)
    bands, fitted = {}, {}
    for strategy in tqdm(strategies, desc=f"backtest {sli.key}", unit="strategy",
                         disable=not progress, leave=False):
        z, bands[strategy], fitted[strategy] = _z_scores(sli, frame, split, STRATEGIES[strategy])
        if not fitted[strategy]:
            continue  # too little history for this strategy on every series
        for k in sensitivities:
            for for_ in fors:
                judge(Candidate(sli.key, strategy, k, for_), z > k)
    table = pd.DataFrame(rows)
    table = table.assign(_rank=table["strategy"].map(simplicity)).sort_values(
        ["_rank", "level", "for_min"], kind="stable").drop(columns="_rank")
    return SLIBacktest(sli, frame, split, table.reset_index(drop=True), events, bands, fitted,
                       mine, worst)


def covered(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows between the first and the last point of any series: the real span."""
    has = frame.notna().any(axis=1)
    if not has.any():
        return frame.iloc[:0]
    return frame.loc[has.idxmax():has[::-1].idxmax()]


def worst_excursion(sli: SLI, frame: pd.DataFrame) -> tuple[str, pd.Timestamp, float] | None:
    """(series, time, value) of the SLI's most extreme point on its bad side."""
    stacked = frame.stack().dropna()
    if stacked.empty:
        return None
    at = stacked.idxmax() if sli.direction == UPPER else stacked.idxmin()
    return at[1], at[0], float(stacked[at])


def fires_on(events: pd.DataFrame, worst) -> int:
    """How many alerts on the worst point's series were pending or firing near it."""
    if worst is None or not len(events):
        return 0
    series, at, _ = worst
    mine = events[events["series"] == series]
    return int(((mine["since"] <= at + WORST_WINDOW) & (mine["end"] >= at - WORST_WINDOW)).sum())


def _z_scores(sli: SLI, frame: pd.DataFrame, split: pd.Timestamp, make: Callable):
    """Distance beyond the centre on the SLI's bad side, in spreads (k=1 bands)."""
    z = pd.DataFrame(np.nan, index=frame.index, columns=frame.columns)
    bands, fitted = {}, {}
    for column in frame.columns:
        series = frame[column]
        train = series[series.index < split].dropna()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                estimator = make(sli, train)
                band = estimator.bands(series, sensitivity=1.0)
        except (ValueError, RuntimeError):
            continue  # too little history for this strategy: it never fires
        bands[column], fitted[column] = band, estimator
        if sli.direction == UPPER:
            spread = band["upper"] - band["centre"]
            z[column] = (series - band["centre"]) / spread
        else:
            spread = band["centre"] - band["lower"]
            z[column] = (band["centre"] - series) / spread
    return z.where(np.isfinite(z)), bands, fitted


def judged_incidents(sli: SLI, incidents: Sequence[Incident], split: pd.Timestamp,
                     last: pd.Timestamp) -> list[Incident]:
    """The SLI's incidents running at some point of the judged part [split, last].

    One still running when judging starts is real (an alert on it is no false page); its
    time to detect counts from there, as no candidate can fire earlier.
    """
    return [replace(i, start=max(i.start, split)) for i in incidents
            if i.kind in sli.incident_kinds and i.end > split and i.start <= last]


def _metrics(candidate: Candidate, fired: pd.DataFrame, incidents, weeks: float) -> dict:
    row = {
        "sli": candidate.sli, "strategy": candidate.strategy, "level": candidate.level,
        "for": candidate.for_, "for_min": pd.Timedelta(candidate.for_) / pd.Timedelta("1min"),
        "candidate": candidate.name, "exportable": candidate.exportable,
        "ships": candidate.ships, "weeks": weeks,
    }
    return {**row, **alert_figures(fired, incidents, weeks)}


def alert_figures(fired: pd.DataFrame, incidents: Sequence[Incident], weeks: float) -> dict:
    """Alerts, false pages (alerts matching no incident) and detection quality."""
    minutes = ((fired["end"] - fired["start"]).sum() / pd.Timedelta("1min")) if len(fired) else 0
    row = {
        "alerts": len(fired), "true_alerts": 0, "false_pages": len(fired),
        "false_pages_per_week": len(fired) / weeks, "alert_minutes": float(minutes),
        "pages_per_week": len(fired) / weeks, "flaps": flaps(fired, FLAP_WINDOW),
        "precision": np.nan, "recall": np.nan, "f1": np.nan, "mean_ttd_min": np.nan,
        "incidents": len(incidents), "detected": 0,
    }
    if incidents:
        q = quality.summary(quality.match(fired, incidents))
        row.update(precision=q.precision, recall=q.recall, f1=q.f1, true_alerts=q.true_alerts,
                   false_pages=q.alerts - q.true_alerts, detected=q.detected,
                   false_pages_per_week=(q.alerts - q.true_alerts) / weeks,
                   mean_ttd_min=(np.nan if q.mean_ttd is None
                                 else q.mean_ttd / pd.Timedelta("1min")))
    return row
