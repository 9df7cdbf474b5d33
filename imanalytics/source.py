"""Pulls from Prometheus into pandas: range, raw and instant queries, chunked, retried, cached.

`PromSource` uses `prometheus_api_client.PrometheusConnect` as its transport (session, auth,
headers, TLS) and parses the API's JSON itself, straight into numpy, which is several times
faster and lighter than the client's DataFrame helpers.

Times accept `datetime`, `pd.Timestamp`, ISO strings, epoch seconds and ``"now-7d"``-style
relative forms; naive datetimes are UTC. Steps and windows are Prometheus durations
(``"15s"``, ``"1h30m"``) or timedeltas. See `imanalytics.timeparse`.
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import email.utils
import gc
import hashlib
import ipaddress
import json
import logging
import os
import random
import re
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from urllib.parse import quote, unquote, urlencode, urljoin, urlsplit, urlunsplit

import numpy as np
import pandas as pd
import requests
import urllib3
from prometheus_api_client import PrometheusConnect
from requests.adapters import HTTPAdapter
from tqdm import tqdm

from .cache import CacheMiss, RangeCache, combine
from .deadline import pulling, read_body, remaining, spent, watch_pools
from .engines import Engine, detect, export_raw, for_version, trim
from .errors import ImanalyticsError
from .frames import (
    Grid,
    MalformedReply,
    by_labels,
    grid_block,
    parse_reply,
    refuse_repeats,
    time_index,
    to_long,
    wide_frame,
)
from .samples import Series, format_series
from .timeparse import duration_ms, format_seconds, is_relative, now_ms, to_millis

log = logging.getLogger(__name__)

URL_ENV = "PROMETHEUS_URL"
TOKEN_ENV = "IMANALYTICS_BEARER_TOKEN"
TOKEN_FILE_ENV = "IMANALYTICS_BEARER_TOKEN_FILE"
# Prometheus refuses a query_range whose (end - start) / step exceeds 11,000.
MAX_POINTS = 11_000
MAX_BACKOFF_S = 30.0
MAX_RETRY_AFTER_S = 300.0
# Defaults of the guards: a whole pull's wall-clock budget, and points per series per pull.
DEADLINE_S = 300.0
MAX_RANGE_POINTS = 5_000_000
MAX_REDIRECTS = 5
# Prometheus error types the query itself caused: asking again gives the same answer.
_FINAL_ERRORS = {"bad_data", "execution", "timeout", "canceled", "not_found", "not_acceptable"}
_LONG_URL = 4000


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


class PromSource:
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
    max_points: points per series per range request (Prometheus allows 11,000 at most).
    max_range_points: points per series one `range` pull may hold (default 5,000,000, a
        year at a 7 s step); larger grids are refused at once with `TooManyPoints`.
    max_samples: samples per request (range: points x expected series; raw: stored samples),
        which bounds the memory of a reply in flight.
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
                 max_points: int = MAX_POINTS, max_samples: int = 25_000,
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
        if deadline is not None and not deadline > 0:
            raise SourceError(f"deadline must be a positive number of seconds (got {deadline!r})")
        self.deadline = deadline
        self.query_timeout = None if query_timeout is None else duration_ms(query_timeout)
        if self.query_timeout is not None and self.query_timeout <= 0:
            raise SourceError(f"query_timeout must be positive (got {query_timeout!r})")
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
            parts = self._map(lambda span: self._raw_chunk(selector, span), spans, selector)
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
        from .display import source_html

        return source_html(self)

    # -- range pulls --------------------------------------------------------------------

    def _grid(self, start, end, step, expr: str) -> Grid:
        now = now_ms()
        step_ms = duration_ms(step)
        if step_ms <= 0:
            raise SourceError(f"step must be positive (got {step!r})")
        first, last = to_millis(start, now), to_millis(end, now)
        if is_relative(start):
            first -= first % step_ms
        if last < first:
            raise SourceError(f"the range ends before it starts ({start!r} to {end!r})")
        points = (last - first) // step_ms + 1
        if points > self.max_range_points:
            raise TooManyPoints(
                f"{_short(expr)} from {start!r} to {end!r} every {step!r} is {points:,} points "
                f"per series, more than max_range_points={self.max_range_points:,}: use a "
                "shorter range or a longer step, or raise the limit with "
                f"PromSource(..., max_range_points={points})")
        return Grid.spanning(first, last, step_ms)

    def _pull_range(self, expr: str, grid: Grid) -> pd.DataFrame:
        expected = self._expected_series(expr, grid)
        per_chunk = max(1, min(self.max_points, self.max_samples // max(expected, 1)))
        chunks = grid.split(per_chunk)
        seen: set[str] = set()

        def check(block: tuple[list[dict], np.ndarray]) -> None:
            seen.update(format_series(labels) for labels in block[0])
            self._check_series(expr, len(seen))

        blocks = self._map(lambda g: self._range_chunk(expr, g), chunks, expr, check)
        return _assemble(grid, chunks, blocks)

    def _range_chunk(self, expr: str, grid: Grid) -> tuple[list[dict], np.ndarray]:
        params = self._query_params(expr, start=format_seconds(grid.start),
                                    end=format_seconds(grid.end), step=format_seconds(grid.step))
        _, result = _result(self._api("/api/v1/query_range", params, expr), expr, "matrix")
        _refuse_histograms(result, expr)
        try:
            return grid_block(result, grid.start, grid.step, grid.n)
        except ValueError as exc:
            raise QueryError(expr, "result", str(exc)) from None

    def _expected_series(self, expr: str, grid: Grid) -> int:
        """Series `expr` returns at the grid's ends: cheap, and refuses huge pulls early."""
        if self.max_series is None and grid.n <= self.max_points:
            return 1
        ends = [grid.start] if grid.n == 1 else [grid.start, grid.end]
        # The newlines keep a trailing PromQL comment from swallowing the closing brackets.
        count = f"count((\n{expr}\n))"
        try:
            found = self._map(lambda t: self._count(count, t, expr), ends, None)
        except QueryError:
            return 1  # not an instant vector (e.g. a scalar): the pull itself will tell
        expected = max(found)
        self._check_series(expr, expected)
        return expected

    def _count(self, expr: str, t: int, blame: str) -> int:
        """The value of a one-number `expr` at `t` (0 when empty); errors name `blame`."""
        data = self._api("/api/v1/query", self._query_params(expr, time=format_seconds(t)), blame)
        _, result = _result(data, blame, "vector")
        return int(_instant_value(result[0].get("value"), blame)) if result else 0

    def _check_series(self, expr: str, count: int) -> None:
        if self.max_series is not None and count > self.max_series:
            raise TooManySeries(
                f"{_short(expr)} returns {count} series, more than max_series="
                f"{self.max_series}: narrow it with label matchers or aggregate it "
                f"(sum by (...)), or raise the limit with PromSource(..., max_series={count})"
            )

    def _cached_range(self, expr: str, grid: Grid) -> pd.DataFrame:
        entry = self.cache.entry(self.url, expr, grid.step, grid.phase, self.identity)
        cached, gaps = entry.load(grid)
        if gaps and self.offline:
            raise CacheMiss(_miss_message(expr, gaps, self.cache))
        fresh = [self._pull_range(expr, gap) for gap in gaps]
        settled = now_ms() - self.cache.settle_ms
        for gap, frame in zip(gaps, fresh, strict=True):
            entry.store(frame, gap, settled)
        return _on_grid(combine([cached, *fresh]), grid)

    @property
    def identity(self) -> str:
        """Who the server sees: a one-way hash of the headers and credentials ("" for none).

        Cache entries are keyed by it, so two tenants (``X-Scope-OrgID``) or two users of
        one server never share cached data, while the secrets themselves are never stored.
        """
        if not hasattr(self, "_identity_hash"):
            self._identity_hash = identity_hash(*self._identity)
        return self._identity_hash

    # -- raw pulls ----------------------------------------------------------------------

    def _raw_size(self, selector: str, first: int, last: int) -> tuple[int, int]:
        """Series and samples in the range, counted server-side without shipping samples."""
        window = self._window(first, last)
        exprs = [f"count(count_over_time({selector}[{window}ms]))",
                 f"sum(count_over_time({selector}[{window}ms]))"]
        series, samples = self._map(lambda e: self._count(e, last, selector), exprs, None)
        return series, samples

    def _raw_chunk(self, selector: str, span: tuple[int, int]) -> list[Series]:
        first, last = span
        expr = f"{selector}[{self._window(first, last)}ms]"
        data = self._api("/api/v1/query", self._query_params(expr, time=format_seconds(last)),
                         selector)
        if isinstance(data, dict) and data.get("resultType") in ("vector", "scalar", "string"):
            raise QueryError(selector, "result", "raw() needs a vector selector like "
                             "name{label=\"value\"}")
        _, result = _result(data, selector, "matrix")
        _refuse_histograms(result, selector)
        try:
            refuse_repeats(result)
        except ValueError as exc:
            raise QueryError(selector, "result", str(exc)) from None
        return trim([Series(item["metric"], item["t"], item["v"]) for item in result],
                    first, last)

    def _window(self, first: int, last: int) -> int:
        """Range-selector length (ms) that selects exactly ``first <= t <= last`` at ``last``."""
        return last - first + 1 if self._left_open() else last - first

    def _left_open(self) -> bool:
        # An engine of unsure edges gets the wider window; `trim` drops the extra sample.
        return self.engine.left_open is not False

    # -- HTTP ---------------------------------------------------------------------------

    def _query_params(self, expr: str, **params) -> dict:
        params["query"] = expr
        if self.query_timeout is not None:
            params["timeout"] = format_seconds(self.query_timeout)
        return params

    def _meta_params(self, match, start, end, what: str = "/api/v1/labels") -> dict:
        now = now_ms()
        params: dict = {}
        if match is not None:
            params["match[]"] = [match] if isinstance(match, str) else list(match)
        if start is not None:
            params["start"] = format_seconds(to_millis(start, now))
        if end is not None:
            params["end"] = format_seconds(to_millis(end, now))
        _check_order(params.get("start"), params.get("end"), what)
        return params

    def _api(self, path: str, params: dict, expr: str | None = None):
        """GET (POST when long) an API path; its ``data``, or the error it stands for."""
        what = expr or path
        reply = self._send(path, params, what)
        body = self._decode(reply, path, what)
        for text in body.get("warnings") or ():
            warnings.warn(self._scrub(f"Prometheus warning for {_short(what)}: {text}"),
                          PrometheusWarning, stacklevel=4)
        for text in body.get("infos") or ():
            log.info("%s", self._scrub(f"Prometheus note for {_short(what)}: {text}"))
        if "data" not in body:
            raise QueryError(what, "reply", "a success reply without data")
        return body["data"]

    def _send(self, path: str, params: dict, what: str) -> requests.Response:
        failure = ""
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            delay = min(self.backoff * 2 ** (attempt - 1), MAX_BACKOFF_S)
            try:
                reply = self._http(path, params, what)
            except requests.exceptions.SSLError as exc:
                raise ServerUnreachable(self._scrub(
                    f"TLS with Prometheus at {self.url} failed for {_short(what)}: "
                    f"{_reason(exc)} ({_tls_hint(exc, self.session.cert)})")) from None
            except _BROKEN as exc:
                failure = _reason(exc)
            else:
                if not _retryable(reply):
                    return reply
                failure = f"HTTP {reply.status_code} {reply.reason}"
                delay = _retry_after(reply, delay)
            left = remaining()
            if left is not None and left <= 0:  # the deadline cut the transfer
                raise self._overdue(what)
            if attempt < attempts:
                self._wait_budget(delay, what, failure)
                log.info("Prometheus at %s: %s; retry %d/%d in %.1fs", self.url,
                         self._scrub(failure), attempt, self.retries, delay)
                time.sleep(delay * (0.8 + 0.4 * random.random()) if delay else 0)
        raise ServerUnreachable(self._scrub(
            f"Prometheus at {self.url} failed for {_short(what)} after {attempts} attempt"
            f"{'s' if attempts > 1 else ''} in {spent():.1f} s: {failure}"))

    def _http(self, path: str, params: dict, what: str) -> requests.Response:
        """One request, redirects within the server followed, body read within the deadline."""
        url = f"{self.url}{path}"
        long = len(urlencode(params, doseq=True)) > _LONG_URL
        method, query, form = ("POST", None, params) if long else ("GET", params, None)
        log.debug("%s", self._scrub(f"{method} {path} {_describe(params)}"))
        for _ in range(MAX_REDIRECTS + 1):
            reply = self._request(method, url, query, form, what)
            if not reply.is_redirect:
                return read_body(reply, lambda: self._overdue(what))
            url, method, query, form = self._redirect(reply, url, method, query, form, what)
        raise SourceError(f"Prometheus at {self.url} redirected {_short(what)} more than "
                          f"{MAX_REDIRECTS} times")

    def _request(self, method, url, query, form, what) -> requests.Response:
        session = self._client._session
        timeout = self.timeout
        left = remaining()
        if left is not None:
            if left <= 0:
                raise self._overdue(what)
            timeout = min(timeout, left)
        reply = session.request(
            method, url, params=query, data=form, headers=self._client.headers,
            auth=self._client.auth, verify=session.verify, cert=session.cert,
            timeout=timeout, stream=True, allow_redirects=False,
        )
        left = remaining()
        if left is not None and left <= 0:  # the deadline cut the headers short
            reply.close()
            raise self._overdue(what)
        return reply

    def _redirect(self, reply, url, method, query, form, what):
        """Where a redirect leads, refusing other hosts: the tenant header and credentials
        are for this server only, and data from elsewhere would pass for its own."""
        target = urljoin(url, reply.headers.get("Location", ""))
        reply.close()
        if _origin(target) != _origin(self.url):
            raise SourceError(self._scrub(
                f"Prometheus at {self.url} redirected {_short(what)} to another server "
                f"({_origin(target)}); not followed, so credentials and headers stay with "
                "the configured one: give that URL to PromSource if it is the right server"))
        log.info("Prometheus at %s redirected to %s", self.url, urlsplit(target).path)
        if reply.status_code in (301, 302, 303) and method == "POST":
            method, query, form = "GET", form, None
        if urlsplit(target).query:
            query = None
        return target, method, query, form

    def _decode(self, reply: requests.Response, path: str, what: str) -> dict:
        if reply.status_code in (401, 403):
            raise AccessDenied(f"Prometheus at {self.url} refused the request for "
                               f"{_short(what)} (HTTP {reply.status_code} {reply.reason}): "
                               "check the credentials")
        try:
            with _gc_paused():
                body = parse_reply(reply.content)
        except MalformedReply as exc:
            raise QueryError(what, "reply", self._scrub(str(exc))) from None
        except ValueError:
            body = None
        if not isinstance(body, dict) or "status" not in body:
            snippet = reply.text[:80].strip().replace("\n", " ")
            raise SourceError(self._scrub(
                f"{self.url}{path} did not answer like the Prometheus API for {_short(what)} "
                f"(HTTP {reply.status_code}): {snippet!r}"))
        if body["status"] != "success":
            raise QueryError(what, body.get("errorType", "error"),
                             self._scrub(str(body.get("error", ""))))
        return body

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    # -- deadlines ----------------------------------------------------------------------

    def _pulling(self, what: str):
        """The deadline of a pull (calls made inside one pull share it)."""
        return pulling(self.deadline)

    def _wait_budget(self, delay: float, what: str, failure: str) -> None:
        """Refuse a wait that would run past the deadline, rather than sleep into it."""
        left = remaining()
        if left is not None and delay >= left:
            raise self._overdue(what, f"after {self._scrub(failure)} the next retry would wait "
                                f"{delay:.1f} s, past")

    def _overdue(self, what: str, why: str = "it reached") -> DeadlineExceeded:
        return DeadlineExceeded(
            f"pulling {_short(what)} from {self.url} stopped after {spent():.1f} s: {why} "
            f"its deadline of {self.deadline:g} s (raise it with "
            "PromSource(..., deadline=SECONDS))")

    # -- concurrency --------------------------------------------------------------------

    def _map(self, fn: Callable, items: list, desc: str | None,
             check: Callable | None = None) -> list:
        """``[fn(x) for x in items]`` on the thread pool, in order; `check` sees each result."""
        if len(items) == 1:
            result = fn(items[0])
            if check:
                check(result)
            return [result]
        results: list = [None] * len(items)
        bar = self._bar(len(items), desc)
        with ThreadPoolExecutor(min(self.max_workers, len(items))) as pool:
            # Each task runs in a copy of this context, so it shares the pull's deadline.
            futures = {pool.submit(contextvars.copy_context().run, fn, item): i
                       for i, item in enumerate(items)}
            try:
                for future in as_completed(futures):
                    results[futures[future]] = future.result()
                    if check:
                        check(results[futures[future]])
                    bar.update()
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
            finally:
                bar.close()
        return results

    def _bar(self, total: int, desc: str | None) -> tqdm:
        # Automatic bars wait half a second, so quick pulls stay quiet.
        show = self.progress if self.progress is not None else sys.stderr.isatty()
        return tqdm(total=total, desc=_short(desc or "", 40), unit="chunk", leave=False,
                    file=sys.stderr, disable=not (show and desc),
                    delay=0 if self.progress else 0.5)


