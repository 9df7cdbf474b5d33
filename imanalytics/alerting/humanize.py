"""Prometheus' template functions ``humanize``, ``humanizeDuration`` and
``humanizePercentage`` (template/template.go), to predict alert annotations exactly."""

from __future__ import annotations

import math

_BIG = ("k", "M", "G", "T", "P", "E", "Z", "Y")
_SMALL = ("m", "u", "n", "p", "f", "a", "z", "y")


def go_g4(v: float) -> str:
    """Go's ``fmt.Sprintf("%.4g", v)``."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return f"{v:.4g}"


def humanize(v: float) -> str:
    if v == 0 or not math.isfinite(v):
        return go_g4(v)
    if abs(v) >= 1:
        prefix = ""
        for p in _BIG:
            if abs(v) < 1000:
                break
            prefix, v = p, v / 1000
        return f"{go_g4(v)}{prefix}"
    v, prefix = _scale_small(v)
    return f"{go_g4(v)}{prefix}"


def humanize_duration(v: float) -> str:
    if not math.isfinite(v):
        return go_g4(v)
    if v == 0:
        return f"{go_g4(v)}s"
    if abs(v) >= 1:
        return _clock(v)
    v, prefix = _scale_small(v)
    return f"{go_g4(v)}{prefix}s"


def humanize_percentage(v: float) -> str:
    return f"{go_g4(v * 100)}%"


def _clock(v: float) -> str:
    sign = "-" if v < 0 else ""
    v = abs(v)
    whole = int(v)
    seconds, minutes = whole % 60, (whole // 60) % 60
    hours, days = (whole // 3600) % 24, whole // 86400
    if days:
        return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
    if hours:
        return f"{sign}{hours}h {minutes}m {seconds}s"
    if minutes:
        return f"{sign}{minutes}m {seconds}s"
    return f"{sign}{go_g4(v)}s"


def _scale_small(v: float) -> tuple[float, str]:
    prefix = ""
    for p in _SMALL:
        if abs(v) >= 1:
            break
        prefix, v = p, v * 1000
    return v, prefix


FUNCTIONS = {"humanize": humanize, "humanizeDuration": humanize_duration,
             "humanizePercentage": humanize_percentage}
