"""IM overview: the three SLI layers at a glance, traffic, errors, backlog and alerts."""

from __future__ import annotations

from grafanalib.core import Dashboard, Panel

from ..slis import slis
from . import panels as p
from .builders import dashboard
from .catalog_panels import by_label, levels, message_rates, sli_stat, sli_timeseries, unit
from .layout import Section
from .queries import Scope
from .thresholds import RuleFiles

# The SLI that stands for each layer, in the order an IM message travels.
LAYER_SLIS = (
    ("connections", "Connection availability: connections"),
    ("delivery_failure_ratio", "Message reachability: failure ratio"),
    ("e2e_latency_p95", "End-to-end latency: p95"),
)


def overview(scope: Scope, rules: RuleFiles) -> Dashboard:
    by_key = {sli.key: sli for sli in slis(scope.catalog)}
    layer_slis = [(by_key[key], title) for key, title in LAYER_SLIS if key in by_key]
    stats = [sli_stat(scope, sli, rules, title=title) for sli, title in layer_slis]
    stats += _traffic_stats(scope) + [_alerts_firing(scope)]
    sections = [
        Section(None, stats),
        Section("Service level", [sli_timeseries(scope, sli, rules, w=8)
                                  for sli, _ in layer_slis]),
        Section("Traffic and errors", _traffic(scope)),
    ]
    return dashboard(
        "IM overview",
        "Instant-messaging service health: the connection, message reachability and "
        "end-to-end latency SLIs, traffic, errors, queue backlog and firing alerts.",
        sections, scope.catalog, tags=["overview"])



def _traffic_stats(scope: Scope) -> list[Panel]:
    out = []
    if scope.has("online_users"):
        spec = scope.spec("online_users")
        out.append(p.stat("Online users", f"{spec.help} Summed over the selected instances.",
                          [p.query(f"sum({scope.level('online_users', ('job',))})")],
                          unit(spec)))
    if scope.has("messages_sent"):
        spec = scope.spec("messages_sent")
        out.append(p.stat("Messages sent per second", spec.help,
                          [p.query(f"sum({scope.rate('messages_sent')})")],
                          unit(spec, rate=True)))
    return out


def _alerts_firing(scope: Scope) -> Panel:
    # ALERTS exists only while alert rules run; "or vector(0)" keeps the panel at 0.
    job, instance = scope.filters()
    expr = f'count(ALERTS{{alertstate="firing",{job},{instance}}}) or vector(0)'
    return p.stat("Alerts firing", "Alerts firing now for the selected jobs and instances.",
                  [p.query(expr)], "short",
                  thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 1}])


def _traffic(scope: Scope) -> list[Panel]:
    out = []
    if scope.has("online_users"):
        by = by_label(scope, "online_users", "tenant")
        out.append(levels(scope, "online_users", "Online users", by, stack=True))
    if scope.has("connections"):
        spec = scope.spec("connections")
        out.append(p.timeseries("Connections by instance", spec.help,
                                [p.query(scope.level("connections"), "{{instance}}")],
                                unit(spec)))
    if scope.has("messages_sent", "messages_delivered"):
        out.append(message_rates(scope, "Messages sent and delivered"))
    out += _error_ratios(scope)
    if scope.has("mq_pending"):
        spec = scope.spec("mq_pending")
        out.append(p.timeseries("Message queue backlog", spec.help,
                                [p.query(scope.level("mq_pending"), "{{instance}}")],
                                unit(spec)))
    return out


def _error_ratios(scope: Scope) -> list[Panel]:
    targets = []
    if scope.has("delivery_failures", "messages_sent"):
        targets.append(p.query(scope.ratio("delivery_failures", "messages_sent"),
                               "delivery failures {{job}}"))
    if scope.has("api_requests"):
        status = scope.label("api_requests", "status")
        targets.append(p.query(scope.error_ratio("api_requests", f'{status}=~"5.."'),
                               "API 5xx {{job}}"))
    if not targets:
        return []
    return [p.timeseries(
        "Error ratios", "Failed message deliveries per message sent, and the share of API "
        "requests answered with a 5xx status.", targets, "percentunit")]