# -- construction helpers ---------------------------------------------------------------

def _split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """The URL without ``user:password@`` (and trailing slash), and those credentials."""
    if not url:
        raise SourceError(f"no Prometheus URL: pass one or set ${URL_ENV}")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SourceError(f"not a Prometheus URL: {_redact(url)!r} (expected http(s)://host:port)")
    auth = None
    if parts.username is not None:
        auth = (unquote(parts.username), unquote(parts.password or ""))
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", "")), auth


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _redact(url: str) -> str:
    return re.sub(r"//[^/@]*@", "//***@", url)


def _bearer_token(token, token_file, basic_auth, headers) -> str | None:
    if token and basic_auth:
        raise SourceError("give basic_auth or a bearer token, not both")
    if token_file:
        return _read_token(token_file)
    if token:
        return token
    if basic_auth or any(k.lower() == "authorization" for k in headers or {}):
        return None
    if os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV].strip()
    if os.environ.get(TOKEN_FILE_ENV):
        return _read_token(os.environ[TOKEN_FILE_ENV])
    return None


def _read_token(path) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise SourceError(f"cannot read the bearer token file {path}: {exc.strerror}") from None


def _request_headers(headers: dict, token: str | None, gzip: bool) -> dict:
    out = dict(headers)
    if token:
        out["Authorization"] = f"Bearer {token}"
    if not gzip:
        out.setdefault("Accept-Encoding", "identity")
    return out


