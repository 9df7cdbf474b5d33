"""A Prometheus rule file evaluated over history, the way the rule manager runs it.

`evaluate_file(path, raw_series, start, end, step)` runs the file's groups in order and
each group's rules in order, every group on its own grid from `start`: its ``interval:``,
else `step` (the global evaluation interval), shifted by the group's entry in `offsets`
(a server shifts each group by a hash of its name and file). Recording rules write their
series (with a staleness marker at the group's next evaluation where a series ends), which
other rules read at their own times; alert rules keep Prometheus' alert states (pending, firing
after ``for:``, ``keep_firing_for:``), write ``ALERTS`` and ``ALERTS_FOR_STATE``, and
expand templated labels and annotations. The result holds the written series and the alert
timeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ..errors import ImanalyticsError
from ..promql import PromQLError, Semantics, evaluate_result
from ..promql.lexer import parse_duration_ms
from ..promql.selectors import STALE_NAN_BITS
from ..promql.timegrid import duration_ms, step_grid
from ..promql.values import Scalar
from ..samples import NAME, Series, format_series, label_key
from .templates import expand

STALE = np.array([STALE_NAN_BITS], dtype=np.uint64).view(np.float64)[0]


class RuleFileEvaluationError(ImanalyticsError):
    """A rule file that cannot be evaluated: bad YAML, expression or template."""


@dataclass
class Backtest:
    """What the rule manager would have written and done over the grid."""

    series: list[Series]  # recorded series, ALERTS and ALERTS_FOR_STATE
    alerts: pd.DataFrame  # one row per alert episode (active_at, fired_at, resolved_at, ...)

    def recorded(self, name: str) -> list[Series]:
        return [s for s in self.series if s.name == name]


@dataclass
class _Alert:
    labels: dict[str, str]
    active_at: int
    state: str = "pending"
    fired_at: int | None = None
    resolved_at: int | None = None
    keep_firing_since: int | None = None
    source: tuple = ({}, 0.0)  # the last sample's labels and value, for the annotations


def evaluate_file(path: str | Path, raw_series: Sequence[Series], start, end, step, *,
                  semantics: Semantics | str = "2.42.0", lookback="5m",
                  offsets: dict | None = None) -> Backtest:
    """Evaluate every group of the rule file at `path` over the grid (see module doc);
    `offsets` maps a group's name to a shift of its grid (a duration)."""
    path = Path(path)
    try:
        groups = yaml.safe_load(path.read_text())["groups"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as err:
        raise RuleFileEvaluationError(f"{path}: not a Prometheus rule file ({err})") from None
    data = list(raw_series)
    written: list[Series] = []
    episodes: list[dict] = []
    for group in groups:
        steps = _group_grid(group, start, end, step, offsets or {}, path)
        where = f"{path}: group {group.get('name')!r}"
        for rule in group.get("rules") or []:
            name = rule.get("record") or rule.get("alert")
            try:
                value = evaluate_result(str(rule["expr"]), data, steps, semantics=semantics,
                                        lookback=lookback)
            except (PromQLError, KeyError) as err:
                raise RuleFileEvaluationError(f"{where}: rule {name!r}: {err}") from None
            rows = _rows(value, len(steps))
            if "record" in rule:
                new = _record(rule, rows, steps, where)
            else:
                new, found = _alert(rule, rows, steps, where)
                episodes += found
            data += new
            written += new
    return Backtest(written, pd.DataFrame(episodes, columns=_EPISODE_COLUMNS))


def _group_grid(group: dict, start, end, step, offsets: dict, path: Path) -> np.ndarray:
    """The group's evaluation times: every `interval:` (else `step`) from `start`, shifted
    by the group's offset."""
    name = group.get("name")
    try:
        interval = group.get("interval") or step
        shift = duration_ms(offsets.get(name, 0))
        steps = step_grid(start, end, interval)
        steps = step_grid((steps[0] + shift) / 1000, end, interval) if shift else steps
    except (PromQLError, ValueError) as err:
        raise RuleFileEvaluationError(f"{path}: group {name!r}: {err}") from None
    return steps


_EPISODE_COLUMNS = ["alertname", "labels", "active_at", "fired_at", "resolved_at",
                    "annotations"]


def _rows(value, n_steps: int) -> list[tuple[dict, np.ndarray, np.ndarray]]:
    if isinstance(value, Scalar):  # a scalar result is one sample without labels
        return [({}, value.values, np.ones(n_steps, dtype=bool))]
    return list(zip(value.labels, value.values, value.present, strict=True))


def _record(rule: dict, rows, steps: np.ndarray, where: str) -> list[Series]:
    extra = {str(k): str(v) for k, v in (rule.get("labels") or {}).items()}
    out: dict[tuple, tuple[dict, np.ndarray, np.ndarray]] = {}
    for labels, values, present in rows:
        full = {k: v for k, v in labels.items() if k != NAME} | extra | {NAME: rule["record"]}
        key = label_key(full)
        if key in out:
            if (out[key][2] & present).any():
                raise RuleFileEvaluationError(
                    f"{where}: rule {rule['record']!r}: vector contains metrics with the same "
                    "labelset after applying rule labels")
            merged = np.where(present, values, out[key][1])
            out[key] = (full, merged, out[key][2] | present)
        else:
            out[key] = (full, values, present)
    return [_with_staleness(labels, values, present, steps) for labels, values, present
            in out.values()]


def _with_staleness(labels, values, present, steps) -> Series:
    """Samples where present, and a staleness marker at the step after each run ends."""
    ends = np.flatnonzero(present[:-1] & ~present[1:]) + 1
    t = np.concatenate([steps[present], steps[ends]])
    v = np.concatenate([values[present], np.full(len(ends), STALE)])
    order = np.argsort(t, kind="stable")
    return Series(labels, t[order], v[order])


def _alert(rule: dict, rows, steps: np.ndarray, where: str):
    name = rule["alert"]
    hold = _duration(rule.get("for"), name, where)
    keep_for = _duration(rule.get("keep_firing_for"), name, where)
    active: dict[tuple, _Alert] = {}
    written: dict[tuple, tuple[dict, dict[int, float]]] = {}
    episodes: list[dict] = []
    templated = any("{{" in str(v) for v in (rule.get("labels") or {}).values())
    fixed = [None if templated else _alert_labels(rule, labels, 0.0, name, where)
             for labels, _, _ in rows]
    for i, ts in enumerate(steps):
        results = {}
        for row, (labels, values, present) in enumerate(rows):
            if present[i]:
                alert_labels = fixed[row] or _alert_labels(rule, labels, values[i], name, where)
                results[alert_labels[1]] = (alert_labels[0], (labels, values[i]))
        _advance(active, results, int(ts), hold, keep_for, episodes, rule)
        for alert in active.values():
            _write(written, alert.labels | {NAME: "ALERTS", "alertstate": alert.state},
                   int(ts), 1.0)
            _write(written, alert.labels | {NAME: "ALERTS_FOR_STATE"}, int(ts),
                   float(alert.active_at // 1000))
    episodes += [_episode(rule, alert) for alert in active.values()]
    series = []
    for labels, points in written.values():
        present = np.zeros(len(steps), dtype=bool)
        values = np.full(len(steps), np.nan)
        at = np.searchsorted(steps, np.fromiter(points, dtype=np.int64))
        present[at], values[at] = True, np.fromiter(points.values(), dtype=np.float64)
        series.append(_with_staleness(labels, values, present, steps))
    return series, episodes


def _advance(active, results, ts, hold, keep_for, episodes, rule) -> None:
    """One evaluation of an alerting rule (rules/alerting.go, AlertingRule.Eval); an alert
    that ends goes to `episodes` (a later result with its labels starts a new one)."""
    for key, (labels, source) in results.items():
        if key in active:
            active[key].source = source
        else:
            active[key] = _Alert(labels, ts, source=source)
    for key, alert in list(active.items()):
        if key not in results:
            keep = False
            if alert.state == "firing" and keep_for > 0:
                if alert.keep_firing_since is None:
                    alert.keep_firing_since = ts
                keep = ts - alert.keep_firing_since < keep_for
            if not keep:
                alert.state, alert.resolved_at = "inactive", ts
                episodes.append(_episode(rule, alert))
                del active[key]
                continue
        else:
            alert.keep_firing_since = None
        if alert.state == "pending" and ts - alert.active_at >= hold:
            alert.state, alert.fired_at = "firing", ts


def _episode(rule: dict, alert: _Alert) -> dict:
    """An alert's episode, its annotations expanded for its last sample."""
    def stamp(ms):
        return pd.NaT if ms is None else pd.Timestamp(ms, unit="ms", tz="UTC")

    labels, value = alert.source
    notes = {str(k): _annotation(str(v), labels, float(value))
             for k, v in (rule.get("annotations") or {}).items()}
    return {"alertname": rule["alert"], "labels": format_series(alert.labels),
            "active_at": stamp(alert.active_at), "fired_at": stamp(alert.fired_at),
            "resolved_at": stamp(alert.resolved_at), "annotations": notes}


def _write(written, labels: dict, ts: int, value: float) -> None:
    key = label_key(labels)
    written.setdefault(key, (labels, {}))[1][ts] = value


def _alert_labels(rule: dict, labels: dict, value: float, name: str, where: str):
    """An alert's labels (the sample's, the rule's expanded, alertname) and their key."""
    template_labels = {k: v for k, v in labels.items() if k != NAME}
    try:
        extra = {str(k): expand(str(v), labels, value)
                 for k, v in (rule.get("labels") or {}).items()}
    except ValueError as err:
        raise RuleFileEvaluationError(f"{where}: alert {name!r}: {err}") from None
    alert_labels = template_labels | {k: v for k, v in extra.items() if v} | {"alertname": name}
    return alert_labels, label_key(alert_labels)


def _annotation(text: str, labels: dict, value: float) -> str:
    """An annotation; one this module cannot expand (a template running a query, ...) says
    so instead of failing the backtest (alert timing does not depend on it)."""
    try:
        return expand(text, labels, value)
    except ValueError as err:
        return f"<not expanded: {err}>"


def _duration(text, name: str, where: str) -> int:
    if not text:
        return 0
    try:
        return parse_duration_ms(str(text))
    except PromQLError as err:
        raise RuleFileEvaluationError(f"{where}: alert {name!r}: {err}") from None
