"""Version-dependent behaviour and refusals, checked on cases from Prometheus' own test data
(promql/promqltest/testdata/*.test in the Prometheus repository; the file is cited per case)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from imanalytics.promql import (
    CHANGES,
    PromQLSyntaxError,
    Semantics,
    UnsupportedError,
    evaluate_instant,
)
from imanalytics.samples import Series

_EXPAND = re.compile(r"^(-?[\d.e+]+|NaN)([+-][\d.e]+)x(\d+)$")


def load(interval_s: int, text: str) -> list[Series]:
    """The `load <interval>` block of a promqltest file: 'name{l="v"} 0+10x10 _ NaN'."""
    series = []
    for line in text.strip().splitlines():
        spec, values = line.strip().split(None, 1) if "}" not in line else \
            (line[:line.index("}") + 1].strip(), line[line.index("}") + 1:])
        name, _, inner = spec.partition("{")
        labels = {"__name__": name} if name else {}
        labels.update(re.findall(r'(\w+)="([^"]*)"', inner))
        points = []
        for token in values.split():
            match = _EXPAND.match(token)
            if match:
                start, delta, times = float(match[1]), float(match[2]), int(match[3])
                points += [start + delta * i for i in range(times + 1)]
            else:
                points.append(None if token == "_" else float(token))
        t = np.array([i * interval_s * 1000 for i, v in enumerate(points) if v is not None],
                     dtype=np.int64)
        v = np.array([p for p in points if p is not None], dtype=np.float64)
        series.append(Series(labels, t, v))
    return series


def instant(expr: str, data, at_s: float, version: str) -> dict[str, float]:
    frame = evaluate_instant(expr, data, at_s, semantics=version)
    return {column: frame[column].iloc[0] for column in frame.columns
            if not np.isnan(frame[column].iloc[0])}


# -- functions.test: resets() with left-open range windows --------------------------------

RESETS = load(300, """
http_requests{path="/foo"} 1 2 3 0 1 0 0 1 2 0
http_requests{path="/bar"} 1 2 3 4 5 1 2 3 4 5
http_requests{path="/biz"} 0 0 0 0 0 1 1 1 1 1
""")


def test_resets_window_excludes_its_left_edge_in_3_0():
    # functions.test: "eval instant at 50m resets(http_requests[5m])" expects no result in 3.x:
    # (45m, 50m] holds no sample. Prometheus 2.x's [45m, 50m] holds the 45m sample.
    assert instant("resets(http_requests[5m])", RESETS, 3000, "3.0.0") == {}
    assert instant("resets(http_requests[5m])", RESETS, 3000, "2.42.0") == {
        '{path="/bar"}': 0, '{path="/biz"}': 0, '{path="/foo"}': 0}


@pytest.mark.parametrize("window, foo, bar", [("20m", 1, 0), ("30m", 1, 0), ("32m", 2, 1),
                                              ("50m", 3, 1)])
def test_resets_in_3_0(window, foo, bar):
    # functions.test, eval instant at 50m resets(http_requests[...]).
    got = instant(f"resets(http_requests[{window}])", RESETS, 3000, "3.0.0")
    assert got == {'{path="/foo"}': foo, '{path="/bar"}': bar, '{path="/biz"}': 0}


@pytest.mark.parametrize("window, foo, bar, biz", [("20m", 2, 2, 0), ("30m", 3, 4, 0),
                                                   ("50m", 7, 8, 1)])
def test_changes_in_3_0(window, foo, bar, biz):
    # functions.test, eval instant at 50m changes(http_requests[...]).
    got = instant(f"changes(http_requests[{window}])", RESETS, 3000, "3.0.0")
    assert got == {'{path="/foo"}': foo, '{path="/bar"}': bar, '{path="/biz"}': biz}


def test_changes_treats_nan_to_nan_as_no_change():
    # functions.test: x{a="b"} NaN NaN NaN; x{a="c"} 0 NaN 0; changes(x[20m]) at 15m.
    data = load(300, 'x{a="b"} NaN NaN NaN\nx{a="c"} 0 NaN 0')
    assert instant("changes(x[20m])", data, 900, "3.0.0") == {'x{a="b"}'.replace(
        "x", "", 1): 0, '{a="c"}': 2}


# -- functions.test: increase() and the zero-point limit of extrapolation ------------------

INCREASE = load(300, """
http_requests_total{path="/foo"} 0+10x10
http_requests_total{path="/bar"} 0+18x5 0+18x5
http_requests_total{path="/dings"} 10+10x10
http_requests_total{path="/bumms"} 1+10x10
""")


def test_increase_over_the_whole_range_in_3_0():
    # functions.test: eval instant at 50m increase(http_requests_total[50m]).
    got = instant("increase(http_requests_total[50m])", INCREASE, 3000, "3.0.0")
    assert got == pytest.approx({'{path="/foo"}': 100, '{path="/bar"}': 160,
                                 '{path="/dings"}': 100, '{path="/bumms"}': 100})


def test_zero_point_limit_applies_after_half_interval_choice_from_2_51():
    # functions.test: eval instant at 50m increase(http_requests_total[100m]) gives /dings 105
    # (half-interval extrapolation, 2m30s, stays above zero) and /bumms 101 (the zero point
    # is 30s away). Before prometheus#13725 the zero point (5m back for /dings) was taken
    # first, then found within 1.1 sample intervals, so /dings extrapolated to 110.
    expected = {'{path="/foo"}': 100, '{path="/bar"}': 162, '{path="/dings"}': 105,
                '{path="/bumms"}': 101}
    for version in ("2.51.0", "3.0.0"):
        got = instant("increase(http_requests_total[100m])", INCREASE, 3000, version)
        assert got == pytest.approx(expected)
    before = instant("increase(http_requests_total[100m])", INCREASE, 3000, "2.50.0")
    assert before['{path="/dings"}'] == pytest.approx(110)
    assert before['{path="/bumms"}'] == pytest.approx(101)


def test_counter_reset_counts_from_zero():
    # functions.test: 0 1 2 3 2 3 4, eval instant at 30m increase(http_requests_total[30m]).
    data = load(300, 'http_requests_total{path="/foo"} 0 1 2 3 2 3 4')
    assert instant("increase(http_requests_total[30m])", data, 1800, "3.0.0") == \
        pytest.approx({'{path="/foo"}': 7})


def test_rate_with_resets_and_at_the_end_of_the_range():
    # functions.test: testcounter_reset_middle_total 0+27x4 0+27x5 -> 0.08;
    # testcounter_reset_end_total 0+10x9 0 10: [5m] empty, [6m] 0 in 3.x.
    data = load(300, "testcounter_reset_middle_total 0+27x4 0+27x5\n"
                     "testcounter_reset_end_total 0+10x9 0 10")
    assert instant("rate(testcounter_reset_middle_total[50m])", data, 3000, "3.0.0") == \
        pytest.approx({"{}": 0.08})
    assert instant("rate(testcounter_reset_end_total[5m])", data, 3000, "3.0.0") == {}
    assert instant("rate(testcounter_reset_end_total[6m])", data, 3000, "3.0.0") == {"{}": 0}


def test_rate_with_offset():
    # functions.test: calculate_rate_offset_total, rate(...[10m] offset 5m) at 50m.
    data = load(300, 'calculate_rate_offset_total{x="a"} 0+10x10\n'
                     'calculate_rate_offset_total{x="b"} 0+20x10\n'
                     "calculate_rate_window_total 0+80x10")
    assert instant("rate(calculate_rate_window_total[50m])", data, 3000, "3.0.0") == \
        pytest.approx({"{}": 0.26666666666666666})
    got = instant("rate(calculate_rate_offset_total[10m] offset 5m)", data, 3000, "3.0.0")
    assert got == pytest.approx({'{x="a"}': 0.03333333333333333, '{x="b"}': 0.06666666666666667})


@pytest.mark.parametrize("at_s, expected", [
    (600, {"0m": 0.5, "1m": 0.55, "2m": 0.6, "3m": 0.6, "4m": 0.6, "5m": 0.6}),
    (3000, {"0m": 0.6, "1m": 0.6, "2m": 0.6, "3m": 0.6, "4m": 0.6, "5m": 0.6}),
])
def test_zero_cutoff_for_left_side_extrapolation(at_s, expected):
    # functions.test: load 4m, testcounter_zero_cutoff_total{start="Nm"} N*60+240x10,
    # eval instant at 10m / 50m rate(testcounter_zero_cutoff_total[20m]).
    data = load(240, "\n".join(
        f'testcounter_zero_cutoff_total{{start="{m}m"}} {m * 60}+240x10' for m in range(6)))
    got = instant("rate(testcounter_zero_cutoff_total[20m])", data, at_s, "3.0.0")
    assert got == pytest.approx({f'{{start="{k}"}}': v for k, v in expected.items()})


def test_irate_and_idelta_in_3_0():
    # functions.test: irate(http_requests_total[50m]) at 50m and 30m (counter reset -> 0);
    # idelta(http_requests[20m]) at 20m.
    data = load(300, 'http_requests_total{path="/foo"} 0+10x10\n'
                     'http_requests_total{path="/bar"} 0+10x5 0+10x5')
    assert instant("irate(http_requests_total[50m])", data, 3000, "3.0.0") == pytest.approx(
        {'{path="/bar"}': 1 / 30, '{path="/foo"}': 1 / 30})
    assert instant("irate(http_requests_total[50m])", data, 1800, "3.0.0") == pytest.approx(
        {'{path="/bar"}': 0, '{path="/foo"}': 1 / 30})
    gauges = load(300, 'http_requests{path="/foo"} 0 50 100 150\n'
                       'http_requests{path="/bar"} 0 50 100 50')
    assert instant("idelta(http_requests[20m])", gauges, 1200, "3.0.0") == {
        '{path="/bar"}': -50, '{path="/foo"}': 50}


def test_delta_in_3_0():
    # functions.test: delta(http_requests[20m]) at 20m.
    data = load(300, 'http_requests{path="/foo"} 0 50 100 150 200\n'
                     'http_requests{path="/bar"} 200 150 100 50 0')
    assert instant("delta(http_requests[20m])", data, 1200, "3.0.0") == pytest.approx(
        {'{path="/bar"}': -200, '{path="/foo"}': 200})


# -- lookback delta boundary -----------------------------------------------------------

def test_lookback_window_is_left_open_from_3_0():
    # selectors: a sample exactly lookback-delta old is still selected by 2.x
    # (vectorSelectorSingle drops t < ref-5m) but not by 3.x (drops t <= ref-5m).
    data = [Series({"__name__": "x"}, np.array([0], dtype=np.int64), np.array([1.0]))]
    assert instant("x", data, 300, "2.42.0") == {"x": 1}
    assert instant("x", data, 300, "3.0.0") == {}
    assert instant("x", data, 299.999, "3.0.0") == {"x": 1}


# -- histogram_quantile tolerance -------------------------------------------------------

def test_small_bucket_deltas_are_ignored_from_2_49():
    # A bucket count 1e-13 relatively above its predecessor is a float error, not a bucket of
    # its own (prometheus#13153): from 2.49 it is flattened onto the previous count, so a rank
    # just above 10 falls into the (2, 3] bucket instead of the 1e-12 wide step in (1, 2].
    bounds = ("1", "2", "3", "+Inf")
    counts = (10.0, 10.0 * (1 + 1e-13), 20.0, 20.0)
    data = [Series({"__name__": "h_bucket", "le": le}, np.array([0], dtype=np.int64),
                   np.array([c])) for le, c in zip(bounds, counts, strict=True)]
    expr = "histogram_quantile(0.500000000000025, h_bucket)"
    assert instant(expr, data, 10, "2.42.0")["{}"] == pytest.approx(1.5, abs=0.05)
    assert instant(expr, data, 10, "2.49.0")["{}"] == pytest.approx(2.0, abs=1e-9)


# -- the flags themselves ---------------------------------------------------------------

def test_flags_follow_the_version():
    assert not any(Semantics.for_version("2.42.0").changes().values())
    assert all(Semantics.for_version("3.0.0").changes().values())
    mid = Semantics.for_version("2.51.0")
    assert mid.rate_zero_point_after_threshold and mid.bucket_small_delta_tolerance
    assert not mid.range_left_open and not mid.kahan_sum_aggregation
    assert set(CHANGES) == set(mid.changes())


def test_unknown_versions_are_refused():
    with pytest.raises(Exception, match="not a"):
        Semantics.for_version("banana")


# -- refusals and syntax errors ---------------------------------------------------------

@pytest.mark.parametrize("expr, construct", [
    ("info(x)", "function 'info' in 'info(x)'"),
    ('x{a=~"\\\\p{L}+"}', "regex feature"),
    ('x{a=~"(?=a)b"}', "regex feature"),
])
def test_refused_constructs_are_named(expr, construct):
    with pytest.raises(UnsupportedError) as err:
        evaluate_instant(expr, [], 0)
    assert construct in str(err.value)
    assert str(err.value).startswith("unsupported in local evaluation: ")


@pytest.mark.parametrize("expr, message, position", [
    ("sum(x", "unclosed left parenthesis", 6),
    ("rate(x)", "expected type range vector in call to function \"rate\"", 6),
    ("1 > 2", "comparisons between scalars must use BOOL modifier", 3),
    ("x + on(a) 1", "vector matching only allowed between instant vectors", 3),
    ("{}", "at least one non-empty matcher", 1),
    ("x[5m]", "invalid expression type \"range vector\"", 1),
    ("frobnicate(x)", "unknown function with name \"frobnicate\"", 1),
    ("x offset 5", "expected duration", 10),
    # modifiers: the position and what was expected there
    ("x[5m:0s]", "step must be greater than 0", 6),
    ("x @ foo", "unexpected ident 'foo' in @, expected timestamp", 5),
    ("x @ 1 @ 2", "@ may not be set multiple times", 7),
    ("x @ 100 [5m]", "no @ modifiers allowed before range", 9),
    ("sum(x) offset 5m", "offset modifier must be preceded by", 15),
    ("x[100]", "unexpected number '100' in range selector, expected duration", 3),
    ("x offset 50", "unexpected number '50' in offset, expected duration", 10),
])
def test_syntax_errors_name_expression_and_position(expr, message, position):
    with pytest.raises(PromQLSyntaxError) as err:
        evaluate_instant(expr, [], 0)
    assert message in str(err.value)
    assert repr(expr) in str(err.value)
    assert f"position {position} " in str(err.value)


def test_a_subquery_of_a_range_functions_result_is_valid():
    assert evaluate_instant("max_over_time(rate(x[5m])[10m:1m])", [], 0).empty


def test_precedence_and_associativity():
    from imanalytics.promql import parse

    assert evaluate_instant("2 ^ 3 ^ 2", [], 0).iloc[0, 0] == 512.0  # right-associative
    assert evaluate_instant("-2 ^ 2", [], 0).iloc[0, 0] == -4.0  # unary minus binds looser
    assert evaluate_instant("10 - 4 - 3", [], 0).iloc[0, 0] == 3.0
    assert evaluate_instant("1 + 2 * 3 % 4", [], 0).iloc[0, 0] == 3.0
    assert evaluate_instant("2 * 3 > bool 5", [], 0).iloc[0, 0] == 1.0
    assert parse("a or b and c").op == "or"
    assert parse("a unless b or c").op == "or"


def test_numbers_as_durations_from_3_0():
    data = load(10, 'x{a="1"} 1 2 3 4 5 6 7 8 9 10')
    assert instant("sum_over_time(x[30])", data, 90, "3.0.0") == \
        instant("sum_over_time(x[30s])", data, 90, "3.0.0")
    assert instant("x offset 20", data, 90, "3.0.0") == {'x{a="1"}': 8.0}
    with pytest.raises(PromQLSyntaxError, match="expected duration"):
        instant("sum_over_time(x[30])", data, 90, "2.53.0")


def test_point_limit_refuses_before_evaluating():
    from imanalytics.promql import QueryTooLargeError, evaluate

    data = load(60, "\n".join(f'x{{a="{i}"}} 0+1x100' for i in range(10)))
    with pytest.raises(QueryTooLargeError, match=r"would build 1,010 points, more than the "
                       r"limit of 1,000") as err:
        evaluate("sum(x)", data, 0, 6000, 60, max_points=1000)
    assert "'sum(x)'" in str(err.value)
    # A subquery counts the points of its own grid: from 10m before the first step, 111 steps.
    with pytest.raises(QueryTooLargeError, match="1,110 points"):
        evaluate("max_over_time(x[10m:1m])", data, 0, 6000, 60, max_points=1100)
    assert evaluate("sum(x)", data, 0, 6000, 60, max_points=1010).shape == (101, 1)