def _secret_values(headers: dict, basic_auth, token) -> list[str]:
    """Every form a secret can take in text: as given, URL-quoted, and inside the base64 of
    an ``Authorization: Basic`` header (given or built from `basic_auth`)."""
    values = [str(v) for v in headers.values()]
    for value in list(values):
        scheme, _, rest = value.partition(" ")
        if scheme.lower() in ("basic", "bearer") and rest:
            values.append(rest.strip())
            values += _basic_parts(rest.strip())
    if basic_auth:
        user, password = map(str, basic_auth)
        values += [password, base64.b64encode(f"{user}:{password}".encode()).decode()]
    if token:
        values.append(token)
    values += [quote(v, safe="") for v in values]
    # Longest first, so a secret containing another is masked whole.
    return sorted({v for v in values if len(v) >= 3}, key=len, reverse=True)


def _basic_parts(encoded: str) -> list[str]:
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except ValueError:
        return []
    return [password] if password else []


def identity_hash(headers: dict, basic_auth, token) -> str:
    """A one-way digest of who a request speaks for ("" when anonymous).

    PBKDF2, not a bare hash: the digest lands in cache files, and a short password must
    not be recoverable from it by trying guesses quickly.
    """
    if not headers and not basic_auth and not token:
        return ""
    material = json.dumps({"headers": sorted((str(k).lower(), str(v)) for k, v in headers.items()),
                           "basic_auth": list(map(str, basic_auth)) if basic_auth else None,
                           "token": token}, sort_keys=True)
    digest = hashlib.pbkdf2_hmac("sha256", material.encode(), b"imanalytics-cache-identity",
                                 100_000)
    return digest.hex()


