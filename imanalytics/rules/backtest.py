"""A Prometheus rule file evaluated over history, the way the rule manager runs it.

`evaluate_file(path, raw_series, start, end, step)` runs the file's groups in order and
each group's rules in order, every group on its own grid from `start`: its ``interval:``,
else `step` (the global evaluation interval); with a phase in `phases`, at the times
congruent to it modulo the interval (a server's phases: `phases.server_phases`).
Recording rules write their series (with a staleness marker at the group's next evaluation
where a series ends), which other rules read at their own times; a rule reading a rule
evaluated after it (later in the file, or itself) sees that rule's previous evaluation, as
in Prometheus (such rules run evaluation by evaluation, the others over the whole grid at
once); alert rules keep
Prometheus' alert states (pending, firing after ``for:``, ``keep_firing_for:``), write
``ALERTS`` and ``ALERTS_FOR_STATE``, and expand templated labels and annotations (a
template's ``query`` runs at the alert's evaluation time over what the rule itself sees
then). The result holds the written series and the alert timeline.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ..errors import ImanalyticsError
from ..promql import PromQLError, Semantics, evaluate_result, parse
from ..promql.ast import Node, VectorSelector, children
from ..promql.lexer import parse_duration_ms
from ..promql.selectors import STALE_NAN_BITS
from ..promql.timegrid import duration_ms, step_grid, to_ms
from ..promql.values import Scalar
from ..samples import NAME, Series, format_series, label_key
from .rulefmt import RuleFormatError, check_rule_file
from .templates import Sample, TemplateFailure, expand, failure_text

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
    source: tuple = ({}, 0.0, 0)  # the last sample's labels, value and time (annotations)


def evaluate_file(path: str | Path, raw_series: Sequence[Series], start, end, step, *,
                  semantics: Semantics | str = "2.42.0", lookback="5m",
                  phases: dict | None = None, external_url: str | None = None,
                  external_labels: dict[str, str] | None = None) -> Backtest:
    """Evaluate every group of the rule file at `path` over the grid (see module doc);
    `phases` maps a group's name to its phase (milliseconds or a duration; see
    `server_phases`); `external_url` is the server's, for templates (none, as under
    ``promtool test rules``: ``pathPrefix`` and ``externalURL`` fail); `external_labels`
    the server's global ones, which templates read as ``$externalLabels`` (the rule manager
    does not add them to alerts: Alertmanager gets them when alerts are sent)."""
    path = Path(path)
    try:
        groups = check_rule_file(yaml.safe_load(path.read_text()), path)
    except (OSError, yaml.YAMLError) as err:
        raise RuleFileEvaluationError(f"{path}: not a Prometheus rule file ({err})") from None
    except RuleFormatError as err:
        raise RuleFileEvaluationError(str(err)) from None
    run = _Run(_rules(path, groups, start, end, step, phases or {}), list(raw_series),
               semantics, lookback, (external_url, dict(external_labels or {})))
    for component in _components(run.deps):
        run.evaluate(component)
    series = [s for i in sorted(run.written) for s in run.written[i]]
    episodes = [episode for _, episode in sorted(run.episodes, key=lambda e: e[0])]
    return Backtest(series, pd.DataFrame(episodes, columns=_EPISODE_COLUMNS))


@dataclass
class _Rule:
    index: int  # its place in evaluation order: groups in file order, rules in group order
    body: dict
    where: str  # the file and group, for errors
    steps: np.ndarray  # its group's evaluation times
    reads: frozenset | None  # the metric names its expression reads; None: any

    @property
    def name(self) -> str:
        return self.body.get("record") or self.body.get("alert")

    @property
    def writes(self) -> tuple[str, ...]:
        return (self.name,) if "record" in self.body else ("ALERTS", "ALERTS_FOR_STATE")


def _rules(path: Path, groups, start, end, step, phases: dict) -> list[_Rule]:
    rules = []
    for group in groups:
        steps = _group_grid(group, start, end, step, phases, path)
        where = f"{path}: group {group.get('name')!r}"
        for body in group.get("rules") or []:
            try:
                reads = _names_read([parse(str(body["expr"])), *_template_queries(body)])
            except (PromQLError, KeyError, ValueError) as err:
                name = body.get("record") or body.get("alert")
                raise RuleFileEvaluationError(f"{where}: rule {name!r}: {err}") from None
            rules.append(_Rule(len(rules), body, where, steps, reads))
    return rules


_ACTION = re.compile(r"\{\{.*?\}\}", re.DOTALL)
_QUERY = re.compile(r'\bquery\s+(?:"((?:[^"\\]|\\.)*)"|`([^`]*)`)')


def _template_queries(rule: dict) -> list[Node]:
    """The queries a rule's templates run; a query not written as a literal may read
    anything (an empty selector stands for it)."""
    texts = [str(v) for key in ("labels", "annotations") for v in (rule.get(key) or {}).values()]
    nodes = []
    for action in (a for text in texts for a in _ACTION.findall(text)):
        literals = _QUERY.findall(action)
        if len(literals) < len(re.findall(r"\bquery\b", action)):
            return [VectorSelector(None, ())]
        nodes += [parse(json.loads(f'"{quoted}"') if quoted else raw) for quoted, raw in literals]
    return nodes


def _names_read(nodes: list[Node]) -> frozenset | None:
    names, todo = set(), list(nodes)
    while todo:
        node = todo.pop()
        if isinstance(node, VectorSelector):
            name = node.name or next((m.value for m in node.matchers
                                      if m.label == NAME and m.op == "="), None)
            if name is None:
                return None
            names.add(name)
        todo += children(node)
    return frozenset(names)


class _Run:
    """The rules' written series so far, evaluated component by component."""

    def __init__(self, rules: list[_Rule], raw: list[Series], semantics, lookback,
                 external: tuple[str | None, dict[str, str]]):
        self.rules, self.raw = rules, raw
        self.external_url, self.external_labels = external
        self.semantics, self.lookback = semantics, lookback
        writers: dict[str, set[int]] = {}
        for rule in rules:
            for name in rule.writes:
                writers.setdefault(name, set()).add(rule.index)
        every = set(range(len(rules)))
        self.deps = [every if r.reads is None else
                     set().union(*(writers.get(n, set()) for n in r.reads)) for r in rules]
        self.written: dict[int, list[Series]] = {}
        self.episodes: list[tuple[int, dict]] = []  # (rule, episode)

    def evaluate(self, component: list[int]) -> None:
        """One rule reading only rules before it in evaluation order runs over its whole
        grid at once; rules that read a later rule's (or their own) previous value run
        evaluation by evaluation, in Prometheus' order."""
        first = self.rules[component[0]]
        if len(component) == 1 and max(self.deps[first.index], default=-1) < first.index:
            rows = {first.index: self._rows(first, self.raw + self._all(), first.steps)}
        else:
            rows = self._step_by_step(component)
        for index in component:
            found: list[dict] = []
            self.written[index] = self._output(self.rules[index], rows[index], found)
            self.episodes += [(index, episode) for episode in found]

    def _step_by_step(self, component: list[int]) -> dict:
        partial = {i: {} for i in component}
        events = sorted((int(t), i, k) for i in component
                        for k, t in enumerate(self.rules[i].steps))
        for t, i, k in events:
            rule = self.rules[i]
            for labels, value, present in self._rows(rule, self._visible(i, t), [t]):
                if present[0]:
                    n = len(rule.steps)
                    row = partial[i].setdefault(label_key(labels), (
                        labels, np.full(n, np.nan), np.zeros(n, dtype=bool)))
                    row[1][k], row[2][k] = value[0], True
            if self.deps[i] & set(component):  # read within the component: keep it current
                rows = [(labels, v[:k + 1], p[:k + 1]) for labels, v, p in partial[i].values()]
                self.written[i] = self._output(rule, rows, None, rule.steps[:k + 1])
        return {i: list(partial[i].values()) for i in component}

    def _rows(self, rule: _Rule, data: list[Series], steps):
        try:
            value = evaluate_result(str(rule.body["expr"]), data, steps,
                                    semantics=self.semantics, lookback=self.lookback)
        except PromQLError as err:
            raise RuleFileEvaluationError(f"{rule.where}: rule {rule.name!r}: {err}") from None
        return _rows(value, len(steps))

    def _output(self, rule: _Rule, rows, episodes: list | None, steps=None) -> list[Series]:
        steps = rule.steps if steps is None else steps
        if "record" in rule.body:
            return _record(rule.body, rows, steps, rule.where)
        series, found = _alert(rule.body, rows, steps, rule.where, self._expand_at(rule),
                               annotate=episodes is not None)
        if episodes is not None:
            episodes += found
        return series

    def _expand_at(self, rule: _Rule):
        """`at(t)`: the rule's templates expanded at `t` (`expand` less its query, name and
        URL)."""
        query_at = self._query_at(rule)
        return lambda t: partial(expand, query=query_at(t), name=rule.name,
                                 external_url=self.external_url,
                                 external_labels=self.external_labels)

    def _query_at(self, rule: _Rule):
        """A template's ``query`` at `t`: over what the rule itself sees at `t`."""
        def at(t: int):
            def query(expr: str) -> list[Sample]:
                try:
                    value = evaluate_result(expr, self._visible(rule.index, t), [t],
                                            semantics=self.semantics, lookback=self.lookback)
                except PromQLError as err:
                    raise ValueError(f"query {expr!r}: {err}") from None
                return [Sample(dict(labels), float(v[0])) for labels, v, present
                        in _rows(value, 1) if present[0]]
            return query
        return at

    def _all(self) -> list[Series]:
        return [s for series in self.written.values() for s in series]

    def _visible(self, reader: int, t: int) -> list[Series]:
        """What a rule sees at `t`: the raw data, what rules before it wrote up to `t`, and
        what itself and later rules wrote before `t` (they run after it at `t`)."""
        out = list(self.raw)
        for index, series in self.written.items():
            if index < reader:
                out += series
            else:
                out += [c for c in (_before(s, t) for s in series) if c is not None]
        return out


