"""The IM service level indicators, as PromQL over the catalog's metrics.

Each SLI is one expression per (job, instance) — per path for API errors — with the
direction in which it goes bad, the static alert that IM teams start with, and the
simulator incident kinds it should catch. Baselines, threshold reviews, alert rules and
dashboards all take their SLIs from here, so a mapped catalog changes them all.
"""

from __future__ import annotations

from dataclasses import dataclass

from .catalog import Catalog, default_catalog

UPPER, LOWER = "upper", "lower"


@dataclass(frozen=True)
class SLI:
    key: str
    title: str
    layer: str  # catalog layer: connection, message, queue, api, runtime
    record: str  # recording-rule name that holds the SLI
    expr: str  # PromQL over raw metrics
    unit: str  # Grafana unit id
    direction: str  # UPPER: bad when high; LOWER: bad when low
    static_threshold: float  # the fixed line teams start with
    static_for: str  # its `for:` duration
    by: tuple[str, ...]  # labels that identify one SLI series
    volume: str | None = None  # traffic behind the SLI, for floors (events per second)
    incident_kinds: tuple[str, ...] = ()
    summary: str = ""

    @property
    def static_expr(self) -> str:
        op = ">" if self.direction == UPPER else "<"
        return f"{self.record} {op} {self.static_threshold:g}"


def slis(catalog: Catalog | None = None) -> list[SLI]:
    """The IM SLIs over `catalog` (default: the built-in catalog)."""
    cat = catalog or default_catalog()
    inst = _by(cat, "job", "instance")
    builders = [_delivery_failure_ratio, _processing_p99, _e2e_p95, _connections,
                _consumer_lag, _api_error_ratio, _goroutines]
    return [build(cat, inst) for build in builders if _available(cat, build)]


_NEEDS = {
    "_delivery_failure_ratio": ("delivery_failures", "messages_sent"),
    "_processing_p99": ("processing_duration",),
    "_e2e_p95": ("e2e_latency",),
    "_connections": ("connections",),
    "_consumer_lag": ("mq_consumer_lag",),
    "_api_error_ratio": ("api_requests",),
    "_goroutines": ("goroutines",),
}


def _available(cat: Catalog, build) -> bool:
    # A mapping file may remove metrics the service doesn't export.
    return all(key in cat for key in _NEEDS[build.__name__])


def _by(cat: Catalog, *labels: str) -> str:
    return ", ".join(cat.label(label) for label in labels)


def _delivery_failure_ratio(cat: Catalog, inst: str) -> SLI:
    failed = f"sum by ({inst}) (rate({cat.selector('delivery_failures')}[5m]))"
    sent = f"sum by ({inst}) (rate({cat.selector('messages_sent')}[5m]))"
    return SLI(
        key="delivery_failure_ratio", title="Message delivery failure ratio", layer="message",
        record="job_instance:im_message_delivery_failures_per_sent:ratio_rate5m",
        expr=f"{failed} / {sent}", unit="percentunit", direction=UPPER,
        static_threshold=0.05, static_for="5m", by=_labels(cat, "job", "instance"),
        volume=sent, incident_kinds=("message_loss",),
        summary="Messages are failing to reach recipients.",
    )


def _quantile(cat: Catalog, inst: str, key: str, q: float) -> str:
    buckets = cat.selector(key, "_bucket")
    return f"histogram_quantile({q}, sum by ({inst}, le) (rate({buckets}[5m])))"


def _processing_p99(cat: Catalog, inst: str) -> SLI:
    return SLI(
        key="processing_latency_p99", title="Message processing latency p99", layer="message",
        record="job_instance:im_message_processing_duration_seconds:p99_rate5m",
        expr=_quantile(cat, inst, "processing_duration", 0.99), unit="s", direction=UPPER,
        static_threshold=1.0, static_for="5m", by=_labels(cat, "job", "instance"),
        volume=f"sum by ({inst}) (rate({cat.selector('processing_duration', '_count')}[5m]))",
        incident_kinds=("latency_regression",),
        summary="Message processing is slow.",
    )


def _e2e_p95(cat: Catalog, inst: str) -> SLI:
    return SLI(
        key="e2e_latency_p95", title="End-to-end delivery latency p95", layer="message",
        record="job_instance:im_message_e2e_latency_seconds:p95_rate5m",
        expr=_quantile(cat, inst, "e2e_latency", 0.95), unit="s", direction=UPPER,
        static_threshold=0.8, static_for="5m", by=_labels(cat, "job", "instance"),
        volume=f"sum by ({inst}) (rate({cat.selector('e2e_latency', '_count')}[5m]))",
        incident_kinds=("latency_regression", "mq_backlog"),
        summary="Messages take long to reach recipients.",
    )


def _connections(cat: Catalog, inst: str) -> SLI:
    return SLI(
        key="connections", title="Client connections", layer="connection",
        record="job_instance:im_connections_count:sum",
        expr=f"sum by ({inst}) ({cat.selector('connections')})", unit="short",
        direction=LOWER, static_threshold=1000, static_for="5m",
        by=_labels(cat, "job", "instance"), incident_kinds=("connection_drop",),
        summary="Clients are losing their connections.",
    )


def _consumer_lag(cat: Catalog, inst: str) -> SLI:
    return SLI(
        key="mq_consumer_lag", title="Message queue consumer lag", layer="queue",
        record="job_instance:im_mq_consumer_lag_seconds:max",
        expr=f"max by ({inst}) ({cat.selector('mq_consumer_lag')})", unit="s",
        direction=UPPER, static_threshold=60, static_for="5m",
        by=_labels(cat, "job", "instance"), incident_kinds=("mq_backlog",),
        summary="The message queue consumers are falling behind.",
    )


def _api_error_ratio(cat: Catalog, inst: str) -> SLI:
    by = _by(cat, "job", "instance", "path")
    status = cat["api_requests"].label("status")
    errors = cat.selector("api_requests")
    errors = _add_matcher(errors, f'{status}=~"5.."')
    total = f"sum by ({by}) (rate({cat.selector('api_requests')}[5m]))"
    return SLI(
        key="api_error_ratio", title="API 5xx ratio by path", layer="api",
        record="job_instance_path:im_api_requests_5xx_per_requests:ratio_rate5m",
        expr=f"sum by ({by}) (rate({errors}[5m])) / {total}", unit="percentunit",
        direction=UPPER, static_threshold=0.05, static_for="5m",
        by=_labels(cat, "job", "instance", "path"), volume=total,
        incident_kinds=("api_5xx_burst",),
        summary="An API path is failing with server errors.",
    )


def _goroutines(cat: Catalog, inst: str) -> SLI:
    return SLI(
        key="goroutines", title="Goroutines", layer="runtime",
        record="job_instance:go_goroutines:sum",
        expr=f"sum by ({inst}) ({cat.selector('goroutines')})", unit="short",
        direction=UPPER, static_threshold=10000, static_for="10m",
        by=_labels(cat, "job", "instance"), incident_kinds=("goroutine_leak",),
        summary="Goroutines are piling up (a leak).",
    )


def _labels(cat: Catalog, *labels: str) -> tuple[str, ...]:
    return tuple(cat.label(label) for label in labels)


def _add_matcher(selector: str, matcher: str) -> str:
    if selector.endswith("}"):
        return f"{selector[:-1]},{matcher}}}"
    return f"{selector}{{{matcher}}}"
