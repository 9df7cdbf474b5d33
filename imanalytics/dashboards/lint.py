"""Dashboard lint: the checks of Grafana's dashboard-linter, run on dashboard JSON.

Rules (the linter's names, without its ``-rule`` suffix):

- template-datasource: a ``datasource`` variable of type datasource, query prometheus;
- template-job, template-instance: multi-select Prometheus query variables on
  ``$datasource``, labelled ``Job``/``Instance``, with "All" meaning ``.+``;
- template-label-promql: ``label_values(selector, label)`` variable queries parse;
- panel-datasource: every panel (and target) uses the datasource variable;
- panel-title-description, panel-units, panel-no-targets;
- panel-modern-type: no pre-Grafana-8 panel types (graph, singlestat, table-old);
- target-promql: each query parses once Grafana's variables are expanded; a construct
  the local parser refuses is asked of a Prometheus server when one is given;
- target-rate-interval: ``rate``/``irate`` ranges are ``$__rate_interval``;
- target-job, target-instance: every selector filters ``=~"$job"`` / ``=~"$instance"``;
- target-counter-agg: a counter is read only through ``rate``/``irate``/``increase``,
  and that rate is aggregated.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import requests

from ..catalog import Catalog
from ..errors import ImanalyticsError
from ..promql import PromQLSyntaxError, UnsupportedError, ast, parse
from .promtree import selectors, walk
from .variables import ALL, substitute

RULES = (
    "template-datasource", "template-job", "template-instance", "template-label-promql",
    "panel-datasource", "panel-title-description", "panel-units", "panel-no-targets",
    "panel-modern-type", "target-promql", "target-rate-interval", "target-job",
    "target-instance", "target-counter-agg",
)
ERROR, WARNING = "error", "warning"

# Grafana's interval variables become durations no one writes by hand, so the expanded
# query still shows which ranges were $__rate_interval.
RATE_INTERVAL_S = 7919
_GLOBALS = {
    "__rate_interval": f"{RATE_INTERVAL_S}s", "__interval": "7920s", "__range": "7921s",
    "__interval_ms": "7920000", "__range_ms": "7921000", "__range_s": "7921",
    "__from": "1700000000000", "__to": "1700000600000",
}
_DATASOURCE_REFS = {"$datasource", "${datasource}"}
_QUERYING = {"timeseries", "stat", "gauge", "bargauge", "table", "heatmap", "graph",
             "singlestat", "piechart", "barchart", "state-timeline", "status-history",
             "histogram"}
_UNIT_PANELS = {"timeseries", "stat", "gauge", "bargauge", "table", "graph", "singlestat"}
_LEGACY = {"graph", "singlestat", "table-old", "grafana-piechart-panel"}
_RATES = {"rate", "irate", "increase"}
_COUNTER_SUFFIXES = {"counter": ("",), "histogram": ("_bucket", "_sum", "_count"),
                     "summary": ("_sum", "_count")}
_LABEL_VALUES = re.compile(r"label_values\((?:(?P<selector>.*),)?\s*(?P<label>\w+)\s*\)", re.S)
VALID_UNITS = frozenset((
    "none short percent percentunit locale sci hex hex0x string bool bool_yes_no "
    "bool_on_off "
    # time
    "ns µs ms s m h d dtdurationms dtdurations dthms dtdhms timeticks clockms clocks hertz "
    # data and data rates
    "bits bytes kbytes mbytes gbytes tbytes pbytes decbits decbytes deckbytes decmbytes "
    "decgbytes dectbytes decpbytes pps bps Bps binbps binBps Kbits KBs Mbits MBs Gbits GBs "
    "KiBs MiBs GiBs "
    # throughput
    "cps ops reqps rps wps iops cpm opm rpm wpm"
).split())


@dataclass(frozen=True)
class Finding:
    rule: str
    dashboard: str
    panel: str  # "" for dashboard-level findings
    message: str
    severity: str = ERROR

    def __str__(self) -> str:
        where = f"{self.dashboard} / {self.panel}" if self.panel else self.dashboard
        return f"{where}: {self.rule}: {self.message}"


class LintError(ImanalyticsError):
    """A dashboard failed lint; the message lists every error."""


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == ERROR]


def check(boards: dict[str, dict], **options) -> None:
    """Raise `LintError` listing the errors of every dashboard in `boards` (name -> JSON)."""
    found = [f for board in boards.values() for f in errors(lint(board, **options))]
    if found:
        lines = "\n".join(f"  {f}" for f in found)
        raise LintError(f"{len(found)} dashboard lint error(s):\n{lines}")


def lint(board: dict, *, catalog: Catalog | None = None,
         prometheus_url: str | None = None) -> list[Finding]:
    """Every finding for one dashboard's JSON (a dict, as Grafana stores it)."""
    ctx = _Context(board, catalog, prometheus_url)
    found = _template_datasource(ctx) + _template_labels(ctx)
    for name in ("job", "instance"):
        found += _template_filter(ctx, name)
    for panel in panels(board):
        found += _panel_checks(ctx, panel)
        for target in panel.get("targets") or []:
            found += _target_checks(ctx, panel, target)
    return found


