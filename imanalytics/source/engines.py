"""Which query engine answers a Prometheus-API URL, and what that means for exact pulls.

Prometheus, Thanos, Mimir and VictoriaMetrics all speak Prometheus' query API, but they
differ where exactness matters: the edges of a range selector (Prometheus 2.x closed,
3.x left-open) and VictoriaMetrics' own ``rate``/``increase``/``delta`` (no extrapolation,
the sample before the window counts). `detect` tells them apart from what the server
answers, with a few bounded requests:

- ``/api/v1/status/buildinfo``: Prometheus and Thanos give a version (Thanos' are 0.x),
  Mimir names itself in ``application``; VictoriaMetrics answers with empty data.
- VictoriaMetrics sets an ``X-Server-Hostname`` header and says so on ``/-/ready``.
- Thanos' querier alone serves ``/api/v1/stores``.

Anything else is an unknown engine: it is used with a warning and conservative raw pulls
(overlapping windows, trimmed), and local evaluation is labelled as Prometheus semantics.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass

import numpy as np
import requests

from ..errors import ImanalyticsError
from ..samples import Series
from .errors import AccessDenied

PROMETHEUS, VICTORIAMETRICS, THANOS, MIMIR, UNKNOWN = (
    "Prometheus", "VictoriaMetrics", "Thanos", "Mimir", "unknown engine")


class EngineError(ImanalyticsError):
    """The URL does not answer like a Prometheus-compatible query API."""


class EngineWarning(UserWarning):
    """The engine could not be identified; pulls use conservative semantics."""


@dataclass(frozen=True)
class Engine:
    """A query engine: its name, version ("" when it does not say) and how it was found."""

    name: str
    version: str = ""
    evidence: str = ""

    @property
    def semantics(self) -> str:
        """Whose PromQL semantics the server computes: "VictoriaMetrics" or "Prometheus"."""
        return VICTORIAMETRICS if self.name == VICTORIAMETRICS else PROMETHEUS

    @property
    def left_open(self) -> bool | None:
        """Whether ``m[d]`` at t excludes t-d; None when unsure (raw pulls then overlap)."""
        if self.name == VICTORIAMETRICS:
            return True
        if self.name == PROMETHEUS:
            major = _major(self.version)
            return None if major is None else major >= 3
        return None

    @property
    def exports_raw(self) -> bool:
        """Stored samples can be read as they are (VictoriaMetrics' ``/api/v1/export``)."""
        return self.name == VICTORIAMETRICS

    def __str__(self) -> str:
        version = f" {self.version}" if self.version else " (version not reported)"
        return f"{self.name}{version if self.name != UNKNOWN else ''}"


def for_version(version: str) -> Engine:
    """The engine a user named by its Prometheus version (``PromSource(version=...)``)."""
    if _major(version) is None:
        raise EngineError(f"cannot read the Prometheus version {version!r}; pass "
                          "PromSource(..., version='2.53.0') or '3.0.0'")
    return Engine(PROMETHEUS, version.lstrip("v"), "given by the caller")

BUILDINFO = "/api/v1/status/buildinfo"


def detect(source) -> Engine:
    """Identify the engine behind `source` (a `PromSource`); every probe has its timeout."""
    reply = source._send(BUILDINFO, {}, BUILDINFO)  # retried, like every API call
    if reply.status_code in (401, 403):
        raise AccessDenied(f"{source.url} refused the request (HTTP {reply.status_code} "
                           f"{reply.reason}): check the credentials")
    body = _json(reply)
    if body is None and _looks_html(reply):
        raise EngineError(
            f"{source.url} answered /api/v1/status/buildinfo with an HTML page (HTTP "
            f"{reply.status_code}), not the Prometheus API: is the URL the query API's "
            "base (e.g. http://host:9090, or Mimir's http://host/prometheus)?")
    if isinstance(body, dict) and body.get("status") == "error":
        source._decode(reply, BUILDINFO, BUILDINFO)  # the server's own error, named
    data = body.get("data") if isinstance(body, dict) else None
    if isinstance(data, dict) and str(data.get("application", "")).lower().endswith("mimir"):
        return Engine(MIMIR, str(data.get("version", "")), "buildinfo application")
    if reply.headers.get("X-Server-Hostname") is not None:
        return Engine(VICTORIAMETRICS, _vm_version(source), "X-Server-Hostname header")
    if isinstance(data, dict) and data.get("version"):
        version = str(data["version"]).lstrip("v")
        if _major(version) == 0 and _serves(source, "/api/v1/stores"):
            return Engine(THANOS, version, "buildinfo and /api/v1/stores")
        return Engine(PROMETHEUS, version, "buildinfo")
    if _vm_ready(source):
        return Engine(VICTORIAMETRICS, _vm_version(source), "/-/ready")
    why = (f"no /api/v1/status/buildinfo (HTTP {reply.status_code})" if body is None
           else "its buildinfo gives no version")
    engine = Engine(UNKNOWN, "", why)
    warnings.warn(f"{source.url}: unknown query engine ({why}); using conservative "
                  "semantics (overlapping raw windows, local evaluation as Prometheus 2.x). "
                  "Pass PromSource(..., version='2.53.0') if it is a Prometheus.",
                  EngineWarning, stacklevel=3)
    return engine


def trim(series: list[Series], first: int, last: int) -> list[Series]:
    """Keep samples with ``first <= t <= last`` (raw chunks of an engine of unsure edges)."""
    out = []
    for s in series:
        keep = (s.t >= first) & (s.t <= last)
        if keep.all():
            out.append(s)
        elif keep.any():
            out.append(Series(s.labels, s.t[keep], s.v[keep]))
    return out


def export_raw(source, selector: str, first: int, last: int) -> list[Series]:
    """Stored samples of `selector` in ``[first, last]`` ms from VictoriaMetrics' export API."""
    params = {"match[]": selector, "start": f"{first / 1000:.3f}", "end": f"{last / 1000:.3f}"}
    reply = _get(source, "/api/v1/export", params)
    if reply.status_code != 200:
        raise EngineError(f"{source.url}/api/v1/export refused {selector!r} (HTTP "
                          f"{reply.status_code}): {reply.text[:200].strip()}")
    merged: dict[tuple, list[Series]] = {}
    for line in reply.content.splitlines():
        if line.strip():
            s = _export_line(line, selector)
            merged.setdefault(s.key, []).append(s)
    source._check_series(selector, len(merged))  # the same max_series as other pulls
    return [_join(parts) for _, parts in sorted(merged.items())]


def _export_line(line: bytes, selector: str) -> Series:
    try:
        item = json.loads(line)
        t = np.asarray(item["timestamps"], dtype=np.int64)
        v = np.asarray([np.nan if x is None else x for x in item["values"]], dtype=np.float64)
        labels = {str(k): str(x) for k, x in item["metric"].items()}
    except (ValueError, KeyError, TypeError) as exc:
        raise EngineError(f"export of {selector!r}: unreadable line ({exc}): "
                          f"{line[:120]!r}") from None
    return Series(labels, t, v)


def _join(parts: list[Series]) -> Series:
    if len(parts) == 1 and (np.diff(parts[0].t) > 0).all():
        return parts[0]
    t = np.concatenate([p.t for p in parts])
    v = np.concatenate([p.v for p in parts])
    t, first = np.unique(t, return_index=True)  # export may split a series in blocks
    return Series(parts[0].labels, t, v[first])


def _get(source, path: str, params: dict | None = None) -> requests.Response:
    try:
        return source.session.get(f"{source.url}{path}", params=params or {},
                                  headers=source.client.headers, auth=source.client.auth,
                                  timeout=source.timeout, allow_redirects=False)
    except requests.RequestException as exc:
        raise EngineError(f"{source.url}{path} did not answer: "
                          f"{type(exc).__name__}") from None


def _json(reply: requests.Response):
    try:
        return json.loads(reply.content)
    except ValueError:
        return None


def _looks_html(reply: requests.Response) -> bool:
    kind = reply.headers.get("Content-Type", "")
    return "html" in kind or reply.text.lstrip()[:1] == "<"


def _vm_ready(source) -> bool:
    try:
        reply = _get(source, "/-/ready")
    except EngineError:
        return False
    return "VictoriaMetrics" in reply.text[:200]


def _vm_version(source) -> str:
    """``vm_app_version``'s short version from /metrics; "" when the build does not say."""
    try:
        reply = _get(source, "/metrics")
    except EngineError:
        return ""
    match = re.search(r'vm_app_version\{[^}]*short_version="([^"]*)"', reply.text)
    return match.group(1) if match else ""


def _serves(source, path: str) -> bool:
    try:
        body = _json(_get(source, path))
    except EngineError:
        return False
    return isinstance(body, dict) and body.get("status") == "success"


def _major(version: str) -> int | None:
    match = re.match(r"v?(\d+)\.", version or "")
    return int(match.group(1)) if match else None
