"""Rule files are refused exactly where Prometheus refuses them: each case runs through
`promtool check rules` and through the local check, and both must agree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from imanalytics.rules.backtest import RuleFileEvaluationError, evaluate_file
from imanalytics.rules.rulefmt import RuleFormatError, check_rule_file

ROOT = Path(__file__).resolve().parents[1]


def _one(**rule) -> dict:
    return {"groups": [{"name": "g", "rules": [rule]}]}


def _group(**group) -> dict:
    return {"groups": [dict({"name": "g", "rules": []}, **group)]}


ALERT = {"alert": "A", "expr": "up == 0"}

# (file content, what the local message says)
BAD = {
    "both names": (_one(record="a", alert="A", expr="up"), "only one of `record` and `alert`"),
    "no name": (_one(expr="up"), "one of `record` or `alert` must be set"),
    "no expr": (_one(alert="A"), "rule 1 'A': `expr` must be set"),
    "empty expr": (_one(alert="A", expr=""), "`expr` must be set"),
    "bad expr": (_one(alert="A", expr="rate(up[5m]"), "`expr` does not parse"),
    "annotations on a record": (_one(record="a", expr="up", annotations={"x": "y"}),
                                "a recording rule has no `annotations`"),
    "for on a record": (_one(record="a", expr="up", **{"for": "5m"}),
                        "a recording rule has no `for`"),
    "keep_firing_for on a record": (_one(record="a", expr="up", keep_firing_for="1m"),
                                    "a recording rule has no `keep_firing_for`"),
    "record with a dash": (_one(record="job:a-b:rate5m", expr="up"),
                           "'job:a-b:rate5m' is not a valid metric name"),
    "record with a digit first": (_one(record="1a", expr="up"), "not a valid metric name"),
    "label name with a space": (_one(**ALERT, labels={"team name": "im"}),
                                "invalid label name 'team name'"),
    "label name with a digit first": (_one(**ALERT, labels={"1x": "y"}), "invalid label name"),
    "label __name__": (_one(**ALERT, labels={"__name__": "y"}), "invalid label name '__name__'"),
    "annotation name with a space": (_one(**ALERT, annotations={"run book": "x"}),
                                     "invalid annotation name 'run book'"),
    "annotation name with a dash": (_one(**ALERT, annotations={"run-book": "x"}),
                                    "invalid annotation name 'run-book'"),
    "label value a mapping": (_one(**ALERT, labels={"a": {"b": 1}}),
                              "label 'a' must be a string, got a mapping"),
    "for with a space": (_one(**ALERT, **{"for": "5 m"}), "`for`: not a valid duration"),
    "for as a fraction": (_one(**ALERT, **{"for": "1.5m"}), "not a valid duration string"),
    "for as a number": (_one(**ALERT, **{"for": 300}), "not a valid duration string: '300'"),
    "for empty": (_one(**ALERT, **{"for": ""}), "`for`: empty duration string"),
    "for out of range": (_one(**ALERT, **{"for": "1000000000y"}),
                         "`for`: duration out of range: '1000000000y'"),
    "interval out of range": (_group(interval="106752d"), "`interval`: duration out of range"),
    "keep_firing_for bad": (_one(**ALERT, keep_firing_for="soon"), "`keep_firing_for`"),
    "unknown rule field": (_one(**ALERT, severity="page"), "unknown field 'severity'"),
    "unclosed action": (_one(**ALERT, labels={"a": "{{ $labels.job "}), "unclosed action"),
    "stray end": (_one(**ALERT, annotations={"s": "x {{ end }}"}), "unexpected {{end}}"),
    "unclosed if": (_one(**ALERT, annotations={"s": "{{ if $value }}x"}), "unexpected EOF"),
    "undefined variable": (_one(**ALERT, annotations={"s": "{{ $val }}"}),
                           "annotation 's': undefined variable '$val'"),
    "undefined function": (_one(**ALERT, annotations={"s": "{{ $value | humanise }}"}),
                           "function 'humanise' not defined"),
    "empty group name": ({"groups": [{"name": "", "rules": [ALERT]}]},
                         "groups[0]: the group name must not be empty"),
    "no group name": ({"groups": [{"rules": [ALERT]}]}, "the group name must not be empty"),
    "repeated group": ({"groups": [{"name": "g", "rules": []}] * 2},
                       "group 'g': the group name is repeated"),
    "unknown group field": (_group(evaluation_interval="1m"),
                            "unknown field 'evaluation_interval'"),
    "bad interval": (_group(interval="1x"), "`interval`: not a valid duration"),
    "bad limit": (_group(limit="ten"), "`limit` must be an integer"),
    "unknown top-level field": ({"groups": [], "rule_files": ["a.yml"]},
                                "not a Prometheus rule file: unknown top-level field"),
    "a list": ([ALERT], "not a Prometheus rule file"),
    "groups a mapping": ({"groups": {"name": "g"}}, "`groups` must be a list"),
}

# What promtool accepts, including what only its linter mentions.
GOOD = {
    "empty file": None,
    "groups null": {"groups": None},
    "rules null": _group(rules=None),
    "for 0 on a record": _one(record="a", expr="up", **{"for": "0s"}),
    "keep_firing_for": _one(**ALERT, keep_firing_for="5m", **{"for": "1m"}),
    "numbers as labels and names": _one(alert=5, expr=1, labels={"n": 1, "b": True}),
    "alert name with spaces": _one(alert="IM is down", expr="up == 0"),
    "__ labels and annotations": _one(**ALERT, labels={"__tmp": "x"},
                                      annotations={"__name__": "y"}),
    "UTF-8 values": _one(**ALERT, labels={"team": "équipe ☃"}),
    "templates": _one(**ALERT, labels={"v": "{{ $value | humanize }}"}, annotations={
        "s": "{{ $x := 1 }}{{ if gt $value 0.5 }}{{ $x }} {{ $labels.job }}{{ else }}-{{ end }}",
        "q": '{{ with query "up" }}{{ . | first | value }}{{ end }}',
        "u": "{{ $externalURL }} {{ .Labels.job }} {{ printf \"%.1f\" $value }}"}),
    "a record's label that looks like a bad template": _one(record="a", expr="up",
                                                             labels={"t": "{{ $nope"}),
    "Go's string escapes": _one(**ALERT, annotations={"s": '{{ "\\x41\\101\\U0001F600" }}'}),
    "duplicate rules": _group(rules=[ALERT, ALERT]),
    "limit and interval": _group(limit=10, interval="30s"),
    "longest interval": _group(interval="106751d"),
}


def _promtool_accepts(tmp_path: Path, name: str, doc) -> bool:
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True) if doc is not None else "")
    done = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True,
                          text=True, timeout=30)
    return done.returncode == 0


@pytest.mark.parametrize("name", sorted(BAD))
def test_what_promtool_refuses_is_refused_and_named(tmp_path, name):
    doc, message = BAD[name]
    assert not _promtool_accepts(tmp_path, name, doc), f"promtool accepts {name}"
    with pytest.raises(RuleFormatError) as refused:
        check_rule_file(doc, "team.rules.yml")
    assert str(refused.value).startswith("team.rules.yml: ")
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("name", sorted(GOOD))
def test_what_promtool_accepts_is_accepted(tmp_path, name):
    assert _promtool_accepts(tmp_path, name, GOOD[name]), f"promtool refuses {name}"
    groups = check_rule_file(GOOD[name], "team.rules.yml")
    assert groups == ((GOOD[name] or {}).get("groups") or [])


def test_every_shipped_and_mixin_rule_file_passes():
    files = [*ROOT.glob("rules/*.rules.yml"), *ROOT.glob("tests/data/*.rules.yml"),
             *Path(ROOT.parent / "shared" / "mixin-rules").glob("*.rules.yml")]
    assert len(files) >= 3
    for path in files:
        assert check_rule_file(yaml.safe_load(path.read_text()), path)


def test_problems_are_counted_and_the_first_is_named():
    doc = _one(**ALERT, labels={"a b": "x", "c d": "y"}, annotations={"e-f": "z"})
    with pytest.raises(RuleFormatError, match=r"group 'g', rule 1 'A': invalid label name "
                                              r"'a b' \(and 2 more\)$"):
        check_rule_file(doc, "f.yml")


def test_the_backtest_refuses_what_prometheus_would_not_load(tmp_path):
    path = tmp_path / "team.rules.yml"
    path.write_text(yaml.safe_dump(BAD["annotation name with a space"][0]))
    with pytest.raises(RuleFileEvaluationError, match=r"team.rules.yml: group 'g', rule 1 'A': "
                                                      r"invalid annotation name 'run book'"):
        evaluate_file(path, [], 0, 600, "1m")


def test_the_review_refuses_a_bad_current_rule_file_before_any_request(tmp_path):
    path = tmp_path / "team.rules.yml"
    path.write_text(yaml.safe_dump(BAD["for with a space"][0]))
    done = subprocess.run(
        [sys.executable, "-m", "imanalytics", "review-thresholds", "--url", "http://127.0.0.1:9",
         "--out", str(tmp_path / "out"), "--current-rules", str(path)],
        capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "team.rules.yml: group 'g', rule 1 'A': `for`: not a valid duration string: '5 m'" \
        in lines[0]
    assert "127.0.0.1:9" not in done.stderr  # refused before any request