def _before(s: Series, t: int) -> Series | None:
    n = int(np.searchsorted(s.t, t, side="left"))
    if n == len(s.t):
        return s
    return Series(s.labels, s.t[:n], s.v[:n]) if n else None


def _components(deps: list[set[int]]) -> list[list[int]]:
    """Rules that read each other (directly or not), each group after the rules it reads
    (Tarjan's strongly connected components, which come out in that order; iterative, so
    long chains of rules do not exhaust Python's stack)."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    stack: list[int] = []
    on_stack: set[int] = set()
    out: list[list[int]] = []
    for root in range(len(deps)):
        if root in index:
            continue
        work = [(root, iter(sorted(deps[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, edges = work[-1]
            w = next((w for w in edges if w not in index or w in on_stack), None)
            if w is not None and w not in index:
                index[w] = low[w] = len(index)
                stack.append(w)
                on_stack.add(w)
                work.append((w, iter(sorted(deps[w]))))
                continue
            if w is not None:
                low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                component = []
                while not component or component[-1] != v:
                    component.append(stack.pop())
                    on_stack.discard(component[-1])
                out.append(sorted(component))
    return out


def _group_grid(group: dict, start, end, step, phases: dict, path: Path) -> np.ndarray:
    """The group's evaluation times: every `interval:` (else `step`) from `start`, or from
    the first time congruent to the group's phase."""
    name = group.get("name")
    try:
        interval = duration_ms(group.get("interval") or step)
        steps = step_grid(start, end, f"{interval}ms")
        if name in phases:
            phase = phases[name]
            phase = phase if isinstance(phase, int) else duration_ms(phase)
            shift = (phase - int(steps[0])) % interval
            steps = steps[steps + shift <= to_ms(end)] + shift
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


