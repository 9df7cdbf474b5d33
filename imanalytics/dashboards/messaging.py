"""IM messaging pipeline: send, delivery, loss, latency percentiles and heatmap, fan-out."""

from __future__ import annotations

from grafanalib.core import Dashboard, Panel

from . import panels as p
from .catalog_panels import by_label, latency_panels, message_rates, rates, unit
from .layers import layer_dashboard
from .queries import Scope
from .thresholds import RuleFiles


def messaging(scope: Scope, rules: RuleFiles) -> Dashboard | None:
    return layer_dashboard(
        scope, rules, "message", "IM messaging pipeline",
        "Messages from sender to recipient: send and delivery rates, loss, failures, "
        "processing and end-to-end latency, group fan-out and status sync.",
        {"Delivery": _delivery(scope), "Latency": _latency(scope)})



def _delivery(scope: Scope) -> list[Panel]:
    out = []
    if scope.has("messages_sent", "messages_delivered"):
        sent, delivered = scope.rate("messages_sent"), scope.rate("messages_delivered")
        rate_unit = unit(scope.spec("messages_sent"), rate=True)
        out += [
            message_rates(scope, "Send and delivery rates"),
            p.timeseries("Messages lost", "Messages sent but not delivered, per second "
                         "(negative differences, from delivery catching up, count as 0).",
                         [p.query(f"clamp_min({sent} - {delivered}, 0)", "{{job}}")], rate_unit),
            p.timeseries("Delivery ratio", "Messages delivered per message sent; below 100% "
                         "messages are in flight or lost.",
                         [p.query(scope.ratio("messages_delivered", "messages_sent"), "{{job}}")],
                         "percentunit"),
        ]
    for key, label, title in (("messages_sent", "tenant", "Messages sent by tenant"),
                              ("delivery_failures", "reason", "Delivery failures by reason")):
        if scope.has(key):
            out.append(rates(scope, key, title, by_label(scope, key, label),
                             description=scope.spec(key).help))
    return out


def _latency(scope: Scope) -> list[Panel]:
    out = []
    if scope.has("e2e_latency"):
        out += latency_panels(scope, "e2e_latency", "End-to-end")
    if scope.has("processing_duration"):
        out += latency_panels(scope, "processing_duration", "Processing")
    if scope.has("broadcast_duration"):
        out.append(_broadcast(scope))
    if scope.has("status_sync_duration"):
        spec = scope.spec("status_sync_duration")
        out.append(p.timeseries("Status sync latency", f"{spec.help} Mean per instance.",
                                [p.query(scope.mean("status_sync_duration", ("job", "instance")),
                                         "{{instance}}")], unit(spec)))
    return out


def _broadcast(scope: Scope) -> Panel:
    spec = scope.spec("broadcast_duration")
    by = ("job", "group_size") if "group_size" in spec.labels else ("job", "instance")
    legend = scope.legend("broadcast_duration", by)
    targets = [p.query(scope.mean("broadcast_duration", by), f"mean {legend}")]
    top = max((q for q in spec.quantiles if q < 1), default=None)
    if top is not None:
        targets.append(p.query(scope.summary_quantiles("broadcast_duration", by, only=top),
                               f"p{top * 100:g} {legend}"))
    return p.timeseries("Broadcast latency by group size",
                        f"{spec.help} Mean, and the highest instance's top quantile.",
                        targets, unit(spec))
