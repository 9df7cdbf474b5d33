"""``promtool test rules`` cases for alert rules, predicted by the local evaluator.

A case is a window of input series on promtool's 1-minute grid (the SLI's recorded
series, and band series for baseline alerts) with evaluation times. Which alerts fire
at each time — labels and fully expanded annotations — is computed locally; promtool
then holds Prometheus' rule engine to the same answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import yaml

from ..frames import parse_series
from ..promql import evaluate
from ..rulefiles import HEADER
from ..samples import NAME, Series, format_series
from .humanize import FUNCTIONS
from .rules import AlertRule

INTERVAL_MS = 60_000
_TEMPLATE = re.compile(r"\{\{\s*(\$labels\.(\w+)|\$value\s*\|\s*(\w+)|\$value)\s*\}\}")


@dataclass(frozen=True)
class AlertCase:
    """Input series (timestamps on the 1 m grid from 0) and minutes to check the alert at."""

    alert: AlertRule
    inputs: list[Series]
    eval_minutes: list[int]
    comment: str = ""


def firing(alert: AlertRule, inputs: Sequence[Series], minute: int) -> list[dict]:
    """The alerts promtool should report at `minute`: labels and expanded annotations."""
    return firing_at(alert, _condition(alert, inputs, minute), minute)


def firing_at(alert: AlertRule, condition, minute: int) -> list[dict]:
    """Like `firing`, from the alert expression already evaluated each minute from 0."""
    hold = _minutes(alert.for_)
    rows = condition.iloc[: minute + 1]
    out = []
    for column in rows.columns:
        present = ~np.isnan(rows[column].to_numpy())
        # Firing needs the condition at every evaluation of the last `for` minutes.
        if len(present) > hold and present[-hold - 1:].all():
            labels = {k: v for k, v in parse_series(column).items() if k != NAME}
            out.append(_expected(alert, labels, float(rows[column].iloc[-1])))
    return sorted(out, key=lambda a: format_series(a["exp_labels"]))


def fires(case: AlertCase) -> bool:
    """Whether the alert fires at any of the case's evaluation times."""
    condition = _condition(case.alert, case.inputs, max(case.eval_minutes))
    return any(firing_at(case.alert, condition, m) for m in case.eval_minutes)


def _condition(alert: AlertRule, inputs: Sequence[Series], last_minute: int):
    return evaluate(alert.expr, [_present(s) for s in inputs], 0, last_minute * 60, "1m")


def unit_test_file(rule_files: Sequence[str], cases: Sequence[AlertCase]) -> str:
    """A promtool unit-test file with one test per case."""
    tests = [_test(case) for case in cases]
    doc = {"rule_files": list(rule_files), "evaluation_interval": "1m", "tests": tests}
    return HEADER + yaml.safe_dump(doc, sort_keys=False, width=1_000_000)


def _test(case: AlertCase) -> dict:
    condition = _condition(case.alert, case.inputs, max(case.eval_minutes))
    checks = [{"eval_time": f"{m}m", "alertname": case.alert.name,
               "exp_alerts": firing_at(case.alert, condition, m)} for m in case.eval_minutes]
    test = {"interval": "1m", "input_series": [_input(s) for s in case.inputs],
            "alert_rule_test": checks}
    if case.comment:
        test = {"name": case.comment, **test}
    return test


def _expected(alert: AlertRule, series_labels: dict[str, str], value: float) -> dict:
    rule = alert.as_dict()
    labels = {**series_labels, **rule["labels"]}
    annotations = {k: expand(v, series_labels, value) for k, v in rule["annotations"].items()}
    return {"exp_labels": dict(sorted(labels.items())), "exp_annotations": annotations}


def expand(template: str, labels: dict[str, str], value: float) -> str:
    """Expand the template subset our annotations use: ``$labels.x`` and ``$value | fn``."""
    def one(match: re.Match) -> str:
        if match.group(2):
            return labels.get(match.group(2), "<no value>")
        fn = match.group(3)
        if fn is None:
            return repr(value)
        if fn not in FUNCTIONS:
            raise ValueError(f"template function {fn!r} is not supported in {template!r}")
        return FUNCTIONS[fn](value)

    text = _TEMPLATE.sub(one, template)
    if "{{" in text:
        raise ValueError(f"unsupported template construct in {template!r}")
    return text


def _present(s: Series) -> Series:
    keep = ~np.isnan(s.v)
    return Series(s.labels, s.t[keep], s.v[keep])


def _input(s: Series) -> dict:
    """promtool's notation: one value per grid minute from 0, ``_`` where none."""
    slots = np.full(int(s.t[-1] // INTERVAL_MS) + 1, np.nan) if len(s) else np.array([])
    slots[(s.t // INTERVAL_MS).astype(int)] = s.v
    values = " ".join("_" if np.isnan(v) else repr(float(v)) for v in slots)
    return {"series": format_series(s.labels), "values": values}


def _minutes(duration: str) -> int:
    units = {"s": 1 / 60, "m": 1, "h": 60, "d": 1440}
    total = sum(float(n) * units[u] for n, u in re.findall(r"(\d+)([smhd])", duration))
    return int(round(total))
