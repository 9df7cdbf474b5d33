"""Pulls from Prometheus into pandas: range, raw and instant queries, chunked, retried, cached.

`PromSource` uses `prometheus_api_client.PrometheusConnect` as its transport (session, auth,
headers, TLS) and parses the API's JSON itself, straight into numpy, which is several times
faster and lighter than the client's DataFrame helpers.

Times accept `datetime`, `pd.Timestamp`, ISO strings, epoch seconds and ``"now-7d"``-style
relative forms; naive datetimes are UTC. Steps and windows are Prometheus durations
(``"15s"``, ``"1h30m"``) or timedeltas. See `imanalytics.timeparse`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

import numpy as np
import pandas as pd
import requests
from prometheus_api_client import PrometheusConnect

from ..cache import RangeCache
from ..frames import by_labels, to_long, wide_frame
from ..samples import Series, format_series
from ..timeparse import duration_ms, format_seconds, now_ms, to_millis
from .chunking import RangePulls
from .credentials import (
    URL_ENV,
    _bearer_token,
    _connect,
    _is_loopback,
    _request_headers,
    _secret_values,
    _split_credentials,
)
from .engines import Engine, detect, export_raw, for_version
from .errors import QueryError, SourceError, _short
from .http import Transport
from .pool import Pool
from .raw import RawPulls, _merge_raw, _raw_spans
from .replies import (
    _check_order,
    _instant_value,
    _is_labelset,
    _refuse_histograms,
    _result,
    _strings,
)
from .stream import MAX_BLOCK

# Prometheus refuses a query_range whose (end - start) / step exceeds 11,000.
MAX_POINTS = 11_000
# Defaults of the guards: a whole pull's wall-clock budget, and points per series per pull.
DEADLINE_S = 300.0
MAX_RANGE_POINTS = 5_000_000


class PromSource(RangePulls, RawPulls, Transport, Pool):
    """A Prometheus server to pull from.

    Parameters
    ----------
    url: base URL (``http://host:9090``, may include a path prefix); default: ``$PROMETHEUS_URL``.
        ``user:password@`` in the URL is moved to basic auth and never shown.
    headers: extra HTTP headers (e.g. ``X-Scope-OrgID``); values are treated as secrets.
    basic_auth: ``(user, password)``.
    bearer_token, bearer_token_file: sent as ``Authorization: Bearer``; default from
        ``$IMANALYTICS_BEARER_TOKEN`` or the file named by ``$IMANALYTICS_BEARER_TOKEN_FILE``
        when no other credentials are given. The file is read once, here.
    ca_bundle: PEM file of CAs to trust; client_cert: PEM path or ``(cert, key)`` paths.
    verify: TLS certificate verification (on by default).
    timeout: HTTP timeout per request in seconds (connecting, and each wait for bytes);
        query_timeout: Prometheus' own evaluation timeout (``"30s"``), sent with every query.
    deadline: wall-clock seconds one pull (one call of `range`, `raw`, `instant`, ...) may
        take in all, retries and waits included (default 300; None: no deadline). A reply
        that trickles in, or a ``Retry-After`` past it, ends the pull with `DeadlineExceeded`.
    retries, backoff: extra attempts on connection errors, broken transfers, 5xx and 429,
        waiting ``backoff * 2**n`` seconds (or the server's ``Retry-After``).
    max_workers: concurrent requests for chunked pulls.
    max_series: refuse expressions returning more series than this (`TooManySeries`).
        None skips the series count, and with it the split of big pulls by series.
    max_points: points per series per range request (Prometheus allows 11,000 at most).
    max_range_points: points per series one `range` pull may hold (default 5,000,000, a
        year at a 7 s step); larger grids are refused at once with `TooManyPoints`.
    max_samples: samples per request (range: points x series; raw: stored samples). Replies
        are parsed as they arrive, straight into the frame (range) or per-series arrays
        (raw), so one costs a small block of memory whatever its size. A range pull of a
        selector above the request size is split by series (on one label's values, found
        with one ``series`` call), so each series is read once; other expressions are split
        by time.
    cache: a directory (or `RangeCache`) caching `range` pulls, keyed by server, expression,
        step and the identity (headers and a one-way hash of the credentials), so tenants
        and users never share entries; offline: serve only from it.
    progress: None shows a bar on multi-chunk pulls when stderr is a terminal; True always;
        False never.
    compress: ask for gzip replies. Default: yes, except on loopback, where compressing
        costs the server more time than the transfer it saves.
    version: the server's Prometheus version, when ``/api/v1/status/buildinfo`` does not give
        it (e.g. a proxy or a compatible store). Decides raw-pull window edges.
    """

    def __init__(self, url: str | None = None, *, headers: dict[str, str] | None = None,
                 basic_auth: tuple[str, str] | None = None, bearer_token: str | None = None,
                 bearer_token_file: str | os.PathLike | None = None,
                 ca_bundle: str | os.PathLike | None = None,
                 client_cert: str | os.PathLike | tuple[str, str] | None = None,
                 verify: bool = True, timeout: float = 60.0,
                 query_timeout: str | pd.Timedelta | None = None,
                 deadline: float | None = DEADLINE_S, retries: int = 3,
                 backoff: float = 0.5, max_workers: int = 4, max_series: int | None = 10_000,
                 max_points: int = MAX_POINTS, max_samples: int = 200_000,
                 max_range_points: int = MAX_RANGE_POINTS,
                 cache: str | os.PathLike | RangeCache | None = None, offline: bool = False,
                 progress: bool | None = None, compress: bool | None = None,
                 version: str | None = None):
        self.url, url_auth = _split_credentials(url or os.environ.get(URL_ENV) or "")
        basic_auth = basic_auth or url_auth
        token = _bearer_token(bearer_token, bearer_token_file, basic_auth, headers)
        self._secrets = _secret_values(headers or {}, basic_auth, token)
        self._identity = (dict(headers or {}), basic_auth, token)
        gzip = not _is_loopback(self.url) if compress is None else compress
        self._headers = _request_headers(headers or {}, token, gzip)
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.deadline, self.query_timeout = _waits(deadline, query_timeout)
        self.max_workers, self.max_series = max(1, max_workers), max_series
        self.max_points = min(max(1, max_points), MAX_POINTS)
        self.max_samples = max(1, max_samples)
        self.max_range_points = max(1, max_range_points)
        self.cache = RangeCache(cache) if isinstance(cache, str | os.PathLike) else cache
        self.offline, self.progress = offline, progress
        if offline and self.cache is None:
            raise SourceError("offline=True needs a cache (PromSource(..., cache=DIR))")
        self._shown = {"basic_auth": basic_auth is not None, "bearer_token": bool(token),
                       "headers": sorted(headers or {})}
        self._client = _connect(self.url, self._headers, basic_auth, verify, ca_bundle,
                                client_cert, timeout, self.max_workers)
        self._version, self._engine = version, None
        self._streams = True  # until a reply shows this server writes another form
        self._version_lock = threading.Lock()

    # -- public API ---------------------------------------------------------------------

    @property
    def session(self) -> requests.Session:
        """The transport's `requests` session (add hooks or proxies here)."""
        return self._client._session

    @property
    def client(self) -> PrometheusConnect:
        return self._client

    @property
    def engine(self) -> Engine:
        """The query engine behind the URL (`engines.detect`, asked once; see `version`)."""
        with self._version_lock:
            if self._engine is None:
                with self._pulling("/api/v1/status/buildinfo"):
                    self._engine = (for_version(self._version) if self._version
                                    else detect(self))
        return self._engine

    @property
    def version(self) -> str:
        """The engine's version ("" when it does not report one)."""
        return self.engine.version

    def range(self, expr: str, start, end="now", step="1m", columns: str = "series"
              ) -> pd.DataFrame:
        """`expr` evaluated on the grid ``start, start + step, ... <= end`` as a wide frame.

        One float64 column per series (named by its label set, see `frames.labels_of`), a
        UTC index named ``timestamp``; NaN where a series has no value. Times may be naive
        datetimes (taken as UTC), aware ones, ISO strings, epoch seconds or ``"now-7d"``;
        relative starts are floored to a multiple of the step so repeated pulls share a grid
        (and the cache). Long ranges are split on the grid into concurrent requests.
        ``columns="labels"`` names columns by a `MultiIndex` of labels (`frames.by_labels`).
        """
        if columns not in ("series", "labels"):
            raise ValueError(f"columns must be 'series' or 'labels' (got {columns!r})")
        grid = self._grid(start, end, step, expr)
        with self._pulling(expr):
            if self.cache is None:
                frame = self._pull_range(expr, grid)
            else:
                frame = self._cached_range(expr, grid)
        return by_labels(frame) if columns == "labels" else frame

    def range_long(self, expr: str, start, end="now", step="1m") -> pd.DataFrame:
        """`range` in long form: ``timestamp, value`` plus one categorical column per label."""
        return to_long(self.range(expr, start, end, step))

    def raw(self, selector: str, start, end="now") -> list[Series]:
        """Every stored sample of `selector` with ``start <= t <= end``, at native timestamps.

        `selector` is a vector selector (``name{label="v"}``). Pulled as range-vector
        instant queries in chunks of at most ``max_samples`` samples; chunk edges follow the
        server's window semantics (2.x closed, 3.x left-open), so none is lost or repeated.
        """
        now = now_ms()
        first, last = to_millis(start, now), to_millis(end, now)
        if last <= first:
            raise SourceError(f"raw pull of {_short(selector)}: end must be after start")
        with self._pulling(selector):
            if self.engine.exports_raw:
                return export_raw(self, selector, first, last)
            series, samples = self._raw_size(selector, first, last)
            self._check_series(selector, series)
            spans = _raw_spans(first, last, samples, self.max_samples)
            # A raw result holds twice a frame's bytes per sample and its pieces are copied
            # out of each block: blocks are a small share of it at their largest.
            parts = self._map(lambda span: self._raw_chunk(selector, span, MAX_BLOCK), spans,
                              selector)
        return _merge_raw(parts, selector)

    def instant(self, expr: str, at="now") -> pd.DataFrame:
        """`expr` at one instant as a one-row wide frame (a scalar is the column ``{}``)."""
        t = to_millis(at)
        with self._pulling(expr):
            data = self._api("/api/v1/query", self._query_params(expr, time=format_seconds(t)),
                             expr)
        if isinstance(data, dict) and data.get("resultType") in ("matrix", "string"):
            raise QueryError(expr, "result", f"a {data['resultType']} is not a series value "
                             "(use raw() for range vectors)")
        kind, result = _result(data, expr, "vector", "scalar")
        if kind == "vector":
            _refuse_histograms(result, expr)
            labelsets = [item["metric"] for item in result]
            values = [_instant_value(item.get("value"), expr) for item in result]
        else:
            labelsets, values = [{}], [_instant_value(result, expr)]
        return wide_frame(np.array([t]), labelsets, np.array([values]))

    def series(self, match: str | Sequence[str], start="now-1h", end="now") -> pd.DataFrame:
        """Label sets of the series matching `match` in the range, one row each (as `labels_of`)."""
        matches = [match] if isinstance(match, str) else list(match)
        now = now_ms()
        params = {"match[]": matches, "start": format_seconds(to_millis(start, now)),
                  "end": format_seconds(to_millis(end, now))}
        what = " or ".join(matches)
        _check_order(params.get("start"), params.get("end"), what)
        with self._pulling(what):
            found = self._api("/api/v1/series", params, what)
        if not isinstance(found, list) or not all(_is_labelset(r) for r in found):
            raise QueryError(what, "reply", "the series list is not a list of label sets")
        rows = sorted(found, key=format_series)
        return pd.DataFrame(rows, index=pd.Index([format_series(r) for r in rows], dtype=object))

    def label_values(self, label: str, match: str | Sequence[str] | None = None,
                     start=None, end=None) -> list[str]:
        """Values `label` takes (optionally among series matching `match`, within a range)."""
        with self._pulling(label):
            return _strings(self._api(f"/api/v1/label/{label}/values",
                                      self._meta_params(match, start, end, label), label), label)

    def label_names(self, match: str | Sequence[str] | None = None, start=None,
                    end=None) -> list[str]:
        with self._pulling("/api/v1/labels"):
            return _strings(self._api("/api/v1/labels", self._meta_params(match, start, end)),
                            "/api/v1/labels")

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> PromSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        parts = [repr(self.url)]
        if self._shown["basic_auth"]:
            parts.append("basic_auth=***")
        if self._shown["bearer_token"]:
            parts.append("bearer_token=***")
        if self._shown["headers"]:
            parts.append("headers={" + ", ".join(f"{k!r}: ***" for k in self._shown["headers"])
                         + "}")
        if self.cache is not None:
            parts.append(f"cache={self.cache!r}")
        if self.offline:
            parts.append("offline=True")
        return f"PromSource({', '.join(parts)})"

    def _repr_html_(self) -> str:
        from ..display import source_html

        return source_html(self)


def _waits(deadline, query_timeout) -> tuple[float | None, int | None]:
    """The pull deadline (s) and the server's evaluation timeout (ms); positive or None."""
    if deadline is not None and not deadline > 0:
        raise SourceError(f"deadline must be a positive number of seconds (got {deadline!r})")
    ms = None if query_timeout is None else duration_ms(query_timeout)
    if ms is not None and ms <= 0:
        raise SourceError(f"query_timeout must be positive (got {query_timeout!r})")
    return deadline, ms
