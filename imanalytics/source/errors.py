"""What a failed pull raises, and the one-line text helpers its messages use."""

from __future__ import annotations

import pandas as pd

from ..errors import ImanalyticsError


class SourceError(ImanalyticsError):
    """A pull failed; the message names the server or expression at fault."""


class QueryError(SourceError):
    """Prometheus refused or failed an expression (bad PromQL, timeout, too many samples)."""

    def __init__(self, expr: str, error_type: str, error: str):
        self.expr, self.error_type, self.error = expr, error_type, error
        super().__init__(f"Prometheus could not evaluate {_short(expr)}: {error_type}: {error}")


class ServerUnreachable(SourceError):
    """The server did not answer (connection, TLS or repeated 5xx/429) after all attempts."""


class AccessDenied(SourceError):
    """The server refused the credentials (HTTP 401 or 403)."""


class TooManySeries(SourceError):
    """An expression returns more series than ``max_series`` allows."""


class TooManyPoints(SourceError):
    """A range pull would hold more points per series than ``max_range_points`` allows."""


class DeadlineExceeded(ServerUnreachable):
    """A pull ran past its ``deadline`` (slow or trickling replies, long Retry-After)."""


class PrometheusWarning(UserWarning):
    """A warning Prometheus attached to an otherwise successful answer."""


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _iso(ms: int) -> str:
    return pd.Timestamp(ms, unit="ms", tz="UTC").isoformat()