def panels(board: dict) -> Iterator[dict]:
    """Every panel that is not a row, those inside collapsed rows included."""
    for panel in board.get("panels") or []:
        if panel.get("type") == "row":
            yield from panel.get("panels") or []
        else:
            yield panel


def expand(expr: str) -> str:
    """`expr` with Grafana's global variables replaced as the linter does."""
    return substitute(expr, _GLOBALS)


# --- context --------------------------------------------------------------------------


class _Context:
    def __init__(self, board: dict, catalog: Catalog | None, url: str | None):
        self.board, self.url = board, url
        self.title = str(board.get("title", "<untitled>"))
        self.job = catalog.label("job") if catalog else "job"
        self.instance = catalog.label("instance") if catalog else "instance"
        self.counters = _counter_series(catalog)
        self.variables = (board.get("templating") or {}).get("list") or []

    def finding(self, rule: str, message: str, panel: dict | None = None,
                severity: str = ERROR) -> Finding:
        name = "" if panel is None else str(panel.get("title") or f"id {panel.get('id')}")
        return Finding(rule, self.title, name, message, severity)

    def variable(self, name: str) -> dict | None:
        return next((v for v in self.variables if v.get("name") == name), None)


def _counter_series(catalog: Catalog | None) -> frozenset[str]:
    if catalog is None:
        return frozenset()
    return frozenset(spec.name + suffix for spec in catalog
                     for suffix in _COUNTER_SUFFIXES.get(spec.type, ()))


def _uid(ref) -> str:
    return str(ref.get("uid", "")) if isinstance(ref, dict) else str(ref or "")


# --- templates ------------------------------------------------------------------------


def _template_datasource(ctx: _Context) -> list[Finding]:
    rule = "template-datasource"
    sources = [v for v in ctx.variables if v.get("type") == "datasource"]
    if not sources:
        return [ctx.finding(rule, "no datasource template variable")]
    out = []
    for var in sources:
        if var.get("name") != "datasource":
            out.append(ctx.finding(rule, f"variable {var.get('name')!r} should be 'datasource'"))
        if var.get("query") != "prometheus":
            out.append(ctx.finding(rule, f"query {var.get('query')!r} should be 'prometheus'"))
        if var.get("label") != "Data source":
            out.append(ctx.finding(rule, f"label {var.get('label')!r} should be 'Data source'"))
    return out


def _template_filter(ctx: _Context, name: str) -> list[Finding]:
    rule, var = f"template-{name}", ctx.variable(name)
    if var is None:
        return [ctx.finding(rule, f"no {name} template variable")]
    problems = []
    if _uid(var.get("datasource")) not in _DATASOURCE_REFS:
        problems.append(f"datasource is {_uid(var.get('datasource'))!r}, not '$datasource'")
    if var.get("type") != "query":
        problems.append(f"type is {var.get('type')!r}, not a Prometheus query")
    if var.get("label") != name.title():
        problems.append(f"label is {var.get('label')!r}, not {name.title()!r}")
    if not var.get("multi"):
        problems.append("is not multi-select")
    if not var.get("includeAll"):
        problems.append("has no All option")
    if var.get("allValue") != ALL:
        problems.append(f"allValue is {var.get('allValue')!r}, not {ALL!r}")
    return [ctx.finding(rule, f"{name} variable {p}") for p in problems]


def _template_labels(ctx: _Context) -> list[Finding]:
    out = []
    for var in ctx.variables:
        if var.get("type") != "query":
            continue
        text = var.get("query")
        text = text.get("query", "") if isinstance(text, dict) else str(text or "")
        match = _LABEL_VALUES.fullmatch(text.strip())
        if not match:
            out.append(ctx.finding("template-label-promql",
                                   f"variable {var.get('name')!r}: {text!r} is not "
                                   "label_values(selector, label)"))
            continue
        if match["selector"]:
            problem = _promql_problem(ctx, match["selector"].strip())
            if problem:
                out.append(ctx.finding("template-label-promql",
                                       f"variable {var.get('name')!r}: {problem}"))
    return out


# --- panels ---------------------------------------------------------------------------


def _panel_checks(ctx: _Context, panel: dict) -> list[Finding]:
    kind = panel.get("type")
    out = []
    if kind in _LEGACY:
        out.append(ctx.finding("panel-modern-type", f"legacy panel type {kind!r}", panel))
    refs = [_uid(panel.get("datasource"))]
    refs += [_uid(t["datasource"]) for t in panel.get("targets") or [] if t.get("datasource")]
    for ref in sorted(set(refs) - _DATASOURCE_REFS):
        out.append(ctx.finding("panel-datasource", f"uses datasource {ref!r}, "
                               "not the $datasource variable", panel))
    if not str(panel.get("title", "")).strip() or not str(panel.get("description", "")).strip():
        out.append(ctx.finding("panel-title-description", "needs a title and a description",
                               panel))
    unit = _unit(panel)
    if unit is not None and unit not in VALID_UNITS:
        out.append(ctx.finding("panel-units", f"no valid unit (has {unit!r})", panel))
    if kind in _QUERYING and not any(t.get("expr") for t in panel.get("targets") or []):
        out.append(ctx.finding("panel-no-targets", "has no queries", panel))
    return out


