"""Prometheus 2.42's template functions beyond the humanize family and text ones (links,
hosts, times, durations, ``args``, ``safeHtml``, printed maps and samples), and templates
that fail as they fail in Prometheus (``<error expanding template: ...>`` in annotations
and labels), held to ``promtool test rules``; ``pathPrefix`` and ``externalURL`` given a
server's external URL, and ``$externalLabels`` its global labels (promtool has neither),
held to a real Prometheus."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
import yaml
from backtest_promtool import check_with_promtool, counters, rule_file

from imanalytics.rules import evaluate_file
from imanalytics.rules.files import RuleFileError, run_rule_tests
from imanalytics.rules.gotemplate import Unsupported
from imanalytics.rules.templates import TemplateFailure, expand
from imanalytics.samples import format_series
from imanalytics.sandbox import PrometheusSandbox

MINUTES = 12
STEPS = [0, 60, 90, 120, 150, 30, 30, 90, 150, 180, 90, 0, 60]

FUNCTIONS = {
    "links": '{{ graphLink "rate(req_total{job=\\"api\\"}[5m]) / ü~_.-" }} '
             '{{ $labels.job | tableLink }}',
    "html": '{{ safeHtml "<b>x</b> & y" }}',
    "hosts": '{{ stripPort "host.example.com:9090" }} {{ stripPort "[::1]:80" }} '
             '{{ stripPort "nope" }} {{ stripPort "a:b:c" }} '
             '{{ stripDomain "host.example.com:9090" }} {{ stripDomain "10.0.0.1:80" }} '
             '{{ stripDomain "[fe80::1]:80" }} {{ stripDomain "a.b" }} '
             '{{ stripDomain "[db.local]:5432" }}',
    "times": '{{ toTime 1700000000.5 }} | {{ $value | toTime }} | {{ "86400" | toTime }}',
    "durations": '{{ parseDuration "1h30m" }} {{ parseDuration "1y2w3d4h5m6s7ms" }} '
                 '{{ parseDuration "0" }} {{ parseDuration "90s" | humanizeDuration }}',
    "args": '{{ args 1 "x" 2.5 $labels.job }} {{ (args "a" "b").arg1 }} {{ len (args) }}',
    "printed": '{{ $labels }} {{ $externalLabels }} [{{ $externalURL }}] '
               '{{ query "job:req:rate2m" | sortByLabel "job" | first }}',
    "compared": '{{ eq 1 2 1 }} {{ eq "x" "y" "z" }} {{ ne 1 1 }} {{ lt "a" "b" }} '
                '{{ le 2 2 }} {{ eq true true }} {{ gt $value 1.5 }} {{ eq $labels.nope "" }}',
    "print": '{{ print 1 2 "a" 3 $value true }}|{{ print }}|{{ print $labels.job 1.5e9 }}|'
             '{{ println "x" 1 2 }}|{{ print (args 1).arg3 }}|{{ print $labels }}|'
             '{{ query "job:req:rate2m" | sortByLabel "job" | first | print }}',
    "escapers": '{{ html "<a href=\\"x\\">\'&\'</a>" }} {{ html 1 "<" }} '
                '{{ js "a\\\\b\'c\\"<>&=\\t\\u007f é\\u00a0\\u2028" }} '
                '{{ $labels.job | js }} {{ urlquery "a b/c?é~_.-+&" }} '
                '{{ urlquery "x" 2 }} {{ html (args 1).arg4 }} '
                '{{ query "job:req:rate2m" | sortByLabel "job" | first | html }}',
    "literals": '{{ "\\x41\\101\\u00e9\\U0001F600\\a\\v\\\\" | js }} {{ "tab\\there" }}',
    "slices": '{{ slice "abcdef" 1 3 }} {{ slice "abcdef" 2 }} {{ slice "abc" }} '
              '{{ slice "abc" 3 }} {{ len (slice (query "job:req:rate2m") 1) }} '
              '{{ slice (query "job:req:rate2m") 0 1 1 | len }}',
    "lengths": '{{ len "ü" }} {{ len $labels }} {{ index "abc" 1 }} '
               '{{ index (args 1) "arg5" }} {{ (args 1).arg7 }} {{ index $labels "nope" }} '
               '[{{ $labels.nope }}] [{{ $labels.nope | toUpper }}]',
}
FAILURES = {
    "first": '{{ query "job:req:rate2m > 1e9" | first | value }}',
    "humanize": 'at {{ $labels.job | humanize }}',
    "sample": '{{ query "job:req:rate2m" | first | humanize }}',
    "duration": 'line one\n  line {{ printf "%s" "two" }} {{ parseDuration `1x` }}',
    "empty": '{{ parseDuration "" }}',
    "piped": '{{ $value | toUpper }}',
    "literal": '{{ toLower 3 }}',
    "variable": '{{ title $value }}',
    "prefix": '{{ pathPrefix }}',
    "url": '{{ externalURL }}',
    "nan": '{{ "NaN" | toTime }}',
    "index": '{{ index (query "job:req:rate2m") 5 }}',
    "end": '{{ index (query "job:req:rate2m") 2 }}',
    "compare": '{{ gt $value 1 }}',
    "mixed": '{{ eq "a" 1 }}',
    "bools": '{{ lt true false }}',
    "maps": '{{ eq $labels $labels }}',
    "length": '{{ len 3 }}',
    "sample_arg": '{{ label "x" 3 }}',
    "quoted": '{{ label "x" "y" }}',
    "key": '{{ index $labels 1 }}',
    "arity": '{{ humanize 1 2 }}',
    "nil": '{{ humanize $labels.nope }}',
    "format": '{{ printf 3 }}',
    "slice_end": '{{ slice "abc" 4 }}',
    "slice_order": '{{ slice "abc" 2 1 }}',
    "slice_three": '{{ slice "abc" 0 1 2 }}',
    "slice_many": '{{ slice (query "job:req:rate2m") 0 1 1 1 }}',
    "slice_type": '{{ slice "abc" $value }}',
    "slice_map": '{{ slice $labels 1 }}',
    "slice_nil": '{{ slice (args).arg0 }}',
    "call_int": '{{ call 1 }}',
    "call_map": '{{ call .Labels }}',
    "call_none": '{{ call }}',
    "call_string": '{{ call "x" 2 }}',
    "call_piped": '{{ $value | call }}',
    "call_nil": '{{ call (args).arg3 }}',
    "call_result": '{{ call (query "job:req:rate2m") }}',
}
RULES = yaml.safe_dump({"groups": [
    {"name": "g", "rules": [
        {"record": "job:req:rate2m", "expr": "sum by (job) (rate(req_total[2m]))"},
        {"alert": "Functions", "expr": "job:req:rate2m > 1", "annotations": FUNCTIONS},
        {"alert": "Failures", "expr": "job:req:rate2m > 1",
         "labels": {"bad": "{{ $labels.job | humanize }}", "good": "{{ $labels.job }}"},
         "annotations": FAILURES}]},
]}, sort_keys=False, width=1_000_000)


@pytest.fixture(scope="module")
def path(tmp_path_factory):
    return rule_file(tmp_path_factory, RULES)


def test_functions_and_failures_equal_promtool(path, tmp_path):
    data = counters(STEPS, (5, 8))
    result = evaluate_file(path, data, 0, MINUTES * 60, "1m")
    episodes = result.alerts
    assert set(episodes.alertname) == {"Functions", "Failures"}
    failed = episodes[episodes.alertname == "Failures"]
    assert all(v.startswith("<error expanding template: error executing template "
                            "__alert_Failures: template: __alert_Failures:")
               for notes in failed.annotations for v in notes.values())
    assert all('bad="<error expanding template' in labels for labels in failed.labels)
    check_with_promtool(tmp_path, RULES, data, result, MINUTES,
                        alerts=["Functions", "Failures"], exprs=[],
                        at_minute=lambda m: evaluate_file(path, data, 0, m * 60, "1m"))


def test_failure_text_where_go_words_the_reason_differently(tmp_path):
    """A bad regular expression fails in both; the reason after Go's "error parsing
    regexp: " is Python's wording, the rest is Prometheus' byte for byte."""
    template = '{{ reReplaceAll "(" "x" $labels.job }}'
    with pytest.raises(TemplateFailure) as failure:
        expand(template, {"job": "api"}, 1.0, name="Regex")
    ours = json.dumps(str(failure.value))[1:-1]  # as promtool quotes it
    wrapper = ours[:ours.index("error parsing regexp: ") + len("error parsing regexp: ")]
    rules = yaml.safe_dump({"groups": [{"name": "g", "rules": [
        {"alert": "Regex", "expr": 'vector(1) + on() group_left label_replace(vector(0), '
                                   '"job", "api", "", "")', "annotations": {"a": template}}]}]})
    (tmp_path / "rules.yml").write_text(rules)
    (tmp_path / "test.yml").write_text(yaml.safe_dump({
        "rule_files": ["rules.yml"], "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": [], "alert_rule_test": [
            {"eval_time": "0m", "alertname": "Regex", "exp_alerts": []}]}]}))
    with pytest.raises(RuleFileError) as promtool:
        run_rule_tests(tmp_path / "test.yml")
    assert f'a="<error expanding template: {wrapper}' in str(promtool.value)


