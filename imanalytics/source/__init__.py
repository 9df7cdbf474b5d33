"""Pulls from Prometheus into pandas: `PromSource` and what its pulls raise.

The package, by responsibility: `client` (the `PromSource` API), `credentials` (URL, auth,
TLS, masking, identity hash), `http` (requests, retries, redirects, deadlines), `pool`
(concurrent requests), `chunking` (range grids, time chunks, series guard, cache),
`shards` (splitting a selector by series), `canvas` (the preallocated frame replies fill),
`raw` (raw pulls), `engines` (which engine answers and its window rules), `replies`
(reply shape checks), `errors`.
"""

from .client import DEADLINE_S, MAX_POINTS, MAX_RANGE_POINTS, PromSource
from .credentials import TOKEN_ENV, TOKEN_FILE_ENV, URL_ENV, identity_hash
from .errors import (
    AccessDenied,
    DeadlineExceeded,
    PrometheusWarning,
    QueryError,
    ServerUnreachable,
    SourceError,
    TooManyPoints,
    TooManySeries,
)

__all__ = [
    "DEADLINE_S", "MAX_POINTS", "MAX_RANGE_POINTS", "TOKEN_ENV", "TOKEN_FILE_ENV", "URL_ENV",
    "AccessDenied", "DeadlineExceeded", "PromSource", "PrometheusWarning", "QueryError",
    "ServerUnreachable", "SourceError", "TooManyPoints", "TooManySeries", "identity_hash",
]
