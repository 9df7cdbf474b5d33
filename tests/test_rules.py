"""Recording rules from the catalog: naming, promtool, freshness, and equality with the server."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from promql_oracle import compare, query_range

from imanalytics.catalog import Catalog, default_catalog
from imanalytics.promql import evaluate, parse
from imanalytics.rules import (
    RuleFileError,
    artifacts,
    check_rules,
    dump_rules,
    inline,
    recording_rules,
    rule_groups,
    run_rule_tests,
)

ROOT = Path(__file__).resolve().parent.parent
NAME = re.compile(r"^[a-z_]+:[a-z_0-9]+:[a-z_0-9]+$")


@pytest.fixture(scope="module")
def rules():
    return recording_rules()


def test_names_follow_level_metric_operations(rules):
    assert len(rules) > 100
    for rule in rules:
        assert NAME.match(rule.record), rule.record
        level, metric, ops = rule.record.split(":")
        assert not metric.endswith("_total"), rule.record
        assert level.startswith("job"), rule.record


def test_every_rule_parses_and_keeps_no_high_cardinality_label(rules):
    groupings = re.compile(r"by \(([^)]*)\)")
    for rule in rules:
        parse(inline(rule.expr, rules))
        for labels in groupings.findall(rule.expr):
            assert not set(labels.replace(" ", "").split(",")) & {"user_id", "room_id"}


def test_ratios_divide_separately_aggregated_rates(rules):
    by_name = {r.record: r.expr for r in rules}
    ratio = by_name["job:im_messages_delivered_per_sent:ratio_rate5m"]
    assert ratio == "job:im_messages_delivered:rate5m / job:im_messages_sent:rate5m"
    assert by_name["job:im_messages_sent:rate5m"].startswith("sum by (job) (rate(")


def test_the_catalog_drives_the_rules():
    data = default_catalog().to_dict()
    data["metrics"]["messages_sent"]["name"] = "msg_publish_total"
    data["metrics"]["gc_pause"] = None
    data["metrics"]["push_failures"] = {
        "name": "push_failures_total", "type": "counter", "unit": "messages",
        "help": "Push notifications that failed.", "layer": "message", "labels": ["vendor"]}
    mapped = recording_rules(Catalog.from_dict(data))
    text = "\n".join(f"{r.record} {r.expr}" for r in mapped)
    assert "msg_publish_total" in text and "im_messages_sent_total" not in text
    assert "go_gc_duration_seconds" not in text
    assert "job_vendor:push_failures:rate5m" in text


def test_generation_is_deterministic(tmp_path):
    first = artifacts.recording_artifacts(tmp_path)
    second = artifacts.recording_artifacts(tmp_path)
    assert [a.text for a in first] == [a.text for a in second]


def test_committed_rule_files_are_fresh():
    assert artifacts.stale(artifacts.recording_artifacts(ROOT / "rules")) == []


def test_promtool_accepts_the_rules_and_their_unit_tests():
    check_rules(ROOT / "rules" / artifacts.RECORDING_FILE)
    out = run_rule_tests(ROOT / "rules" / artifacts.RECORDING_TEST_FILE)
    assert "SUCCESS" in out


def test_every_rule_has_a_unit_test_with_samples(rules):
    doc = yaml.safe_load((ROOT / "rules" / artifacts.RECORDING_TEST_FILE).read_text())
    cases = doc["tests"][0]["promql_expr_test"]
    tested = {c["expr"] for c in cases if c["exp_samples"]}
    assert tested == {r.record for r in rules}


def test_promtool_unit_tests_can_fail(tmp_path):
    doc = yaml.safe_load((ROOT / "rules" / artifacts.RECORDING_TEST_FILE).read_text())
    doc["rule_files"] = [str(ROOT / "rules" / artifacts.RECORDING_FILE)]
    case = doc["tests"][0]["promql_expr_test"][0]
    case["exp_samples"][0]["value"] *= 1.000001
    broken = tmp_path / "broken.test.yml"
    broken.write_text(yaml.safe_dump(doc))
    with pytest.raises(RuleFileError, match=case["expr"]):
        run_rule_tests(broken)


def test_promtool_rejects_a_broken_rule(tmp_path):
    bad = tmp_path / "bad.rules.yml"
    bad.write_text(dump_rules([{"name": "x", "rules": [{"record": "a:b:c", "expr": "sum(("}]}]))
    with pytest.raises(RuleFileError, match="bad.rules.yml"):
        check_rules(bad)


@pytest.mark.prometheus
def test_local_evaluation_equals_the_server_for_every_rule(prom, workload, rules):
    end = workload.end.floor("10min")
    start = end - pd.Timedelta("1D")
    ms = [int(t.timestamp() * 1000) for t in (start, end)]
    failures = {}
    for rule in rules:
        expr = inline(rule.expr, rules)
        served = query_range(prom.url, expr, ms[0], ms[1], 600_000)
        assert served, f"{rule.record} returned nothing from the server"
        problems = compare(evaluate(expr, workload.series, start, end, "10m"), served)
        if problems:
            failures[rule.record] = problems[:3]
    assert not failures


def test_rule_groups_are_named_by_layer():
    names = [g["name"] for g in rule_groups()]
    assert names[:2] == ["im-connection", "im-message"] and "im-slis" in names


def test_a_mapped_catalog_gets_working_unit_tests(tmp_path):
    data = default_catalog().to_dict()
    data["metrics"]["messages_sent"]["name"] = "msg_publish_total"
    data["labels"] = {"tenant": "app_id"}
    data["selectors"] = ['job="chat"']
    cat = Catalog.from_dict(data)
    files = artifacts.recording_artifacts(tmp_path, cat)
    artifacts.write(files)
    assert "msg_publish_total" in files[0].text and "app_id" in files[0].text
    doc = yaml.safe_load(files[1].text)
    assert all(c["exp_samples"] for c in doc["tests"][0]["promql_expr_test"])
    assert "SUCCESS" in run_rule_tests(files[1].path)


def test_evaluate_many_equals_one_evaluate_per_rule(workload, rules):
    from imanalytics.promql import evaluate_many

    end = workload.end.floor("10min")
    start = end - pd.Timedelta("6h")
    exprs = [inline(r.expr, rules) for r in rules]
    exprs += exprs[:5]  # a repeated expression is computed once and still returned twice
    batch = evaluate_many(exprs, workload.series, start, end, "10m")
    for expr, frame in zip(exprs, batch, strict=True):
        single = evaluate(expr, workload.series, start, end, "10m")
        pd.testing.assert_frame_equal(frame, single)