def test_unsupported_constructs_are_named_not_failures():
    for template in ('{{ template "other" . }}', '{{ urlUnescape "a" }}',
                     '{{ (toTime 0).Unix }}', '{{ query "x" }}'):
        with pytest.raises(Unsupported) as err:
            expand(template, {}, 1.0)
        assert not isinstance(err.value, TemplateFailure)
        assert repr(template) in str(err.value)


URL = "http://im.example.com:9090/prom/x"
LINKED = yaml.safe_dump({"groups": [{"name": "links", "rules": [
    {"alert": "Linked", "expr": "vector(1)", "labels": {"under": "{{ pathPrefix }}"},
     "annotations": {"prefix": "{{ pathPrefix }}", "url": "{{ externalURL }}",
                     "variable": "{{ $externalURL }} {{ .ExternalURL }}",
                     "graph": '{{ externalURL }}{{ graphLink "sum(up) by (job)" }}',
                     "site": "{{ $externalLabels.dc }} {{ .ExternalLabels.team }} "
                             "{{ len $externalLabels }} {{ $externalLabels }} "
                             "[{{ $externalLabels.missing }}]"}}]}]})
EXTERNAL = {"dc": "eu-1", "team": "im"}


def test_external_url_functions_equal_a_server(tmp_path):
    path = tmp_path / "rules.yml"
    path.write_text(LINKED)
    flags = [f"--web.external-url={URL}", "--web.route-prefix=/"]
    with PrometheusSandbox([], rule_files=[path], evaluation_interval="1s",
                           extra_args=flags, external_labels=EXTERNAL) as prom:
        served = _wait_for_alert(prom.url, "Linked", deadline=time.monotonic() + 60)
    episode = evaluate_file(path, [], 0, 60, "1m", external_url=URL,
                            external_labels=EXTERNAL).alerts.iloc[0]
    assert episode.annotations == served["annotations"]
    assert episode.labels == format_series(served["labels"])  # external labels not added
    assert served["annotations"]["prefix"] == "/prom/x"
    assert served["annotations"]["site"] == "eu-1 im 2 map[dc:eu-1 team:im] []"
    bare = evaluate_file(path, [], 0, 60, "1m", external_url=URL).alerts.iloc[0]
    assert bare.annotations["site"] == "  0 map[] []"  # as under promtool: none


def _wait_for_alert(url: str, name: str, deadline: float) -> dict:
    while True:
        with urllib.request.urlopen(f"{url}/api/v1/alerts", timeout=10) as answer:
            alerts = [a for a in json.load(answer)["data"]["alerts"]
                      if a["labels"]["alertname"] == name]
        if alerts:
            return alerts[0]
        assert time.monotonic() < deadline, f"the server never raised {name}"
        time.sleep(0.5)
