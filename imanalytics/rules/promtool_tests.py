"""``promtool test rules`` files for the generated rules, their expectations computed locally.

Recording rules: the input series are a short, deterministic slice of the simulated IM
workload placed on promtool's 1-minute grid; each rule's expected samples come from the
local evaluator, so promtool holds Prometheus' own rule engine to the same values on every
rule. Alert rules: a case is a window of input series (the SLI's recorded series, and band
series for baseline alerts) with evaluation times; which alerts fire at each time (labels
and fully expanded annotations) is computed locally, and promtool checks Prometheus agrees.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import yaml

from ..catalog import Catalog, default_catalog
from ..frames import parse_series
from ..promql import evaluate, evaluate_instant
from ..promql.lexer import parse_duration_ms
from ..samples import NAME, Series, format_series
from ..sandbox.openmetrics import _SPECIAL
from ..sandbox.workload import simulate
from .alerts import AlertRule
from .files import HEADER
from .recording import RecordingRule, inline
from .templates import expand

INTERVAL_MS = 60_000
POINTS = 76  # 75 minutes of input: the 1 h windows are full at the evaluation times
EVAL_TIMES_MIN = (60, 75)
RATE_POINTS = 5  # a 5 m window over 1 m samples spans 5 intervals
QUANTUM = 75.0  # counter steps: a 5 m increase of 75 k is a rate of k/4
FRACTION = 64  # gauges in multiples of 1/64
SEED, END = 5, "2026-03-02T06:00:00Z"


# --- recording rules -----------------------------------------------------------------


def input_series() -> list[Series]:
    """75 minutes of two simulated instances, one sample per minute, with exact rates.

    promtool loads input series in no fixed order, so a sum over many series may add its
    terms in any order. With every term an exact binary fraction, every order gives the
    same bits, and the expected values can be held to promtool's exact comparison.
    """
    wl = simulate(instances=2, days=1, seed=SEED, end=END, incidents=False)
    grid = np.arange(POINTS, dtype=np.int64) * INTERVAL_MS
    values = {s.key: _scaled(s.name, s.v[-POINTS * 4::4]) for s in wl.series}
    for family in _counter_families(wl.series):
        _make_rates_exact([values[s.key] for s in family])
    ordered = sorted(wl.series, key=lambda s: s.key)
    return [Series(dict(s.labels), grid, values[s.key]) for s in ordered]


def _scaled(name: str, v: np.ndarray) -> np.ndarray:
    if name.endswith(("_total", "_bucket", "_count")):
        return v * QUANTUM
    if name.endswith("_sum"):
        return np.round(v * FRACTION) * QUANTUM / FRACTION
    return np.round(v * FRACTION) / FRACTION


def _counter_families(series: Sequence[Series]) -> list[list[Series]]:
    """Counters grouped so that a histogram's buckets and count move together."""
    families: dict[tuple, list[Series]] = {}
    for s in series:
        if s.name.endswith(("_total", "_sum")):
            families[s.key] = [s]
        elif s.name.endswith(("_bucket", "_count")):
            base = s.name.rsplit("_", 1)[0]
            rest = tuple(sorted((k, v) for k, v in s.labels.items() if k not in (NAME, "le")))
            families.setdefault((base, rest), []).append(s)
    return list(families.values())


def _make_rates_exact(family: list[np.ndarray]) -> None:
    """Shift the family's later samples until each checked 5 m rate is exact.

    ``rate`` multiplies the increase by the rounded 1/300, which is exact only for
    some increases; one common shift keeps histogram buckets cumulative.
    """
    quantum = QUANTUM / FRACTION if _fractional(family) else QUANTUM
    for end in EVAL_TIMES_MIN:
        for _ in range(10_000):
            if all(_exact_rate(v[end - RATE_POINTS:end + 1]) for v in family):
                break
            for v in family:
                v[end:] += quantum
        else:
            raise RuntimeError("no exact rate found for a rule-test input series")


def _fractional(family: list[np.ndarray]) -> bool:
    return any(np.any(v != np.round(v)) for v in family)


def _exact_rate(window: np.ndarray) -> bool:
    increase = window[-1] - window[0] + _reset_correction(window)
    seconds = (len(window) - 1) * INTERVAL_MS / 1000
    return increase * (1 / seconds) == increase / seconds


def _reset_correction(window: np.ndarray) -> float:
    drops = window[1:] < window[:-1]
    return float(window[:-1][drops].sum())


