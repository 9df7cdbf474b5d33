"""Prometheus as the oracle: run a range query on the sandbox server and compare it with the
local evaluator's frame point by point."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import requests

from imanalytics.frames import parse_series
from imanalytics.promql import PromQLError, evaluate
from imanalytics.samples import label_key

REL_TOL = 1e-9


class ServerError(Exception):
    """Prometheus rejected or failed the query."""


def against_server(url: str, data, expr: str, start_ms: int, end_ms: int, step_ms: int,
                   **options) -> tuple[dict, list[str]] | None:
    """`expr` over one grid on the server at `url` and locally over `data` (`options` go to
    `evaluate`): the server's series and how the local frame differs (empty: equal). None
    when the server refuses `expr`; the local evaluator must then refuse it too."""
    seconds = start_ms / 1000, end_ms / 1000, step_ms / 1000
    try:
        served = query_range(url, expr, start_ms, end_ms, step_ms)
    except ServerError:
        with pytest.raises(PromQLError):
            evaluate(expr, data, *seconds, **options)
        return None
    return served, compare(evaluate(expr, data, *seconds, **options), served)


def query_range(url: str, expr: str, start_ms: int, end_ms: int, step_ms: int) -> dict:
    """Series key -> {timestamp ms: value} as /api/v1/query_range returns them."""
    reply = requests.get(f"{url}/api/v1/query_range", timeout=60, params={
        "query": expr, "start": _seconds(start_ms), "end": _seconds(end_ms),
        "step": _seconds(step_ms)})
    body = reply.json()
    if body.get("status") != "success":
        raise ServerError(f"{body.get('errorType')}: {body.get('error')}")
    out = {}
    for item in body["data"]["result"]:
        points = {round(float(ts) * 1000): float(v) for ts, v in item["values"]}
        out[label_key(item["metric"])] = points
    return out


def _seconds(ms: int) -> str:
    return f"{ms // 1000}.{ms % 1000:03d}"


def same_value(local: float, remote: float) -> bool:
    if math.isnan(local) or math.isnan(remote):
        return math.isnan(local) and math.isnan(remote)
    if local == remote:
        return True
    return abs(local - remote) <= REL_TOL * max(abs(local), abs(remote))


def compare(frame: pd.DataFrame, served: dict) -> list[str]:
    """Differences between a local wide frame and the server's series (empty when equal)."""
    problems: list[str] = []
    stamps = frame.index.as_unit("ms").asi8.tolist()
    local = {label_key(parse_series(c)): frame[c].to_numpy() for c in frame.columns}
    for key, points in served.items():
        if key not in local:
            problems.append(f"missing series {dict(key)}")
            continue
        column = local[key]
        for i, ts in enumerate(stamps):
            if ts in points:
                if not same_value(column[i], points[ts]):
                    problems.append(f"{dict(key)} at {ts}: local {column[i]!r} != "
                                    f"server {points[ts]!r}")
            elif not math.isnan(column[i]):
                problems.append(f"{dict(key)} at {ts}: local {column[i]!r}, server no point")
        if len(problems) > 20:
            break
    for key, column in local.items():
        if key not in served and not np.isnan(column).all():
            problems.append(f"extra series {dict(key)}")
    return problems


def bit_exact(frame: pd.DataFrame, served: dict) -> bool:
    stamps = frame.index.as_unit("ms").asi8.tolist()
    for c in frame.columns:
        points = served.get(label_key(parse_series(c)), {})
        for i, ts in enumerate(stamps):
            if ts in points and not (frame[c].iloc[i] == points[ts] or (
                    math.isnan(points[ts]) and math.isnan(frame[c].iloc[i]))):
                return False
    return True
