"""Sending API requests: GET or POST, retries and backoff, redirects, decoding, deadlines."""

from __future__ import annotations

import contextlib
import email.utils
import gc
import json
import logging
import random
import re
import threading
import time
import warnings
from urllib.parse import urlencode, urljoin, urlsplit

import requests
import urllib3

from ..deadline import pulling, read_body, remaining, spent
from ..frames import MalformedReply, parse_reply
from ..timeparse import format_seconds, now_ms, to_millis
from .credentials import _tls_hint
from .errors import (
    AccessDenied,
    DeadlineExceeded,
    PrometheusWarning,
    QueryError,
    ServerUnreachable,
    SourceError,
    _short,
)
from .replies import _check_order
from .stream import BadSamples, MatrixStream, Sink, Unstreamable

log = logging.getLogger("imanalytics.source")


MAX_BACKOFF_S = 30.0
MAX_RETRY_AFTER_S = 300.0
MAX_REDIRECTS = 5
# Prometheus error types the query itself caused: asking again gives the same answer.
_FINAL_ERRORS = {"bad_data", "execution", "timeout", "canceled", "not_found", "not_acceptable"}
_LONG_URL = 4000


class Transport:
    """The request side of `PromSource`: one API call, retried and within the pull's deadline."""

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

    def _api(self, path: str, params: dict, expr: str | None = None, sink=None):
        """GET (POST when long) an API path; its ``data``, or the error it stands for.
        A successful reply's bytes go to `sink` as they arrive (see `read_body`)."""
        what = expr or path
        reply = self._send(path, params, what, sink)
        body = self._decode(reply, path, what)
        for text in body.get("warnings") or ():
            warnings.warn(self._scrub(f"Prometheus warning for {_short(what)}: {text}"),
                          PrometheusWarning, stacklevel=4)
        for text in body.get("infos") or ():
            log.info("%s", self._scrub(f"Prometheus note for {_short(what)}: {text}"))
        if "data" not in body:
            raise QueryError(what, "reply", "a success reply without data")
        return body["data"]

    def _api_streamed(self, path: str, params: dict, expr: str, sink: Sink, block: int):
        """`_api` for a matrix reply whose samples stream into `sink` as they arrive. A reply
        in another shape is asked for again and read whole, and so are this source's later
        ones: a server (or proxy) that writes one that way writes them all so."""
        if self._streams:
            stream = MatrixStream(sink, block)
            try:
                return self._api(path, params, expr, stream)
            except Unstreamable as exc:
                stream.undo()
                self._streams = False
                log.info("%s", self._scrub(f"Prometheus at {self.url}: replies are not in its "
                                           f"usual form ({exc}); reading them whole"))
            except BadSamples as exc:
                raise QueryError(expr, "result", str(exc)) from None
        return self._api(path, params, expr)

    def _send(self, path: str, params: dict, what: str, sink=None) -> requests.Response:
        failure = ""
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            delay = min(self.backoff * 2 ** (attempt - 1), MAX_BACKOFF_S)
            try:
                reply = self._http(path, params, what, sink)
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

    def _http(self, path: str, params: dict, what: str, sink=None) -> requests.Response:
        """One request, redirects within the server followed, body read within the deadline."""
        url = f"{self.url}{path}"
        long = len(urlencode(params, doseq=True)) > _LONG_URL
        method, query, form = ("POST", None, params) if long else ("GET", params, None)
        log.debug("%s", self._scrub(f"{method} {path} {_describe(params)}"))
        for _ in range(MAX_REDIRECTS + 1):
            reply = self._request(method, url, query, form, what)
            if not reply.is_redirect:
                return read_body(reply, lambda: self._overdue(what), sink)
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


# Failures of the transfer itself (not of the query): retried like 5xx.
_BROKEN = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
           requests.exceptions.ContentDecodingError, urllib3.exceptions.HTTPError)



def _origin(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return f"{parts.scheme}://{parts.hostname}:{port}"



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

