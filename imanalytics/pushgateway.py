"""Push a job's own run metrics to a Prometheus Pushgateway.

Batch jobs (a threshold review, a rules build) do not live long enough to be scraped;
the Pushgateway holds their last run's metrics for Prometheus.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

from .errors import ImanalyticsError


class PushError(ImanalyticsError):
    """The Pushgateway could not be reached or refused the push."""


def push_run_metrics(url: str, job: str, metrics: Mapping[str, tuple[float, str]],
                     grouping: Mapping[str, str] | None = None, timeout: float = 10) -> None:
    """Push gauges ``{name: (value, help)}`` for `job`, replacing the job's previous push."""
    registry = CollectorRegistry()
    for name, (value, help_text) in sorted(metrics.items()):
        Gauge(name, help_text, registry=registry).set(value)
    try:
        push_to_gateway(url, job=job, registry=registry, grouping_key=dict(grouping or {}),
                        timeout=timeout)
    except OSError as exc:
        raise PushError(f"push to Pushgateway {url} failed: {exc}") from None