def recording_test_file(rules: Sequence[RecordingRule], rule_file: str,
                        catalog: Catalog | None = None) -> str:
    """The promtool test file for `rules` (stored in `rule_file`), as YAML text.

    With a mapped catalog the simulated input is renamed to the service's metric and label
    names and given its equality selectors, so the rules see the data they expect.
    """
    data = input_series()
    if catalog is not None:
        data = as_catalog(data, catalog)
    cases = [_case(rule, rules, data, minute) for minute in EVAL_TIMES_MIN for rule in rules]
    return _test_file([rule_file], [_test(data, promql_expr_test=cases)])


def as_catalog(series: Sequence[Series], catalog: Catalog) -> list[Series]:
    """Default-named series renamed to `catalog`'s names; metrics it dropped are left out."""
    names = _name_map(catalog)
    fixed = _equality_selectors(catalog)
    out = []
    for s in series:
        if s.name not in names:
            continue
        spec, new_name = names[s.name]
        labels = {NAME: new_name}
        for k, v in s.labels.items():
            if k != NAME:
                labels[spec.label(k) if k in spec.labels else catalog.label(k)] = v
        out.append(Series({**labels, **fixed}, s.t, s.v))
    return sorted(out, key=lambda s: s.key)


def _name_map(catalog: Catalog) -> dict[str, tuple]:
    default = default_catalog()
    names = {}
    for spec in catalog:
        if spec.key in default and default[spec.key].type == spec.type:
            pairs = zip(default[spec.key].series_names(), spec.series_names(), strict=True)
            names.update({old: (spec, new) for old, new in pairs})
    return names


def _equality_selectors(catalog: Catalog) -> dict[str, str]:
    fixed = {}
    for matcher in catalog.selectors:
        match = re.fullmatch(r'([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"', matcher)
        if match:
            fixed[match.group(1)] = match.group(2).replace('\\"', '"')
    return fixed


def _case(rule: RecordingRule, rules, data, minute: int) -> dict:
    at = minute * INTERVAL_MS / 1000
    frame = evaluate_instant(inline(rule.expr, rules), data, at)
    samples = []
    for column in frame.columns:
        value = frame[column].iloc[0]
        if math.isnan(value):
            continue  # promtool compares values with ==, which NaN never satisfies
        labels = parse_series(column)
        labels[NAME] = rule.record
        # PyYAML writes floats with repr, which promtool reads back bit for bit.
        samples.append({"labels": format_series(labels), "value": float(value)})
    return {"expr": rule.record, "eval_time": f"{minute}m", "exp_samples": samples}


# --- alert rules ---------------------------------------------------------------------


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


def alert_test_file(rule_files: Sequence[str], cases: Sequence[AlertCase]) -> str:
    """A promtool unit-test file with one test per case."""
    return _test_file(rule_files, [_alert_test(case) for case in cases])


def _alert_test(case: AlertCase) -> dict:
    condition = _condition(case.alert, case.inputs, max(case.eval_minutes))
    checks = [{"eval_time": f"{m}m", "alertname": case.alert.name,
               "exp_alerts": firing_at(case.alert, condition, m)} for m in case.eval_minutes]
    return _test(case.inputs, case.comment, alert_rule_test=checks)


def _expected(alert: AlertRule, series_labels: dict[str, str], value: float) -> dict:
    rule = alert.as_dict()
    labels = {**series_labels, **rule["labels"]}
    annotations = {k: expand(v, series_labels, value) for k, v in rule["annotations"].items()}
    return {"exp_labels": dict(sorted(labels.items())), "exp_annotations": annotations}


def _present(s: Series) -> Series:
    keep = ~np.isnan(s.v)
    return Series(s.labels, s.t[keep], s.v[keep])


def _minutes(duration: str) -> int:
    return round(parse_duration_ms(duration) / INTERVAL_MS)


# --- the file ------------------------------------------------------------------------


def _test_file(rule_files: Sequence[str], tests: list[dict]) -> str:
    doc = {"rule_files": list(rule_files), "evaluation_interval": "1m", "tests": tests}
    return HEADER + yaml.safe_dump(doc, sort_keys=False, width=1_000_000)


def _test(inputs: Sequence[Series], name: str = "", **checks: list[dict]) -> dict:
    test = {"interval": "1m", "input_series": [_input(s) for s in inputs], **checks}
    return {"name": name, **test} if name else test


def _input(s: Series) -> dict:
    """promtool's notation: one value per grid minute from 0, ``_`` where none."""
    slots = np.full(int(s.t[-1] // INTERVAL_MS) + 1, np.nan) if len(s) else np.array([])
    slots[(s.t // INTERVAL_MS).astype(int)] = s.v
    values = " ".join("_" if np.isnan(v) else _number(v) for v in slots)
    return {"series": format_series(s.labels), "values": values}


def _number(v: float) -> str:
    text = repr(float(v))
    return _SPECIAL.get(text, text)
