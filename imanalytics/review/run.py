"""A threshold tuning review: every IM SLI, every candidate, one recommendation each."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from ..catalog import Catalog
from ..errors import ImanalyticsError
from ..promql import PromQLError, evaluate, parse
from ..samples import Series, format_series
from ..sandbox.incidents import Incident
from ..sandbox.workload import Workload
from ..slis import SLI, slis
from ..timeparse import duration_ms, to_timestamp
from .backtest import STRATEGIES, SLIBacktest, backtest
from .current import RuleSet, needed_exprs
from .notes import data_notes, skipped_note
from .recommend import DEFAULT_PAGE_BUDGET, KEEP, check_budget, recommend

STEP = "1m"
RAW_MARGIN = pd.Timedelta("15min")  # the widest range window plus lookback in an SLI


class ReviewError(ImanalyticsError):
    """The review cannot run on this input."""


@dataclass
class Review:
    backtests: list[SLIBacktest]
    recommendations: pd.DataFrame
    start: pd.Timestamp  # the history the data really covers
    end: pd.Timestamp
    page_budget: float
    incidents: list[Incident]
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # warnings about the data
    asked: tuple[pd.Timestamp, pd.Timestamp] | None = None  # the history asked for
    current: list = field(default_factory=list)  # CurrentResult per current alert rule
    engine: str = ""  # where the SLIs came from and whose semantics computed them

    @property
    def candidates(self) -> pd.DataFrame:
        return pd.concat([b.candidates for b in self.backtests], ignore_index=True)

    def backtest(self, sli_key: str) -> SLIBacktest:
        return next(b for b in self.backtests if b.sli.key == sli_key)

    def current_for(self, sli_key: str) -> list:
        return [c for c in self.current if c.sli == sli_key]

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
                      current_rules: RuleSet | None = None,
                      progress: bool | None = None) -> Review:
    """Backtest candidate alerts for each IM SLI and recommend one per SLI (or none).

    `data` is a simulated `Workload`, a `PromSource`, or a Prometheus URL. `since` is a
    duration back from `until` (default: the end of the data, or now) or a time.
    ``engine="local"`` evaluates the SLIs with the local evaluator over raw samples;
    ``"server"`` asks Prometheus for them. `current_rules` (from `load_rule_files` or
    `server_rules`) are backtested beside the candidates.
    """
    began = time.perf_counter()
    _check_strategies(strategies)
    budget = check_budget(page_budget)
    if engine not in ("local", "server"):
        raise ReviewError(f"engine must be 'local' or 'server' (got {engine!r})")
    chosen = _slis(catalog, sli_keys)
    start, end = history_span(data, since, until)
    incidents = list(incidents if incidents is not None else getattr(data, "incidents", []))
    current_rules = current_rules or RuleSet()
    extra = needed_exprs(current_rules, chosen)
    skip = {s.record for s in chosen} | set(current_rules.records)
    history = load_history(data, chosen, start, end, engine, extra, skip)
    notes = list(history.notes)
    tests, rows = [], []
    for sli in tqdm(chosen, desc="review", unit="SLI", disable=_hidden(progress)):
        frame = history.frames[sli.key]
        if frame.shape[1] == 0 or frame.notna().sum().sum() == 0:
            notes.append(skipped_note(sli, history.missing.get(sli.key, [])))
            continue
        result = backtest(sli, frame, incidents, strategies, progress=not _hidden(progress))
        tests.append(result)
        best, why = recommend(result.candidates, budget)
        rows.append(_recommendation(sli, best, why))
    if not tests:
        raise ReviewError(f"no SLI has data between {start} and {end}; "
                          + "; ".join(notes))
    columns = list(dict.fromkeys(["sli", "title", *tests[0].candidates.columns,
                                  "recommended", "why"]))
    review = Review(tests, pd.DataFrame(rows, columns=columns).drop(columns=["for_min"]),
                    min(t.frame.index[0] for t in tests), max(t.frame.index[-1] for t in tests),
                    budget, incidents, asked=(start, end))
    review.engine, engine_notes = _engine_line(data, engine)
    review.notes = notes + engine_notes + data_notes(review)
    review.current = _current(review, current_rules, history, data, progress)
    review.seconds = time.perf_counter() - began
    return review


def _engine_line(data, engine: str) -> tuple[str, list[str]]:
    """Which engine served the data and whose semantics the SLIs follow; a note if they differ."""
    if isinstance(data, Workload):
        return "simulated workload, SLIs evaluated locally (Prometheus semantics)", []
    server = _source(data).engine
    if engine == "server":
        return f"{server}, SLIs evaluated by the server ({server.semantics} semantics)", []
    line = f"{server}, SLIs evaluated locally from raw samples (Prometheus semantics)"
    if server.semantics == "Prometheus":
        return line, []
    return line, [f"the server is {server.name}: its rate/increase/delta do not extrapolate "
                  "and count the sample before the window, so rules it evaluates give other "
                  "values than these Prometheus-semantics SLIs (the demo's local-vs-server "
                  "table measures the difference)"]


def history_span(data, since, until) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(start, end) of the history asked for; refused unless start comes before end."""
    end = _end(data, until)
    start = _start(since, end)
    if start >= end:
        raise ReviewError(f"the history must start before it ends (got {start} .. {end})")
    return start, end


