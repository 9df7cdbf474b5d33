"""``promtool test rules`` unit tests for the recording rules.

The input series are a short, deterministic slice of the simulated IM workload placed on
promtool's 1-minute grid; each rule's expected samples come from the local evaluator.
promtool then checks that Prometheus' own rule engine records exactly those values, so
the test holds both engines to each other on every rule.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import yaml

from .catalog import Catalog, default_catalog
from .frames import parse_series
from .promql import evaluate_instant
from .rulefiles import HEADER
from .rules import RecordingRule, inline
from .samples import NAME, Series, format_series
from .sandbox.openmetrics import _SPECIAL
from .sandbox.workload import simulate

INTERVAL_MS = 60_000
POINTS = 76  # 75 minutes of input: the 1 h windows are full at the evaluation times
EVAL_TIMES_MIN = (60, 75)
RATE_POINTS = 5  # a 5 m window over 1 m samples spans 5 intervals
QUANTUM = 75.0  # counter steps: a 5 m increase of 75 k is a rate of k/4
FRACTION = 64  # gauges in multiples of 1/64
SEED, END = 5, "2026-03-02T06:00:00Z"


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


def unit_tests(rules: Sequence[RecordingRule], rule_file: str,
               catalog: Catalog | None = None) -> str:
    """The promtool test file for `rules` (stored in `rule_file`), as YAML text.

    With a mapped catalog the simulated input is renamed to the service's metric and label
    names and given its equality selectors, so the rules see the data they expect.
    """
    data = input_series()
    if catalog is not None:
        data = as_catalog(data, catalog)
    cases = [_case(rule, rules, data, minute) for minute in EVAL_TIMES_MIN for rule in rules]
    doc = {
        "rule_files": [rule_file],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [_input(s) for s in data],
            "promql_expr_test": cases,
        }],
    }
    return HEADER + yaml.safe_dump(doc, sort_keys=False, width=1_000_000)


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


def _input(s: Series) -> dict:
    return {"series": format_series(s.labels), "values": " ".join(_number(v) for v in s.v)}


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


def _number(v: float) -> str:
    text = repr(float(v))
    return _SPECIAL.get(text, text)