def _connect(url, headers, basic_auth, verify, ca_bundle, client_cert, timeout,
             workers) -> PrometheusConnect:
    for path in ([ca_bundle] if ca_bundle else []) + _cert_paths(client_cert):
        if not Path(path).is_file():
            raise SourceError(f"TLS file not found: {path}")
    client = PrometheusConnect(url=url, headers=headers or None, disable_ssl=not verify,
                               auth=tuple(basic_auth) if basic_auth else None, timeout=timeout)
    session = client._session
    session.verify = str(ca_bundle) if (verify and ca_bundle) else bool(verify)
    if client_cert:
        session.cert = (tuple(map(str, client_cert)) if isinstance(client_cert, tuple | list)
                        else str(client_cert))
    # Retries are ours (they honour Retry-After and name the server); the pool fits the workers.
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(10, workers), max_retries=0)
    watch_pools(adapter)
    session.mount(url, adapter)
    return client


def _cert_paths(client_cert) -> list:
    if not client_cert:
        return []
    return list(client_cert) if isinstance(client_cert, tuple | list) else [client_cert]


# -- deadlines and transfers ------------------------------------------------------------

# Failures of the transfer itself (not of the query): retried like 5xx.
_BROKEN = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
           requests.exceptions.ContentDecodingError, urllib3.exceptions.HTTPError)


