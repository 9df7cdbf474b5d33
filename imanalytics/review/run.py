"""A threshold tuning review: every IM SLI, every candidate, one recommendation each."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..catalog import Catalog
from ..errors import ImanalyticsError
from ..promql import evaluate, parse
from ..samples import Series, format_series
from ..sandbox.incidents import Incident
from ..sandbox.workload import Workload
from ..slis import SLI, slis
from ..timeparse import duration_ms, to_timestamp
from .backtest import STRATEGIES, SLIBacktest, backtest
from .recommend import DEFAULT_PAGE_BUDGET, recommend

STEP = "1m"
RAW_MARGIN = pd.Timedelta("15min")  # the widest range window plus lookback in an SLI


class ReviewError(ImanalyticsError):
    """The review cannot run on this input."""


@dataclass
class Review:
    backtests: list[SLIBacktest]
    recommendations: pd.DataFrame
    start: pd.Timestamp
    end: pd.Timestamp
    page_budget: float
    incidents: list[Incident]
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def candidates(self) -> pd.DataFrame:
        return pd.concat([b.candidates for b in self.backtests], ignore_index=True)

    def backtest(self, sli_key: str) -> SLIBacktest:
        return next(b for b in self.backtests if b.sli.key == sli_key)

    def _repr_html_(self) -> str:
        from ..display import review_html

        return review_html(self)

    def write(self, out: str | Path, **options) -> dict[str, Path]:
        """Report, summaries, alert rules and their tests, Alertmanager config."""
        from .outputs import write_review

        return write_review(self, Path(out), **options)


def review_thresholds(data, since="28d", until=None, *, incidents: Sequence[Incident] | None = None,
                      catalog: Catalog | None = None, sli_keys: Sequence[str] | None = None,
                      strategies: Sequence[str] = tuple(STRATEGIES),
                      page_budget: float = DEFAULT_PAGE_BUDGET, engine: str = "local",
                      progress: bool | None = None) -> Review:
    """Backtest candidate alerts for each IM SLI and recommend one per SLI.

    `data` is a simulated `Workload`, a `PromSource`, or a Prometheus URL. `since` is a
    duration back from `until` (default: the end of the data, or now) or a time.
    ``engine="local"`` evaluates the SLIs with the local evaluator over raw samples;
    ``"server"`` asks Prometheus for them.
    """
    began = time.perf_counter()
    _check_strategies(strategies)
    chosen = _slis(catalog, sli_keys)
    end = _end(data, until)
    start = _start(since, end)
    incidents = list(incidents if incidents is not None else getattr(data, "incidents", []))
    frames = sli_frames(data, chosen, start, end, engine)
    tests, rows = [], []
    for sli in _progress(chosen, progress):
        frame = frames[sli.key]
        if frame.shape[1] == 0 or frame.notna().sum().sum() == 0:
            continue
        result = backtest(sli, frame, incidents, strategies)
        tests.append(result)
        best, why = recommend(result.candidates, page_budget, sli.static_threshold)
        rows.append({"sli": sli.key, "title": sli.title, **best.to_dict(), "why": why})
    if not tests:
        raise ReviewError(f"no SLI has data between {start} and {end}")
    recommendations = pd.DataFrame(rows).drop(columns=["for_min"], errors="ignore")
    return Review(tests, recommendations, start, end, page_budget, incidents,
                  time.perf_counter() - began)


def sli_frames(data, chosen: Sequence[SLI], start, end, engine: str) -> dict[str, pd.DataFrame]:
    """Each SLI at a 1 m step over [start, end]."""
    if isinstance(data, Workload):
        return {s.key: evaluate(s.expr, data.series, start, end, STEP) for s in chosen}
    source = _source(data)
    if engine == "server":
        return {s.key: source.range(s.expr, start, end, STEP) for s in chosen}
    if engine != "local":
        raise ReviewError(f"engine must be 'local' or 'server' (got {engine!r})")
    raw = _raw_for(source, chosen, start - RAW_MARGIN, end)
    return {s.key: evaluate(s.expr, raw, start, end, STEP) for s in chosen}


def _raw_for(source, chosen: Sequence[SLI], start, end) -> list[Series]:
    from ..dashboards.promtree import selectors

    wanted = set()
    for sli in chosen:
        for node in selectors(parse(sli.expr)):
            labels = {m.label: m.value for m in node.matchers if m.op == "="}
            wanted.add(_selector_text(node, labels))
    series: dict[tuple, Series] = {}
    for text in sorted(wanted):
        for s in source.raw(text, start, end):
            series[s.key] = s
    return list(series.values())


def _selector_text(node, labels: dict[str, str]) -> str:
    matchers = ",".join(f'{m.label}{m.op}"{m.value}"' for m in node.matchers
                        if m.label != "__name__")
    name = node.name or ""
    return f"{name}{{{matchers}}}" if matchers else name or format_series(labels)


def _source(data):
    from ..source import PromSource

    if isinstance(data, PromSource):
        return data
    if isinstance(data, str):
        return PromSource(data)
    raise ReviewError(f"review data must be a Workload, a PromSource or a URL, not "
                      f"{type(data).__name__}")


def _slis(catalog: Catalog | None, keys: Sequence[str] | None) -> list[SLI]:
    every = slis(catalog)
    if not keys:
        return every
    known = {s.key: s for s in every}
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise ReviewError(f"unknown SLI {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[k] for k in keys]


def _check_strategies(strategies: Sequence[str]) -> None:
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise ReviewError(f"unknown strategy {', '.join(unknown)}; "
                          f"known: {', '.join(STRATEGIES)}")


def _end(data, until) -> pd.Timestamp:
    if until is not None:
        return to_timestamp(until).floor("1min")
    if isinstance(data, Workload):
        return data.end.floor("1min")
    return pd.Timestamp.now(tz="UTC").floor("1min")


def _start(since, end: pd.Timestamp) -> pd.Timestamp:
    """`since` as a Prometheus duration back from `end` ("28d"), or as a time."""
    try:
        return end - pd.Timedelta(duration_ms(since), "ms")
    except ValueError:
        return to_timestamp(since).floor("1min")


def _progress(items, enabled):
    import sys

    from tqdm import tqdm

    show = sys.stderr.isatty() if enabled is None else enabled
    return tqdm(items, desc="review", unit="SLI", disable=not show, leave=False)