def _alert(rule: dict, rows, steps: np.ndarray, where: str, expand_at, annotate=True):
    """The rule's ALERTS and ALERTS_FOR_STATE series, and its episodes (with annotations
    when `annotate`); `expand_at(t)` expands a template at `t`."""
    name = rule["alert"]
    hold = _duration(rule.get("for"), name, where)
    keep_for = _duration(rule.get("keep_firing_for"), name, where)
    active: dict[tuple, _Alert] = {}
    written: dict[tuple, tuple[dict, dict[int, float]]] = {}
    ended: list[_Alert] = []
    templated = any("{{" in str(v) for v in (rule.get("labels") or {}).values())
    fixed = [None if templated else _alert_labels(rule, labels, 0.0, name, where, expand)
             for labels, _, _ in rows]
    for i, ts in enumerate(steps):
        results = {}
        for row, (labels, values, present) in enumerate(rows):
            if present[i]:
                alert_labels = fixed[row] or _alert_labels(rule, labels, values[i], name, where,
                                                           expand_at(int(ts)))
                results[alert_labels[1]] = (alert_labels[0], (labels, values[i], int(ts)))
        _advance(active, results, int(ts), hold, keep_for, ended)
        for alert in active.values():
            _write(written, alert.labels | {NAME: "ALERTS", "alertstate": alert.state},
                   int(ts), 1.0)
            _write(written, alert.labels | {NAME: "ALERTS_FOR_STATE"}, int(ts),
                   float(alert.active_at // 1000))
    episodes = [_episode(rule, alert, expand_at) for alert in ended + list(active.values())
                ] if annotate else []
    series = []
    for labels, points in written.values():
        present = np.zeros(len(steps), dtype=bool)
        values = np.full(len(steps), np.nan)
        at = np.searchsorted(steps, np.fromiter(points, dtype=np.int64))
        present[at], values[at] = True, np.fromiter(points.values(), dtype=np.float64)
        series.append(_with_staleness(labels, values, present, steps))
    return series, episodes


def _advance(active, results, ts, hold, keep_for, ended: list) -> None:
    """One evaluation of an alerting rule (rules/alerting.go, AlertingRule.Eval); an alert
    that ends goes to `ended` (a later result with its labels starts a new one)."""
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
                ended.append(alert)
                del active[key]
                continue
        else:
            alert.keep_firing_since = None
        if alert.state == "pending" and ts - alert.active_at >= hold:
            alert.state, alert.fired_at = "firing", ts


def _episode(rule: dict, alert: _Alert, expand_at) -> dict:
    """An alert's episode, its annotations expanded for its last sample (at that sample's
    evaluation time, for templates that run queries)."""
    def stamp(ms):
        return pd.NaT if ms is None else pd.Timestamp(ms, unit="ms", tz="UTC")

    labels, value, ts = alert.source
    notes = {str(k): _annotation(str(v), labels, float(value), expand_at(ts))
             for k, v in (rule.get("annotations") or {}).items()}
    return {"alertname": rule["alert"], "labels": format_series(alert.labels),
            "active_at": stamp(alert.active_at), "fired_at": stamp(alert.fired_at),
            "resolved_at": stamp(alert.resolved_at), "annotations": notes}


def _write(written, labels: dict, ts: int, value: float) -> None:
    key = label_key(labels)
    written.setdefault(key, (labels, {}))[1][ts] = value


def _alert_labels(rule: dict, labels: dict, value: float, name: str, where: str, expander):
    """An alert's labels (the sample's, the rule's expanded, alertname) and their key; a
    label whose template fails as in Prometheus holds Prometheus' error text."""
    template_labels = {k: v for k, v in labels.items() if k != NAME}
    try:
        extra = {str(k): _expanded(str(v), labels, value, expander)
                 for k, v in (rule.get("labels") or {}).items()}
    except ValueError as err:  # a construct outside the subset: the labels are unknown
        raise RuleFileEvaluationError(f"{where}: alert {name!r}: {err}") from None
    alert_labels = template_labels | {k: v for k, v in extra.items() if v} | {"alertname": name}
    return alert_labels, label_key(alert_labels)


def _annotation(text: str, labels: dict, value: float, expander) -> str:
    """An annotation; one the subset cannot expand says so (``<not expanded: ...>``)
    instead of failing the backtest (alert timing does not depend on it)."""
    try:
        return _expanded(text, labels, value, expander)
    except ValueError as err:
        return f"<not expanded: {err}>"


def _expanded(text: str, labels: dict, value: float, expander) -> str:
    """`text` expanded, or Prometheus' ``<error expanding template: ...>`` where the
    template fails as it fails in Prometheus (rules/alerting.go)."""
    try:
        return expander(text, labels, value)
    except TemplateFailure as err:
        return failure_text(err)


def _duration(text, name: str, where: str) -> int:
    if not text:
        return 0
    try:
        return parse_duration_ms(str(text))
    except PromQLError as err:
        raise RuleFileEvaluationError(f"{where}: alert {name!r}: {err}") from None
