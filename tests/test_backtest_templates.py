"""Templates that run queries (``query`` with ``first``, ``label``, ``value``,
``strvalue``, ``sortByLabel``) expand as Prometheus expands them: at the alert's evaluation
time, over the raw data and what the rules wrote so far. The annotations at every minute
(the backtest stopped at that minute) are held to ``promtool test rules``."""

from __future__ import annotations

import pytest
import yaml
from backtest_promtool import check_with_promtool, counters, rule_file

from imanalytics.rules import evaluate_file
from imanalytics.rules.templates import Sample, expand

MINUTES = 24
BUSY = {
    "summary": '{{ $labels.job }} at {{ $value }} of '
               '{{ with query "sum(job:req:rate2m)" }}{{ . | first | value }}{{ end }}',
    # Prometheus returns the series of an instant query in no fixed order (a head block's
    # creation order): `first` of several is held to it after `sortByLabel`.
    "fast": '{{ with query "job:req:rate2m > 1.6" | sortByLabel "job" }}'
            '{{ . | first | label "job" }}{{ else }}none{{ end }}',
    "jobs": '{{ range query "job:req:rate2m" | sortByLabel "job" }}'
            '{{ .Labels.job }}={{ .Value | printf "%.3f" }};{{ end }}',
    "named": '{{ with query `label_replace(job:req:rate2m{job="api"}, "__value__", "$1", '
             '"job", "(.*)")` }}{{ . | first | strvalue }}{{ else }}none{{ end }}',
    "previous": '{{ query "job:req:rate2m:max" | first | value | humanize }}',
    "level": '{{ if gt $value 1.5 }}high{{ else }}low{{ end }}',
    "who": '{{ $job := $labels.job -}}   job={{ $job | toUpper }} {{- " " -}} ok',
}
RULES = yaml.safe_dump({"groups": [
    {"name": "rates", "rules": [
        {"alert": "Busy", "expr": "job:req:rate2m > 1", "for": "1m",
         "labels": {"team": "{{ $labels.job | toUpper }}"}, "annotations": BUSY}]},
    {"name": "recorded", "rules": [
        {"record": "job:req:rate2m", "expr": "sum by (job) (rate(req_total[2m]))"},
        {"record": "job:req:rate2m:max", "expr": "max(job:req:rate2m) or vector(0)"}]},
]}, sort_keys=False, width=1_000_000)
STEPS = [0, 60, 60, 90, 90, 90, 120, 150, 30, 30, 90, 120, 150, 180, 90, 0, 0, 60, 90,
         120, 150, 30, 90, 120, 150]


def inputs():
    return counters(STEPS, (11, 15))


@pytest.fixture(scope="module")
def path(tmp_path_factory):
    return rule_file(tmp_path_factory, RULES)


def test_query_templates_equal_promtool(path, tmp_path):
    result = evaluate_file(path, inputs(), 0, MINUTES * 60, "1m")
    notes = [n for notes in result.alerts.annotations for n in notes.values()]
    assert notes and not any(n.startswith("<not expanded") for n in notes)
    assert any(n == "api" for n in notes)  # strvalue
    check_with_promtool(tmp_path, RULES, inputs(), result, MINUTES, alerts=["Busy"],
                        exprs=["ALERTS", "job:req:rate2m:max"], order=["rates", "recorded"],
                        at_minute=lambda m: evaluate_file(path, inputs(), 0, m * 60, "1m"))


def test_query_functions():
    rows = [Sample({"job": "web", "__value__": "w"}, 2.0), Sample({"job": "api"}, 0.5)]
    text = ('{{ range query "x" | sortByLabel "job" }}{{ .Labels.job }} {{ end }}'
            '{{ query "x" | first | strvalue }} {{ (query "x" | first).Value }} '
            '{{ query "x" | first | label "job" | toUpper }}')
    assert expand(text, {}, 0.0, lambda expr: rows) == "api web w 2 WEB"
    with pytest.raises(ValueError, match="no elements"):
        expand('{{ query "x" | first }}', {}, 0.0, lambda expr: [])
    with pytest.raises(ValueError, match="'query' is not supported"):
        expand('{{ query "x" }}', {}, 0.0)


TEXT = {
    "bytes": '{{ $value | humanize1024 }} {{ "1048576" | humanize1024 }} '
             '{{ 0.5 | humanize1024 }} {{ "-3e9" | humanize1024 }}',
    "when": '{{ 1700000000.1234 | humanizeTimestamp }} {{ 86400 | humanizeTimestamp }}',
    "title": '{{ "im-server api_gateway ümlaut x.y" | title }}',
    "match": '{{ if match "^a" $labels.job }}starts-a{{ else }}other{{ end }}',
    "replace": '{{ reReplaceAll "(.)(p)" "$2-${1}x$1y$$" $labels.job }}',
    "sized": '{{ len $labels }} {{ index $labels "job" }} [{{ index $labels "nope" }}]',
    "logic": '{{ if and (gt $value 1.0) (match "a" $labels.job) }}both{{ end }}'
             '{{ if or (lt $value 0.0) (eq $labels.job "web") }}either{{ end }}'
             '{{ if not (eq $labels.job "api") }}!api{{ end }}',
}
TEXT_RULES = yaml.safe_dump({"groups": [
    {"name": "text", "rules": [
        {"record": "job:req:rate2m", "expr": "sum by (job) (rate(req_total[2m]))"},
        {"alert": "Text", "expr": "job:req:rate2m > 1", "annotations": TEXT}]},
]}, sort_keys=False, width=1_000_000)


def test_string_and_number_functions_equal_promtool(tmp_path_factory, tmp_path):
    path = rule_file(tmp_path_factory, TEXT_RULES)
    result = evaluate_file(path, inputs(), 0, MINUTES * 60, "1m")
    notes = [n for notes in result.alerts.annotations for n in notes.values()]
    assert notes and not any(n.startswith("<not expanded") for n in notes)
    assert "Im-Server Api_gateway Ümlaut X.Y" in notes
    check_with_promtool(tmp_path, TEXT_RULES, inputs(), result, MINUTES, alerts=["Text"],
                        exprs=[], at_minute=lambda m: evaluate_file(path, inputs(), 0, m * 60,
                                                                    "1m"))
