"""The alert rules that run today, backtested over the review's history.

Rules come from Prometheus rule files or from a server's ``/api/v1/rules``. Each alert
rule is tied to the reviewed SLI it watches (its ``sli`` label, the SLI's recorded series
in its expression, or the same raw metrics) and evaluated over the same history: locally
where the local evaluator can (raw samples, the SLIs' recorded series and the recording
rules it depends on), by the server's ``query_range`` otherwise.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ..errors import ImanalyticsError
from ..frames import parse_series
from ..promql import PromQLError, evaluate, parse
from ..rules.rulefmt import RuleFormatError, check_rule_file
from ..samples import NAME, Series
from ..slis import SLI
from .backtest import SLIBacktest, alert_figures
from .events import firing_events


class RuleSourceError(ImanalyticsError):
    """A current rule file or the server's rule list cannot be read."""


@dataclass(frozen=True)
class CurrentRule:
    name: str
    expr: str
    for_: str
    origin: str  # the file or server it came from
    labels: dict = field(default_factory=dict)
    annotations: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        rule = {"alert": self.name, "expr": self.expr, "for": self.for_}
        if self.labels:
            rule["labels"] = dict(sorted(self.labels.items()))
        if self.annotations:
            rule["annotations"] = dict(sorted(self.annotations.items()))
        return rule


@dataclass
class RuleSet:
    alerts: list[CurrentRule] = field(default_factory=list)
    records: dict[str, list[dict]] = field(default_factory=dict)  # name -> {expr, labels}

    def __iadd__(self, other: RuleSet) -> RuleSet:
        self.alerts += other.alerts
        for name, rules in other.records.items():
            self.records.setdefault(name, []).extend(rules)
        return self


def load_rule_files(paths: Sequence[str | Path]) -> RuleSet:
    """Alert and recording rules from Prometheus rule files."""
    rules = RuleSet()
    for path in paths:
        rules += _rule_file(Path(path))
    return rules


def _rule_file(path: Path) -> RuleSet:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RuleSourceError(f"{path}: cannot read rules: {_first_line(exc)}") from None
    try:
        groups = check_rule_file(doc, path)
    except RuleFormatError as err:
        raise RuleSourceError(str(err)) from None
    rules = RuleSet()
    for g, group in enumerate(groups):
        for r, rule in enumerate(group.get("rules") or []):
            _add(rules, rule.get("alert"), rule.get("record"), str(rule["expr"]),
                 str(rule.get("for", "0s")), rule.get("labels") or {},
                 rule.get("annotations") or {}, str(path), f"{path}: groups[{g}].rules[{r}]")
    return rules


def server_rules(source) -> RuleSet:
    """Alert and recording rules loaded by the Prometheus behind `source` (/api/v1/rules)."""
    try:
        groups = source._api("/api/v1/rules", {})["groups"]
    except (ImanalyticsError, KeyError, TypeError) as exc:
        raise RuleSourceError(f"{source.url}/api/v1/rules: cannot read the server's rules: "
                              f"{_first_line(exc)}") from None
    rules = RuleSet()
    for group in groups:
        for rule in group.get("rules", []):
            alert = rule["name"] if rule.get("type") == "alerting" else None
            record = rule["name"] if rule.get("type") == "recording" else None
            _add(rules, alert, record, rule["query"], _seconds(rule.get("duration", 0)),
                 rule.get("labels") or {}, rule.get("annotations") or {},
                 f"{source.url} ({group.get('file', '')})", rule["name"])
    return rules


def _add(rules: RuleSet, alert, record, expr, for_, labels, annotations, origin, where):
    if alert:
        rules.alerts.append(CurrentRule(str(alert), expr, for_, origin,
                                        {str(k): str(v) for k, v in labels.items()},
                                        {str(k): str(v) for k, v in annotations.items()}))
    elif record:
        rules.records.setdefault(str(record), []).append({"expr": expr, "labels": labels})
    else:
        raise RuleSourceError(f"{where}: a rule needs `alert` or `record`")


def _seconds(value) -> str:
    seconds = int(float(value))
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


# --- which SLI a rule watches ------------------------------------------------------------


def names_in(expr: str) -> set[str]:
    """The metric names an expression selects; every identifier in it when the local
    parser refuses it (the server evaluates such rules; this only ties them to an SLI)."""
    from ..dashboards.promtree import selectors

    try:
        return {node.name for node in selectors(parse(expr)) if node.name}
    except PromQLError:
        return set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr))


def _metrics_behind(expr: str, rules: RuleSet, seen: frozenset = frozenset()) -> set[str]:
    """Raw and recorded names an expression depends on, through the recording rules."""
    names = set()
    for name in names_in(expr) - seen:
        names.add(name)
        for rule in rules.records.get(name, []):
            names |= _metrics_behind(rule["expr"], rules, seen | {name})
    return names


def sli_of(rule: CurrentRule, slis: Sequence[SLI], rules: RuleSet) -> SLI | None:
    """The reviewed SLI a current rule watches, or None."""
    by_key = {s.key: s for s in slis}
    if rule.labels.get("sli") in by_key:
        return by_key[rule.labels["sli"]]
    behind = _metrics_behind(rule.expr, rules)
    recorded = [s for s in slis if s.record in behind]
    if len(recorded) == 1:
        return recorded[0]
    raw = behind - set(rules.records)
    same = [s for s in slis if names_in(s.expr) and names_in(s.expr) == raw]
    if not same:  # an expression the local parser refused: every identifier is in `raw`
        same = [s for s in slis if names_in(s.expr) and names_in(s.expr) <= raw]
    return same[0] if len(same) == 1 else None


