"""Rule files evaluated over history, held equal to promtool's rule manager: the same rule
file and input through `evaluate_file` and through ``promtool test rules``, whose expected
alerts and series come from the local result at every minute."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from imanalytics.frames import parse_series
from imanalytics.promql import evaluate_instant
from imanalytics.rules import RuleFileEvaluationError, evaluate_file, run_rule_tests
from imanalytics.rules.templates import go_value
from imanalytics.samples import Series, format_series

MINUTES = 40
RULES = """
groups:
  - name: recorded
    rules:
      - record: job:req:rate2m
        expr: sum by (job) (rate(req_total[2m]))
  - name: alerts
    rules:
      - alert: HighRate
        expr: job:req:rate2m > 1
        for: 3m
        keep_firing_for: 2m
        labels:
          severity: page
          team: "{{ $labels.job }}-oncall"
        annotations:
          summary: "{{ $labels.job }} is busy"
      - alert: TargetGone
        expr: absent_over_time(up{job="api"}[3m])
        labels:
          severity: ticket
        annotations:
          summary: "absent for {{ $value }} evaluation"
      - alert: Flapping
        expr: job:req:rate2m > 1.2
        for: 2m
"""
# Per-minute increments: the 2m rate crosses 1 and 1.2 back and forth (rates are exact
# binary fractions, so both sides agree bit for bit).
STEPS = [0, 60, 60, 90, 90, 90, 90, 30, 30, 90, 90, 90, 90, 90, 90, 0, 0, 0, 60, 90,
         90, 30, 90, 90, 90, 90, 0, 90, 90, 90, 60, 60, 60, 90, 90, 90, 90, 30, 30, 30, 30]


def inputs() -> list[Series]:
    t = np.arange(MINUTES + 1, dtype=np.int64) * 60_000
    api = Series({"__name__": "req_total", "job": "api", "instance": "a"}, t,
                 np.cumsum(STEPS).astype(float))
    web = Series({"__name__": "req_total", "job": "web", "instance": "b"}, t,
                 np.cumsum(STEPS[::-1]).astype(float))
    up_t = t[(t < 10 * 60_000) | (t > 25 * 60_000)]
    up = Series({"__name__": "up", "job": "api", "instance": "a"}, up_t, np.ones(len(up_t)))
    return [api, web, up]


def promtool_case(result, data) -> dict:
    """A promtool test expecting, at every minute, the alerts firing and the series written
    (read back by instant queries) as the local backtest has them."""
    checks, exprs = [], []
    episodes = result.alerts
    for minute in range(MINUTES + 1):
        now = np.datetime64(minute * 60, "s")
        for name in ("HighRate", "TargetGone", "Flapping"):
            rows = episodes[(episodes.alertname == name) & (episodes.fired_at.notna())]
            firing = [r for r in rows.itertuples()
                      if r.fired_at.to_datetime64() <= now and (
                          pd.isna(r.resolved_at) or r.resolved_at.to_datetime64() > now)]
            checks.append({"eval_time": f"{minute}m", "alertname": name, "exp_alerts": [
                {"exp_labels": _labels(r.labels, name), "exp_annotations": r.annotations}
                for r in firing]})
        for expr in ("job:req:rate2m", "ALERTS", "ALERTS_FOR_STATE"):
            frame = evaluate_instant(expr, data + result.series, minute * 60)
            samples = [{"labels": c, "value": float(frame[c].iloc[0])}
                       for c in frame.columns if not np.isnan(frame[c].iloc[0])]
            exprs.append({"expr": expr, "eval_time": f"{minute}m", "exp_samples": samples})
    series = [{"series": format_series(s.labels),
               "values": " ".join(_slots(s))} for s in data]
    return {"interval": "1m", "input_series": series, "alert_rule_test": checks,
            "promql_expr_test": exprs}


def _slots(s: Series) -> list[str]:
    values = dict(zip((s.t // 60_000).tolist(), s.v.tolist(), strict=True))
    return [repr(values[m]) if m in values else "_" for m in range(MINUTES + 1)]


def _labels(text: str, name: str) -> dict:
    labels = parse_series(text)
    assert labels.pop("alertname") == name
    return labels


def test_rule_file_backtest_equals_promtool(tmp_path):
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    data = inputs()
    result = evaluate_file(rules, data, 0, MINUTES * 60, "1m")
    names = {s.name for s in result.series}
    assert names == {"job:req:rate2m", "ALERTS", "ALERTS_FOR_STATE"}
    fired = result.alerts[result.alerts.fired_at.notna()]
    assert set(fired.alertname) == {"HighRate", "TargetGone", "Flapping"}
    assert (result.alerts.alertname == "Flapping").sum() >= 2  # it fires more than once
    test = tmp_path / "rules.test.yml"
    # Without group_eval_order promtool runs the groups in map order; the backtest runs them
    # in file order, as the alerts' reading of the recorded series needs.
    test.write_text(yaml.safe_dump({"rule_files": [rules.name], "evaluation_interval": "1m",
                                    "group_eval_order": ["recorded", "alerts"],
                                    "tests": [promtool_case(result, data)]},
                                   sort_keys=False, width=1_000_000))
    run_rule_tests(test)


def test_keep_firing_for_holds_a_resolved_alert(tmp_path):
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    result = evaluate_file(rules, inputs(), 0, MINUTES * 60, "1m")
    high = result.alerts[(result.alerts.alertname == "HighRate")
                         & result.alerts.labels.str.contains('job="api"')]
    first = high.iloc[0]
    assert first.fired_at - first.active_at == pd.Timedelta("3m")
    # The condition ends at 7m; the alert keeps firing for 2m more.
    condition = evaluate_instant("job:req:rate2m{job='api'} > 1",
                                 inputs() + result.series, 7 * 60)
    assert condition.empty
    assert first.resolved_at == pd.Timestamp("1970-01-01 00:09", tz="UTC")


def test_go_value_formats_like_text_template():
    assert [go_value(v) for v in (1.0, 0.5, 123456.0, 1e6, 1.5e-5, float("nan"))] == [
        "1", "0.5", "123456", "1e+06", "1.5e-05", "NaN"]


BAD = [
    ("      - record: x\n        expr: sum(\n",
     r"group 'g', rule 1 'x': `expr` does not parse: syntax error"),
    ("      - alert: A\n        expr: up\n        annotations:\n"
     "          s: '{{ query \"sum(\" }}'\n", r"group 'g': rule 'A': .*sum\("),
]


@pytest.mark.parametrize(("rules", "message"), BAD)
def test_bad_rules_name_the_file_group_and_rule(tmp_path, rules, message):
    bad = tmp_path / "bad.yml"
    bad.write_text(f"groups:\n  - name: g\n    rules:\n{rules}")
    with pytest.raises(RuleFileEvaluationError, match=rf"bad.yml: {message}"):
        evaluate_file(bad, inputs(), 0, 600, "1m")


def test_bad_files_and_groups_are_named(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("groups:\n  - name: g\n    interval: soon\n    rules:\n"
                   "      - record: x\n        expr: up\n")
    with pytest.raises(RuleFileEvaluationError, match=r"bad.yml: group 'g': .*soon"):
        evaluate_file(bad, inputs(), 0, 600, "1m")
    bad.write_text("nothing: here\n")
    with pytest.raises(RuleFileEvaluationError, match="not a Prometheus rule file"):
        evaluate_file(bad, inputs(), 0, 600, "1m")
