"""The local evaluator against a real Prometheus: same series, same label sets, same values
(to 1e-9 relative), same errors, for a table of expressions and for random ones."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from promql_data import HOURS, START_MS, pool
from promql_oracle import ServerError, against_server, query_range

from imanalytics.promql import EvaluationError, PromQLSyntaxError, evaluate
from imanalytics.sandbox import PrometheusSandbox

pytestmark = pytest.mark.prometheus

END_MS = START_MS + HOURS * 3600_000
GRIDS = [
    (START_MS + 300_000, END_MS, 60_000),            # the whole pool, minute steps
    (START_MS + 7_000, START_MS + 3600_000, 15_000),  # misaligned with the scrapes
    (START_MS + 1_234_567, START_MS + 1_234_567 + 100 * 37_000, 37_000),
    (START_MS - 600_000, START_MS + 900_000, 90_000),  # before the first sample
]

TABLE = """
im_messages_total
im_messages_total{instance=~"im-[12]", direction!="out"}
{__name__=~"im_conn.*", region!~"e.*"}
im_connections offset -5m
im_logins_total offset 1h
rate(im_messages_total[5m])
rate(im_messages_total[90s])
rate(im_messages_total[1500ms])
rate(im_messages_total[5m] offset 10m)
rate(im_logins_total[1m])
increase(im_messages_total[1m])
increase(im_messages_total[1h])
increase(im_logins_total[10m])
irate(im_messages_total[2m])
irate(im_logins_total[1m])
delta(im_connections[10m])
idelta(im_connections[1m])
resets(im_messages_total[30m])
resets(im_messages_total[2h])
changes(im_connections[10m])
changes(im_messages_total[15m])
avg_over_time(im_connections[5m])
avg_over_time(im_messages_total[1h])
sum_over_time(im_connections[7m])
sum_over_time(im_messages_total[20m])
min_over_time(im_connections[5m])
max_over_time(im_messages_total[10m])
count_over_time({__name__=~".+"}[2m])
stddev_over_time(im_connections[5m])
stddev_over_time(im_messages_total[30m])
stdvar_over_time(im_clock_skew_seconds[10m])
quantile_over_time(0.9, im_connections[5m])
quantile_over_time(-1, im_connections[5m])
quantile_over_time(NaN, im_connections[5m])
last_over_time(im_connections[5m])
last_over_time(im_messages_total[1m] offset 30s)
histogram_quantile(0.9, rate(im_delivery_seconds_bucket[5m]))
histogram_quantile(0.5, im_delivery_seconds_bucket)
histogram_quantile(1.5, im_delivery_seconds_bucket)
histogram_quantile(-1, im_delivery_seconds_bucket)
histogram_quantile(NaN, im_delivery_seconds_bucket)
histogram_quantile(0.9, sum by (le) (rate(im_delivery_seconds_bucket[5m])))
histogram_quantile(0.9, sum by (le, instance) (rate(im_delivery_seconds_bucket[5m])))
histogram_quantile(0.99, {__name__=~"im_delivery_seconds_bucket|im_delivery_seconds_count"})
histogram_quantile(scalar(im_clock_skew_seconds{instance="im-1"}) + 3, im_delivery_seconds_bucket)
histogram_quantile(0.1, im_delivery_seconds_bucket{instance="im-5"})
sum by (job) (rate(im_messages_total[5m]))
avg without (instance) (im_connections)
avg(im_messages_total)
min by (region) (im_connections)
max(im_connections)
count by (direction) (im_messages_total)
count(im_messages_total > 1000) by (instance)
stddev(im_connections)
stddev by (direction) (im_messages_total)
stdvar by (region) (im_connections)
quantile(0.3, im_connections)
quantile(NaN, im_connections)
quantile(2, im_connections)
quantile by (queue) (0.75, im_queue_depth)
topk(2, im_queue_depth)
topk(0, im_connections)
topk(1.9, im_connections)
topk by (queue) (2, im_queue_depth)
topk(2, im_queue_depth == 0)
topk(3, rate(im_messages_total[5m]))
bottomk(2, im_queue_depth)
bottomk by (instance) (1, im_queue_depth)
bottomk(3, rate(im_messages_total[5m]))
group by (region) (im_connections)
sum without (instance) (im_connections)
sum without (instance, region) ({__name__=~"im_connections|im_build_info"})
rate(im_messages_total[5m]) + on(instance, direction) group_left rate(im_messages_total[5m])
im_connections + 1
2 * im_connections
im_connections % 7
-im_connections
-rate(im_messages_total[5m])
1 + 2 * 3 - 4 / 8
2 > bool 1
im_connections > 500
im_connections > bool 500
500 < im_connections
im_connections == bool im_connections
(im_connections > 450) + (im_connections < 550)
im_connections > im_queue_depth
im_messages_total + im_messages_total
im_messages_total / on(instance, direction) group_left im_messages_total
im_messages_total * on(instance) group_left im_connections
im_connections * on(instance) group_right im_messages_total
im_connections * on(instance) group_left(version) im_build_info
im_build_info == on(instance) group_left(region) im_connections
im_connections > bool on(instance) group_left im_queue_depth
irate(im_messages_total[5m]) / ignoring(direction) group_left max by(instance) (im_connections)
sum(rate(im_messages_total[5m])) by (region) / on(region) group_left sum(im_connections) by (region)
sum(im_queue_depth) by (queue) / ignoring(queue) group_left sum(im_queue_depth)
rate(im_messages_total[5m]) / on() group_left scalar(count(im_connections))
vector(1) + on() group_left im_build_info
im_connections and on(instance) im_queue_depth > 15
im_connections or im_queue_depth
im_queue_depth or on(instance, queue) im_connections
im_queue_depth unless on(instance) im_connections > 500
max by (instance) (im_queue_depth) unless ignoring(queue) im_queue_depth > 20
clamp_min(im_connections, 480)
clamp_max(im_connections, 510)
abs(im_clock_skew_seconds)
vector(time())
time() - 1767225600
scalar(sum(im_connections))
scalar(im_connections)
label_replace(im_connections, "inst", "$1-x", "instance", "im-(.*)")
label_replace(im_connections, "instance", "", "instance", ".*")
label_replace(im_connections, "x", "$1$2${1}z$name", "instance", "(im)-(?P<name>[0-9])")
absent(im_nothing{job="x"})
absent(im_connections)
absent(im_connections{job="im-server", instance=~"im-1"})
absent(im_logins_total{instance="im-9"})
max_over_time(rate(im_messages_total[5m])[30m:1m])
avg_over_time(sum by (region) (rate(im_messages_total[5m]))[1h:5m])
min_over_time(im_connections[10m:])
sum_over_time(im_connections[20m:90s] offset 10m)
rate(im_messages_total[5m:30s])
max_over_time(deriv(im_connections[10m])[30m:2m])
im_connections @ 1767229200
im_connections @ start()
rate(im_messages_total[5m] @ end())
sum_over_time(im_connections[10m:1m] @ 1767230000)
im_connections offset 5m @ 1767229200
predict_linear(im_connections[30m], 3600)
predict_linear(im_queue_depth[10m], -600)
deriv(im_connections[15m])
holt_winters(im_connections[20m], 0.3, 0.6)
absent_over_time(im_logins_total{instance="im-1"}[2m])
absent_over_time(im_nothing{job="x"}[5m])
present_over_time(im_connections[3m])
clamp(im_connections, 490, 505)
clamp(im_connections, 600, 500)
round(im_clock_skew_seconds, 0.01)
round(im_connections)
ceil(im_clock_skew_seconds)
floor(rate(im_messages_total[5m]))
sqrt(im_connections)
exp(im_clock_skew_seconds)
ln(im_connections)
log10(im_connections)
sgn(im_clock_skew_seconds)
sin(im_clock_skew_seconds) + atan2(im_clock_skew_seconds, 2)
im_clock_skew_seconds atan2 on(instance) im_connections
deg(im_clock_skew_seconds) / rad(im_clock_skew_seconds)
timestamp(im_connections)
timestamp(im_logins_total offset 1m)
timestamp(rate(im_messages_total[5m]))
hour()
minute(timestamp(im_connections))
day_of_week() + day_of_month() + day_of_year() + days_in_month() + month() + year()
label_join(im_connections, "where", "/", "region", "instance")
label_join(im_connections, "instance", "")
count_values("depth", im_queue_depth)
count_values by (instance) ("depth", im_queue_depth)
sort(im_connections)
sort_desc(rate(im_messages_total[5m]))
im_connections{instance=~"(?i)IM-1"}
im_connections{instance=~"i(?i)M-.*"}
"""

# Prometheus fails these with a matching or duplicate-labelset error; so must we.
FAILING = """
im_messages_total / on(instance) im_connections
im_connections / on(instance) im_messages_total
rate({__name__=~"im_delivery_seconds_count|im_clock_skew_seconds"}[5m])
abs({__name__=~"im_delivery_seconds_count|im_clock_skew_seconds"})
-{__name__=~"im_delivery_seconds_count|im_clock_skew_seconds"}
{__name__=~"im_delivery_seconds_count|im_clock_skew_seconds"} * 2
im_queue_depth + on(instance) im_connections
label_replace(im_connections, "instance", "all", "job", ".*")
topk(NaN, im_connections)
holt_winters(im_connections[20m], 1.5, 0.5)
"""


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def data():
    return pool()


@pytest.fixture(scope="module")
def server(data):
    with PrometheusSandbox(data) as sandbox:
        yield sandbox


def check(server, data, expr: str, start_ms: int, end_ms: int, step_ms: int) -> None:
    outcome = against_server(server.url, data, expr, start_ms, end_ms, step_ms,
                             subquery_step=server.evaluation_interval)
    problems = outcome[1] if outcome else []  # None: refused on both sides
    assert not problems, f"{expr} over {(start_ms, end_ms, step_ms)}:\n" + "\n".join(problems)


@pytest.mark.parametrize("expr", _lines(TABLE))
def test_expression_matches_prometheus(server, data, expr):
    for grid in GRIDS:
        check(server, data, expr, *grid)


@pytest.mark.parametrize("expr", _lines(FAILING))
def test_prometheus_errors_are_raised_too(server, data, expr):
    start, end, step = GRIDS[0]
    with pytest.raises(ServerError):
        query_range(server.url, expr, start, end, step)
    with pytest.raises(EvaluationError):
        evaluate(expr, data, start / 1000, end / 1000, step / 1000)


def test_syntax_errors_agree(server, data):
    for expr in ["rate(im_messages_total)", "sum(", "1 > 2", "im_connections + on(x) 1",
                 "{}", "{job=~\".*\"}", "rate(im_messages_total[5m]) + bool 1"]:
        with pytest.raises(ServerError):
            query_range(server.url, expr, *GRIDS[0])
        with pytest.raises(PromQLSyntaxError):
            evaluate(expr, data, GRIDS[0][0] / 1000, GRIDS[0][1] / 1000, 60)


# -- random expressions -------------------------------------------------------------------

METRICS = {
    "im_messages_total": ("instance", "direction", "region", "job"),
    "im_logins_total": ("instance", "result", "job"),
    "im_connections": ("instance", "region", "job"),
    "im_queue_depth": ("instance", "queue", "job"),
    "im_build_info": ("instance", "version", "region"),
    "im_clock_skew_seconds": ("instance", "job"),
}
LABEL_VALUES = {"instance": ("im-0", "im-1", "im-2", "im-3"), "direction": ("in", "out"),
                "region": ("eu", "us"), "queue": ("push", "mail"), "result": ("ok", "fail"),
                "job": ("im-server", "im-auth"), "version": ("1.2", "1.3")}
LABEL_REGEXES = {"instance": ("im-[01]", "im-.*", "im-(2|3)"), "direction": ("i.*",),
                 "region": ("e.*", "eu|us"), "queue": ("p.+",), "result": ("ok|fail",),
                 "job": ("im-.*",), "version": ("1[.]3",)}
ALL_LABELS = sorted(LABEL_VALUES)
RANGES = ("30s", "1m", "2m", "5m", "7m", "10m", "1h")
RANGE_FUNCTIONS = ("rate", "increase", "irate", "delta", "idelta", "resets", "changes",
                   "avg_over_time", "sum_over_time", "min_over_time", "max_over_time",
                   "count_over_time", "stddev_over_time", "stdvar_over_time",
                   "last_over_time")


@st.composite
def selectors(draw, range_=None) -> str:
    name = draw(st.sampled_from(sorted(METRICS)))
    matchers = []
    if draw(st.integers(0, 2)) == 0:
        label = draw(st.sampled_from(METRICS[name]))
        op = draw(st.sampled_from(["=", "!=", "=~", "!~"]))
        values = LABEL_VALUES[label] if op in ("=", "!=") else LABEL_REGEXES[label]
        matchers.append(f'{label}{op}"{draw(st.sampled_from(values))}"')
    text = name + ("{" + ", ".join(matchers) + "}" if matchers else "")
    if range_:
        text += f"[{range_}]"
    if draw(st.integers(0, 4)) == 0:
        text += f" offset {draw(st.sampled_from(['1m', '5m', '-2m']))}"
    return text


@st.composite
def range_calls(draw) -> str:
    selector = draw(selectors(draw(st.sampled_from(RANGES))))
    if draw(st.integers(0, 9)) == 0:
        q = draw(st.sampled_from(["0", "0.5", "0.9", "1"]))
        return f"quantile_over_time({q}, {selector})"
    return f"{draw(st.sampled_from(RANGE_FUNCTIONS))}({selector})"


def grouping(draw) -> str:
    labels = draw(st.lists(st.sampled_from(ALL_LABELS), max_size=2, unique=True))
    return f" {draw(st.sampled_from(['by', 'without']))} ({', '.join(labels)})"


@st.composite
def aggregations(draw, inner) -> str:
    op = draw(st.sampled_from(["sum", "avg", "min", "max", "count", "stddev", "stdvar",
                               "quantile", "topk", "bottomk", "group"]))
    param = {"quantile": "0.25, ", "topk": "2, ", "bottomk": "1, "}.get(op, "")
    return f"{op}{grouping(draw)} ({param}{draw(inner)})"


@st.composite
def binaries(draw, inner) -> str:
    op = draw(st.sampled_from(["+", "-", "*", "/", ">", "<=", "==", "and", "or", "unless"]))
    left = draw(inner)
    right = left if draw(st.booleans()) else draw(inner)
    modifier = ""
    if op in (">", "<=", "==") and draw(st.booleans()):
        modifier += " bool"
    if draw(st.booleans()):
        labels = draw(st.lists(st.sampled_from(ALL_LABELS), max_size=2, unique=True))
        modifier += f" {draw(st.sampled_from(['on', 'ignoring']))}({', '.join(labels)})"
        if op not in ("and", "or", "unless") and draw(st.booleans()):
            modifier += " group_left()"
    if op not in ("and", "or", "unless") and draw(st.integers(0, 3)) == 0:
        scalar = draw(st.sampled_from(["2", "0.5", "1e3", "-1"]))
        return f"({left}){modifier.replace(' group_left', '')} {op} {scalar}" if \
            "on" not in modifier and "ignoring" not in modifier else f"({left}) {op} {scalar}"
    return f"({left}) {op}{modifier} ({right})"


@st.composite
def histogram_quantiles(draw) -> str:
    q = draw(st.sampled_from(["0.5", "0.9", "0.99", "0"]))
    buckets = draw(st.sampled_from([
        "im_delivery_seconds_bucket", "rate(im_delivery_seconds_bucket[5m])",
        "sum by (le) (rate(im_delivery_seconds_bucket[2m]))",
        'increase(im_delivery_seconds_bucket{instance=~"im-[0-2]"}[10m])']))
    return f"histogram_quantile({q}, {buckets})"


def vectors() -> st.SearchStrategy[str]:
    base = st.one_of(selectors(), range_calls())
    return st.recursive(base, lambda inner: st.one_of(
        aggregations(inner), binaries(inner),
        inner.map(lambda e: f"abs({e})"),
        inner.map(lambda e: f"clamp_min({e}, 10)"),
        histogram_quantiles(),
    ), max_leaves=4)


@st.composite
def grids(draw) -> tuple[int, int, int]:
    step = draw(st.sampled_from([1_000, 7_000, 15_000, 30_000, 60_000, 90_000, 300_000]))
    steps = draw(st.integers(1, 80))
    start = START_MS + draw(st.integers(-600, HOURS * 3600)) * 1000 + draw(st.integers(0, 999))
    return start, start + (steps - 1) * step, step


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(expr=vectors(), grid=grids())
def test_random_expressions_match_prometheus(server, data, expr, grid):
    check(server, data, expr, *grid)


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(expr=st.sampled_from(_lines(TABLE)), grid=grids())
def test_table_on_random_grids(server, data, expr, grid):
    check(server, data, expr, *grid)
