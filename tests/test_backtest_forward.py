"""Rules that read a rule evaluated after them (later in their group, in a later group, or
themselves) see the value it wrote at the previous evaluation, as in Prometheus: the file
is held to ``promtool test rules`` (groups in file order) minute by minute."""

from __future__ import annotations

import pytest
from backtest_promtool import check_with_promtool, counters

from imanalytics.promql import evaluate_instant
from imanalytics.rules import evaluate_file
from imanalytics.samples import Series

MINUTES = 30
RULES = """
groups:
  - name: early
    rules:
      - record: job:req:rate2m:previous
        expr: job:req:rate2m
      - record: job:req:rate2m
        expr: sum by (job) (rate(req_total[2m]))
      - record: job:req:delta
        expr: job:req:rate2m - job:req:rate2m:previous
      - record: evaluations
        expr: evaluations + 1 or vector(1)
      - alert: Rising
        expr: job:req:delta > 0 and on (job) job:late:busy > 0
        for: 1m
      - record: alerts:firing
        expr: count(ALERTS{alertstate="firing"}) or vector(0)
  - name: late
    rules:
      - record: job:late:busy
        expr: job:req:rate2m > bool 1
      - alert: LateBusy
        expr: job:late:busy > 0
        for: 1m
"""
STEPS = [0, 60, 60, 90, 90, 90, 120, 150, 30, 30, 90, 120, 150, 180, 90, 0, 0, 60, 90, 120,
         150, 30, 90, 120, 150, 180, 0, 90, 120, 150, 180]


def inputs() -> list[Series]:
    return counters(STEPS, (12, 17))


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    path = tmp_path_factory.mktemp("forward") / "rules.yml"
    path.write_text(RULES)
    return evaluate_file(path, inputs(), 0, MINUTES * 60, "1m")


def test_a_forward_reference_reads_the_previous_evaluation(result):
    data = inputs() + result.series
    for minute in (3, 8, 25):
        previous = evaluate_instant("job:req:rate2m:previous", data, minute * 60)
        rate = evaluate_instant("job:req:rate2m", data, (minute - 1) * 60)
        assert previous.values.tolist() == rate.values.tolist()
    evaluations = evaluate_instant("evaluations", data, MINUTES * 60)
    assert evaluations.iloc[0].tolist() == [MINUTES + 1]
    fired = result.alerts[result.alerts.fired_at.notna()]
    assert set(fired.alertname) == {"Rising", "LateBusy"}


def test_forward_references_equal_promtool(result, tmp_path):
    names = ["job:req:rate2m:previous", "job:req:rate2m", "job:req:delta", "evaluations",
             "alerts:firing", "job:late:busy", "ALERTS", "ALERTS_FOR_STATE"]
    check_with_promtool(tmp_path, RULES, inputs(), result, MINUTES,
                        alerts=["Rising", "LateBusy"], exprs=names, order=["early", "late"])