def _recommendation(sli: SLI, best: pd.Series | None, why: str) -> dict:
    if best is None:
        return {"sli": sli.key, "title": sli.title, "candidate": KEEP, "recommended": False,
                "strategy": "", "ships": "", "exportable": False, "why": why}
    return {"sli": sli.key, "title": sli.title, **best.to_dict(), "recommended": True,
            "why": why}


def _current(review: Review, rules: RuleSet, history, data, progress) -> list:
    from .current import backtest_rule, sli_of

    results = []
    slis_reviewed = [t.sli for t in review.backtests]
    source = None if isinstance(data, Workload) else _source(data)
    for rule in tqdm(rules.alerts, desc="current rules", unit="rule",
                     disable=_hidden(progress) or not rules.alerts):
        sli = sli_of(rule, slis_reviewed, rules)
        if sli is not None:
            results.append(backtest_rule(rule, review.backtest(sli.key), rules, history.raw,
                                         source))
    return results


def _hidden(progress: bool | None) -> bool:
    """Bars show on a terminal and in notebooks (tqdm.auto draws a widget there)."""
    import sys

    if progress is None:
        return not (sys.stderr.isatty() or "ipykernel" in sys.modules)
    return not progress


@dataclass
class History:
    frames: dict[str, pd.DataFrame]  # SLI key -> the SLI at a 1 m step
    raw: list[Series] | None  # raw samples, when evaluated locally
    missing: dict[str, list[str]]  # SLI key -> metric names with no series
    notes: list[str] = field(default_factory=list)


def load_history(data, chosen: Sequence[SLI], start, end, engine: str = "local",
                 extra: Sequence[str] = (), skip: set[str] = frozenset()) -> History:
    """Each SLI at a 1 m step over [start, end], and the raw samples behind them."""
    if isinstance(data, Workload):
        frames = {s.key: evaluate(s.expr, data.series, start, end, STEP) for s in chosen}
        present = {s.name for s in data.series}
        return History(frames, data.series, _missing(chosen, present))
    source = _source(data)
    if engine == "server":
        frames = {s.key: source.range(s.expr, start, end, STEP) for s in chosen}
        empty = [s for s in chosen if frames[s.key].shape[1] == 0]
        present = {n for s in empty for n in _names(s.expr) if _exists(source, n, start, end)}
        return History(frames, None, _missing(empty, present))
    raw = _raw_for(source, [s.expr for s in chosen] + list(extra), start - RAW_MARGIN, end,
                   skip)
    frames = {s.key: evaluate(s.expr, raw, start, end, STEP) for s in chosen}
    return History(frames, raw, _missing(chosen, {s.name for s in raw}))


def _names(expr: str) -> set[str]:
    from .current import names_in

    return names_in(expr)


def _missing(chosen: Sequence[SLI], present: set[str]) -> dict[str, list[str]]:
    return {s.key: sorted(_names(s.expr) - present) for s in chosen}


def _exists(source, name: str, start, end) -> bool:
    return len(source.series(name, start, end)) > 0


def _raw_for(source, exprs: Sequence[str], start, end, skip=frozenset()) -> list[Series]:
    """Raw samples of every selector in `exprs`, except names recorded by rules (`skip`)."""
    from ..dashboards.promtree import selectors

    wanted = set()
    for expr in exprs:
        try:
            nodes = selectors(parse(expr))
        except PromQLError:
            continue  # evaluated by the server instead
        for node in (n for n in nodes if n.name not in skip):
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