def needed_exprs(rules: RuleSet, slis: Sequence[SLI]) -> list[str]:
    """Expressions whose raw samples the rules on `slis` need: theirs and their records'."""
    exprs = []
    for rule in rules.alerts:
        if sli_of(rule, slis, rules) is not None:
            exprs.append(rule.expr)
            exprs += [r["expr"] for name in _order(rule.expr, rules)
                      for r in rules.records.get(name, [])]
    return exprs


# --- backtesting a current rule ------------------------------------------------------------


@dataclass
class CurrentResult:
    rule: CurrentRule
    sli: str
    engine: str  # "local", "server", or "" when it could not be evaluated
    figures: dict
    events: pd.DataFrame
    problem: str = ""


def backtest_rule(rule: CurrentRule, test: SLIBacktest, rules: RuleSet,
                  raw: Sequence[Series] | None, source=None) -> CurrentResult:
    """The rule's alerts over the judged part of `test`'s history, with their figures."""
    start, end = test.frame.index[0], test.frame.index[-1]
    condition, engine, problem = None, "", ""
    if raw is not None:
        try:
            condition = _local(rule.expr, test, rules, raw, start, end)
            engine = "local"
        except (PromQLError, ValueError, KeyError) as exc:
            problem = f"local evaluator: {_first_line(exc)}"
    if condition is None and source is not None:
        try:
            condition = source.range(rule.expr, start, end, "1m")
            engine, problem = "server", ""
        except Exception as exc:  # noqa: BLE001 - reported beside the rule, not fatal
            problem = f"{problem}; server: {_first_line(exc)}".lstrip("; ")
    if condition is None:
        empty = firing_events(pd.DataFrame(index=test.frame.index[:0]), pd.Timedelta(0))
        return CurrentResult(rule, test.sli.key, "", {}, empty,
                             problem or "no data source to evaluate it")
    condition = condition.reindex(test.frame.index)
    judged = condition[condition.index >= test.evaluated_from].notna()
    fired = firing_events(judged, pd.Timedelta(_duration(rule.for_)))
    figures = alert_figures(fired, test.incidents, test.weeks)
    return CurrentResult(rule, test.sli.key, engine, figures, fired)


def _duration(text: str) -> str:
    from ..timeparse import duration_ms

    return f"{duration_ms(text)}ms"


def _local(expr: str, test: SLIBacktest, rules: RuleSet, raw: Sequence[Series], start, end):
    """Evaluate `expr` over the raw samples plus every recorded series it needs."""
    data = list(raw) + _as_series(test.frame, test.sli.record)
    have = {s.name for s in data}
    for name in _order(expr, rules):
        if name in have or name not in rules.records:
            continue
        for rule in rules.records[name]:
            frame = evaluate(rule["expr"], data, start, end, "1m")
            data += _as_series(frame, name, rule["labels"])
        have.add(name)
    missing = names_in(expr) - {s.name for s in data}
    if missing:
        raise KeyError(f"no series named {', '.join(sorted(missing))}")
    return evaluate(expr, data, start, end, "1m")


def _order(expr: str, rules: RuleSet, seen: tuple = ()) -> list[str]:
    """Recorded names `expr` needs, dependencies first."""
    order = []
    for name in sorted(names_in(expr)):
        if name in seen:
            continue
        for rule in rules.records.get(name, []):
            order += [n for n in _order(rule["expr"], rules, (*seen, name)) if n not in order]
        if name not in order:
            order.append(name)
    return order


def _as_series(frame: pd.DataFrame, name: str, labels: dict | None = None) -> list[Series]:
    t = frame.index.as_unit("ms").asi8.astype(np.int64)
    out = []
    for column in frame.columns:
        values = frame[column].to_numpy(dtype=float)
        keep = ~np.isnan(values)
        if keep.any():
            own = {k: v for k, v in parse_series(column).items() if k != NAME}
            out.append(Series({**own, **(labels or {}), NAME: name}, t[keep], values[keep]))
    return out


def current_line(result) -> str:
    """A current rule's backtest in one line."""
    if not result.engine:
        return f"not evaluated ({result.problem})"
    f = result.figures
    recall = "–" if f["incidents"] == 0 else f"recall {f['recall']:.2f}"
    ttd = "" if pd.isna(f["mean_ttd_min"]) else f", mean detection {f['mean_ttd_min']:.0f} min"
    return (f"{f['alerts']} alerts, {f['false_pages_per_week']:.2g} false pages/week, "
            f"{recall}{ttd} ({result.engine} engine)")


# --- the rule that would change --------------------------------------------------------------


def rule_diff(current: CurrentRule | None, recommended: dict | None) -> str:
    """A unified diff from the current rule to the recommended one (YAML)."""
    before = _yaml(current.as_dict()) if current else ""
    after = _yaml(_sorted(recommended)) if recommended else ""
    return "".join(difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True),
        fromfile=f"current: {current.name}" if current else "current: (none)",
        tofile="recommended" if recommended else "recommended: (keep the current rule)"))


def _sorted(rule: dict) -> dict:
    """Labels and annotations in name order on both sides, so the diff shows changes only."""
    return {k: dict(sorted(v.items())) if isinstance(v, dict) else v for k, v in rule.items()}


def _yaml(rule: dict) -> str:
    return yaml.safe_dump(rule, sort_keys=False, width=100, allow_unicode=True)
