"""One dashboard per catalog layer: its SLIs, curated panels, then every metric it has.

Two collapsed rows hold the generic panels of every catalog metric in the layer (by
its labels, and by instance), so a metric added to the catalog appears without
touching this module; a panel showing the same queries as one above it is dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from grafanalib.core import Dashboard, Panel

from ..slis import slis
from . import panels as p
from .builders import dashboard
from .catalog_panels import (
    by_label,
    instance_panels,
    latency_panels,
    levels,
    metric_panels,
    percentiles,
    rates,
    sli_timeseries,
    title_of,
    unit,
)
from .layout import Section
from .queries import Scope
from .thresholds import RuleFiles


def layer_dashboard(scope: Scope, rules: RuleFiles, layer: str, title: str, description: str,
                    curated: Mapping[str, Sequence[Panel]]) -> Dashboard | None:
    specs = scope.catalog.by_layer(layer)
    if not specs:
        return None
    layer_slis = [sli for sli in slis(scope.catalog) if sli.layer == layer]
    sections = [Section("Service level", [sli_timeseries(scope, s, rules) for s in layer_slis])]
    sections += [Section(name, panels) for name, panels in curated.items()]
    name = title_of(layer)
    sections += [
        Section(f"{name} metrics by label",
                [panel for spec in specs for panel in metric_panels(scope, spec)], True),
        Section(f"{name} metrics by instance",
                [panel for spec in specs for panel in instance_panels(scope, spec)], True),
    ]
    return dashboard(title, description, _distinct(sections), scope.catalog, tags=[layer])


def _distinct(sections: Sequence[Section]) -> list[Section]:
    """Sections without panels whose queries an earlier panel already shows."""
    seen: set[tuple] = set()
    out = []
    for section in sections:
        kept = []
        for panel in section.panels:
            # The same query as a table of now is a different view, not a duplicate.
            queries = (type(panel).__name__, *sorted(
                (t.expr, t.format, t.instant) for t in panel.targets))
            if queries not in seen:
                seen.add(queries)
                kept.append(panel)
        out.append(Section(section.title, kept, section.collapsed))
    return out


def _instance_levels(scope: Scope, titles: Mapping[str, str]) -> list[Panel]:
    """The level per instance of each gauge in `titles` the catalog has."""
    return [levels(scope, key, title) for key, title in titles.items() if scope.has(key)]


# --- connection layer ----------------------------------------------------------------


def connection(scope: Scope, rules: RuleFiles) -> Dashboard | None:
    out = _instance_levels(scope, {"connections": "Connections by instance",
                                   "sessions": "Sessions by instance"})
    if scope.has("online_users"):
        by = by_label(scope, "online_users", "tenant")
        out.append(levels(scope, "online_users", "Online users by tenant", by, stack=True))
    if scope.has("handshake_duration"):
        out += latency_panels(scope, "handshake_duration", "Handshake")
    if scope.has("connection_closes"):
        by = by_label(scope, "connection_closes", "reason")
        out.append(rates(scope, "connection_closes", "Connection closes by reason", by))
    return layer_dashboard(
        scope, rules, "connection", "IM connection layer",
        "Client connections and sessions, WebSocket handshake latency and why connections "
        "close.", {"Connections": out})


# --- message queue -------------------------------------------------------------------


def queue(scope: Scope, rules: RuleFiles) -> Dashboard | None:
    out = []
    if scope.has("mq_pending"):
        spec = scope.spec("mq_pending")
        out += [p.stat("Pending messages", f"{spec.help} Summed over the selected instances.",
                       [p.query(f"sum({scope.level('mq_pending', ('job',))})")], unit(spec), h=8),
                levels(scope, "mq_pending", "Pending messages by instance")]
    if scope.has("mq_consumer_lag"):
        out.append(levels(scope, "mq_consumer_lag", "Consumer lag by instance"))
    # A backlog reaches users as delivery latency; show the SLI that would page for it.
    out += [sli_timeseries(scope, sli, rules) for sli in slis(scope.catalog)
            if sli.key == "e2e_latency_p95"]
    return layer_dashboard(
        scope, rules, "queue", "IM message queue",
        "The message queue between the IM servers and delivery: backlog, consumer lag and "
        "the end-to-end latency a backlog causes.", {"Backlog": out})


# --- API -----------------------------------------------------------------------------


def api(scope: Scope, rules: RuleFiles) -> Dashboard | None:
    out = []
    if scope.has("api_requests"):
        out += _requests(scope)
    if scope.has("api_request_duration"):
        by = by_label(scope, "api_request_duration", "path")
        spec = scope.spec("api_request_duration")
        out += [
            p.timeseries("Latency p99 by path", f"{spec.help} 99th percentile.",
                         [p.query(scope.quantile("api_request_duration", 0.99, by),
                                  scope.legend("api_request_duration", by))], unit(spec)),
            percentiles(scope, "api_request_duration", "Latency percentiles, all paths"),
        ]
    return layer_dashboard(
        scope, rules, "api", "IM API health",
        "The HTTP API by path and status: traffic, server errors and latency.",
        {"Requests": out})


def _requests(scope: Scope) -> list[Panel]:
    spec = scope.spec("api_requests")
    by = ("job", *(name for name in ("path", "status") if name in spec.labels))
    out = [rates(scope, "api_requests", "Requests by path and status", by)]
    if "status" in spec.labels:
        path_by = by_label(scope, "api_requests", "path")
        status = spec.label("status")
        out.append(p.timeseries(
            "5xx ratio by path", "Share of requests answered with a 5xx status.",
            [p.query(scope.error_ratio("api_requests", f'{status}=~"5.."', path_by),
                     scope.legend("api_requests", path_by))], "percentunit"))
    out.append(p.table(
        "Request rates now", f"{spec.help} Per second, at the end of the time range.",
        [p.query(scope.rate("api_requests", by), instant=True, table=True)],
        unit(spec, rate=True)))
    return out


# --- Go runtime ----------------------------------------------------------------------


def runtime(scope: Scope, rules: RuleFiles) -> Dashboard | None:
    out = _instance_levels(scope, {"goroutines": "Goroutines by instance",
                                   "heap_alloc": "Heap in use by instance"})
    if scope.has("gc_pause"):
        spec = scope.spec("gc_pause")
        out += [
            p.timeseries("GC pause mean", f"{spec.help} Mean per instance.",
                         [p.query(scope.mean("gc_pause", ("job", "instance")), "{{instance}}")],
                         unit(spec)),
            p.timeseries("GC cycles per second", f"{spec.help} Collections per second.",
                         [p.query(scope.rate("gc_pause", ("job", "instance"), "_count"),
                                  "{{instance}}")], "ops"),
        ]
    return layer_dashboard(
        scope, rules, "runtime", "IM Go runtime",
        "The IM server processes: goroutines, heap and garbage collection.", {"Process": out})