def _unit(panel: dict) -> str | None:
    """The panel's unit, or None for panel types that show no unit."""
    kind = panel.get("type")
    if kind == "heatmap":
        return str(((panel.get("options") or {}).get("yAxis") or {}).get("unit") or "")
    if kind not in _UNIT_PANELS:
        return None
    field_config = panel.get("fieldConfig") or {}
    for override in field_config.get("overrides") or []:
        for prop in override.get("properties") or []:
            if prop.get("id") == "unit":
                return str(prop.get("value") or "")
    return str((field_config.get("defaults") or {}).get("unit") or "")


# --- targets --------------------------------------------------------------------------


def _target_checks(ctx: _Context, panel: dict, target: dict) -> list[Finding]:
    expr = str(target.get("expr") or "")
    if not expr.strip():
        return []
    where = f"query {target.get('refId', '?')}"
    try:
        tree = parse(expand(expr))
    except PromQLSyntaxError as exc:
        return [ctx.finding("target-promql", f"{where}: {exc}", panel)]
    except UnsupportedError as exc:
        return [_unsupported(ctx, panel, where, expr, exc)]
    out = []
    for rule, check in _TREE_CHECKS:
        out += [ctx.finding(rule, f"{where}: {problem}", panel) for problem in check(ctx, tree)]
    return out


def _unsupported(ctx, panel, where: str, expr: str, exc: UnsupportedError) -> Finding:
    """Ask the server about a construct the local parser refuses."""
    skipped = "matcher, rate and counter checks skipped"
    if ctx.url is None:
        return ctx.finding("target-promql", f"{where}: not verified ({exc.construct} is "
                           f"outside the local parser's subset; give a Prometheus URL); "
                           f"{skipped}", panel, WARNING)
    problem = _server_problem(ctx.url, expand(expr))
    if problem:
        return ctx.finding("target-promql", f"{where}: {problem}", panel)
    return ctx.finding("target-promql", f"{where}: valid per {ctx.url} ({exc.construct}); "
                       f"{skipped}", panel, WARNING)


def _promql_problem(ctx: _Context, expr: str) -> str | None:
    try:
        parse(expand(expr))
    except PromQLSyntaxError as exc:
        return str(exc)
    except UnsupportedError:
        return _server_problem(ctx.url, expand(expr)) if ctx.url else None
    return None


def _server_problem(url: str, expr: str) -> str | None:
    """The server's parse error for `expr`, or None when it accepts it."""
    try:
        reply = requests.get(f"{url.rstrip('/')}/api/v1/query", params={"query": expr},
                             timeout=30)
        body = reply.json()
    except (requests.RequestException, ValueError) as exc:
        raise ImanalyticsError(f"cannot ask {url} to check a query: {exc}") from None
    if body.get("status") == "error" and body.get("errorType") == "bad_data":
        return f"rejected by {url}: {body.get('error')}"
    return None


def _rate_interval(ctx: _Context, tree: ast.Node) -> list[str]:
    out = []
    for node, parents in walk(tree):
        if (isinstance(node, ast.MatrixSelector) and parents
                and isinstance(parents[-1], ast.Call) and parents[-1].func in ("rate", "irate")
                and node.range_ms != RATE_INTERVAL_S * 1000):
            out.append(f"{parents[-1].func}() over {node.selector.name} should use "
                       "$__rate_interval")
    return out


def _matcher_check(label_of: str, variable: str):
    def check(ctx: _Context, tree: ast.Node) -> list[str]:
        label = getattr(ctx, label_of)
        wanted = {f"${variable}", f"${{{variable}}}"}
        return [f"selector {s.name or '{}'} lacks {label}=~\"${variable}\""
                for s in selectors(tree)
                if not any(m.label == label and m.op == "=~" and m.value in wanted
                           for m in s.matchers)]
    return check


def _counter_agg(ctx: _Context, tree: ast.Node) -> list[str]:
    out = []
    for node, parents in walk(tree):
        if not isinstance(node, ast.VectorSelector) or not _is_counter(ctx, node.name):
            continue
        ranged = (len(parents) >= 2 and isinstance(parents[-1], ast.MatrixSelector)
                  and isinstance(parents[-2], ast.Call) and parents[-2].func in _RATES)
        if not ranged:
            out.append(f"counter {node.name} is not read through rate, irate or increase")
        elif not any(isinstance(p, ast.Aggregate) for p in parents[:-2]):
            out.append(f"{parents[-2].func}() over counter {node.name} is not aggregated")
    return out


def _is_counter(ctx: _Context, name: str | None) -> bool:
    if not name or ":" in name:  # recorded series are already aggregated
        return False
    return name.endswith("_total") or name in ctx.counters


_TREE_CHECKS = (
    ("target-rate-interval", _rate_interval),
    ("target-job", _matcher_check("job", "job")),
    ("target-instance", _matcher_check("instance", "instance")),
    ("target-counter-agg", _counter_agg),
)