def _tls_hint(exc: Exception, client_cert) -> str:
    """What to try: trusting the server's CA when its certificate failed, else the client
    certificate (a server requiring one closes or alerts mid-handshake)."""
    if "certificate verify failed" in str(exc).lower():
        return "trust its CA with ca_bundle=..."
    if client_cert:
        return "check that the server trusts the client certificate"
    return "if it requires a client certificate, give client_cert=(cert_path, key_path)"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return f"{parts.scheme}://{parts.hostname}:{port}"


# -- reply checks -----------------------------------------------------------------------

def _result(data, expr: str, *kinds: str) -> tuple[str, list]:
    """``(resultType, result)`` of a query reply, refusing any shape but `kinds`."""
    if not isinstance(data, dict):
        raise QueryError(expr, "reply", f"data is {_kind(data)}, not an object")
    kind, result = data.get("resultType"), data.get("result")
    if kind not in kinds:
        raise QueryError(expr, "reply", f"a {kind!r} result where {' or '.join(kinds)} belongs")
    if kind == "scalar":
        return kind, result
    if not isinstance(result, list):
        raise QueryError(expr, "reply", f"the {kind} result is {_kind(result)}, not a list")
    seen: set[str] = set()
    for item in result:
        if not isinstance(item, dict) or not _is_labelset(item.get("metric")):
            raise QueryError(expr, "reply", f"a {kind} item without a label set: "
                             f"{_short(repr(item), 80)}")
        if kind == "matrix" and "t" not in item and "histograms" not in item:
            raise QueryError(expr, "reply", f"{format_series(item['metric'])} has no values")
        name = format_series(item["metric"])
        if name in seen:
            raise QueryError(expr, "reply", f"the server returned the series {_short(name, 120)} "
                             "twice in one reply")
        seen.add(name)
    return kind, result


def _instant_value(pair, expr: str) -> float:
    if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[1], str)):
        raise QueryError(expr, "reply", f"a sample must be [time, \"value\"], got "
                         f"{_short(repr(pair), 80)}")
    try:
        return float(pair[1])
    except ValueError:
        raise QueryError(expr, "reply", f"not a sample value: {pair[1]!r:.80}") from None


def _is_labelset(value) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


def _strings(values, what: str) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise QueryError(what, "reply", f"expected a list of names, got {_kind(values)}")
    return sorted(values)


def _kind(value) -> str:
    return "null" if value is None else f"a {type(value).__name__}"


def _check_order(start: str | None, end: str | None, what: str) -> None:
    """Refuse an inverted range before any request (`series` and friends)."""
    if start is not None and end is not None and float(end) < float(start):
        raise SourceError(f"{_short(what)}: the range ends before it starts "
                          f"({_iso(int(float(start) * 1000))} to {_iso(int(float(end) * 1000))})")


# -- response helpers -------------------------------------------------------------------

_gc_lock = threading.Lock()
_gc_state = {"users": 0, "was_enabled": False}


@contextlib.contextmanager
def _gc_paused():
    """Pause the cyclic GC while parsing: a reply holds millions of fresh lists, and
    collections triggered by their allocation would rescan them all (4x slower parses).
    They hold no cycles, so nothing is left for the collector once it resumes."""
    with _gc_lock:
        if _gc_state["users"] == 0:
            _gc_state["was_enabled"] = gc.isenabled()
            gc.disable()
        _gc_state["users"] += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_state["users"] -= 1
            if _gc_state["users"] == 0 and _gc_state["was_enabled"]:
                gc.enable()


def _retryable(reply: requests.Response) -> bool:
    if reply.status_code != 429 and reply.status_code < 500:
        return False
    try:
        error_type = json.loads(reply.content).get("errorType")
    except (ValueError, AttributeError):
        return True
    return error_type not in _FINAL_ERRORS


def _retry_after(reply: requests.Response, default: float) -> float:
    value = reply.headers.get("Retry-After")
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return default
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def _reason(exc: Exception) -> str:
    """The innermost cause of a requests error, without its URL."""
    text = str(exc)
    for pattern in (r"\[SSL: \w+\] ([^'\"(]+)", r"(EOF occurred in violation of protocol)",
                    r"\[Errno -?\d+\] ([^'\"(]+)",
                    r"(Read timed out)", r"(Connection refused)", r"(Connection reset by peer)",
                    r"(Connection aborted)",
                    r"(IncompleteRead\(\d+ bytes read, \d+ more expected\))",
                    r"(Connection broken: [A-Za-z]+)", r"(Received response with "
                    r"content-encoding: \w+, but failed to decode it)"):
        match = re.search(pattern, text)
        if match:
            return match.group(1).strip().rstrip(".")
    return type(exc).__name__


def _describe(params: dict) -> str:
    return " ".join(f"{k}={_short(str(v), 120)}" for k, v in params.items())


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _refuse_histograms(result: list[dict], expr: str) -> None:
    if any("histogram" in item or "histograms" in item for item in result):
        raise QueryError(expr, "result", "native histogram samples are not supported; "
                         "query their classic _bucket/_sum/_count series")


def _assemble(grid: Grid, chunks: list[Grid], blocks: list) -> pd.DataFrame:
    """Stitch per-chunk (label sets, matrix) blocks into one wide frame on `grid`."""
    if len(blocks) == 1:
        return wide_frame(grid.times(), *blocks[0])
    columns: dict[str, int] = {}
    labelsets: list[dict] = []
    for labels_in_block, _ in blocks:
        for labels in labels_in_block:
            name = format_series(labels)
            if name not in columns:
                columns[name] = len(labelsets)
                labelsets.append(labels)
    full = np.full((grid.n, len(labelsets)), np.nan, order="F")
    for chunk, (labels_in_block, block) in zip(chunks, blocks, strict=True):
        cols = [columns[format_series(labels)] for labels in labels_in_block]
        row = grid.offset(chunk.start)
        full[row:row + chunk.n, cols] = block
    return wide_frame(grid.times(), labelsets, full)


def _on_grid(frame: pd.DataFrame, grid: Grid) -> pd.DataFrame:
    out = frame.reindex(time_index(grid.times()))
    out.columns = pd.Index(out.columns, dtype=object, name="series")
    return out


def _miss_message(expr: str, gaps: list[Grid], cache: RangeCache) -> str:
    spans = ", ".join(f"{_iso(g.start)} to {_iso(g.end)}" for g in gaps[:3])
    more = f" and {len(gaps) - 3} more" if len(gaps) > 3 else ""
    return (f"offline: {_short(expr)} is not cached in {cache.root} for {spans}{more} "
            f"(step {gaps[0].step // 1000}s); pull it once online")


def _iso(ms: int) -> str:
    return pd.Timestamp(ms, unit="ms", tz="UTC").isoformat()


# -- raw helpers ------------------------------------------------------------------------

def _raw_spans(first: int, last: int, samples: int, budget: int) -> list[tuple[int, int]]:
    """Split ``[first, last]`` (ms, inclusive) into equal spans of about `budget` samples.

    Spans touch without overlapping (next first = previous last + 1) and are at least 2 ms
    long, so every closed window has a positive length.
    """
    count = max(1, min(-(-samples // budget), (last - first + 1) // 2))
    edges = np.linspace(first, last + 1, count + 1).round().astype(np.int64).tolist()
    return [(a, b - 1) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def _merge_raw(parts: list[list[Series]], selector: str) -> list[Series]:
    pieces: dict[str, list[Series]] = {}
    for part in parts:
        for s in part:
            pieces.setdefault(format_series(s.labels), []).append(s)
    out = []
    for name in sorted(pieces):
        chunks = pieces[name]
        t = np.concatenate([c.t for c in chunks]) if len(chunks) > 1 else chunks[0].t
        v = np.concatenate([c.v for c in chunks]) if len(chunks) > 1 else chunks[0].v
        if len(t) > 1 and not (np.diff(t) > 0).all():
            raise QueryError(selector, "result", f"{name}: chunked samples overlap; is the "
                             "server version right (PromSource(..., version=...))?")
        out.append(Series(chunks[0].labels, t, v))
    return out
