"""Alert labels and annotations expanded as Prometheus expands them (text/template with
its template functions, template/template.go), to predict what an alert says exactly.

The subset alert rules use: ``$labels.x``, ``$value`` (plain, piped to a humanize function
or through ``printf``), a quoted number piped to a function, and ``with $labels.x``.
"""

from __future__ import annotations

import math
import re

import numpy as np

_BIG = ("k", "M", "G", "T", "P", "E", "Z", "Y")
_SMALL = ("m", "u", "n", "p", "f", "a", "z", "y")


def go_g4(v: float) -> str:
    """Go's ``fmt.Sprintf("%.4g", v)``."""
    return _non_finite(v) or f"{v:.4g}"


def _non_finite(v: float) -> str | None:
    """NaN and the infinities as Go's fmt prints them; None for a finite number."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return None


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

_VALUE_OR_LABEL = re.compile(r"\{\{\s*(\$labels\.(\w+)|\$value\s*\|\s*(\w+))\s*\}\}")
_PRINTF = re.compile(r'\{\{\s*printf\s+"(%[-+ #0]*\d*(?:\.\d+)?[dfegsv])"\s+\$value\s*\}\}')
_PIPED_LITERAL = re.compile(r'\{\{\s*"([^"]*)"\s*\|\s*(\w+)\s*\}\}')
_PLAIN_VALUE = re.compile(r"\{\{\s*\$value\s*\}\}")
_WITH_LABEL = re.compile(r"\{\{\s*with\s+\$labels\.(\w+)\s*(-?)\}\}(.*?)\{\{(-?)\s*end\s*\}\}",
                         re.DOTALL)
_DOT = re.compile(r"\{\{-?\s*\.\s*-?\}\}")


def expand(template: str, labels: dict[str, str], value: float) -> str:
    """`template` expanded for a sample with `labels` and `value`; `ValueError` names a
    construct or function outside the subset (see module doc)."""
    text = _WITH_LABEL.sub(lambda m: _with(m, labels), template)
    text = _PLAIN_VALUE.sub(lambda m: go_value(value), text)
    text = _PRINTF.sub(lambda m: _printf(m.group(1), value), text)
    text = _PIPED_LITERAL.sub(lambda m: _call(m.group(2), float(m.group(1)), template), text)

    def one(match: re.Match) -> str:
        if match.group(2):
            return labels.get(match.group(2), "<no value>")
        return _call(match.group(3), value, template)

    text = _VALUE_OR_LABEL.sub(one, text)
    if "{{" in text:
        raise ValueError(f"unsupported template construct in {template!r}")
    return text


def _call(function: str, value: float, template: str) -> str:
    if function not in FUNCTIONS:
        raise ValueError(f"template function {function!r} is not supported in {template!r}")
    return FUNCTIONS[function](value)


def _with(match: re.Match, labels: dict) -> str:
    """{{ with $labels.x -}} ... {{ . }} ... {{- end }}: the body where the label is set."""
    value = labels.get(match.group(1), "")
    if not value:
        return ""
    body = match.group(3)
    if match.group(2):
        body = body.lstrip()
    if match.group(4):
        body = body.rstrip()
    return _DOT.sub(value, body)


def _printf(spec: str, value: float) -> str:
    if spec[-1] == "v":
        return go_value(value)
    if spec[-1] == "d":
        return spec % int(value) if math.isfinite(value) else f"%!d(float64={go_value(value)})"
    if not math.isfinite(value):
        return go_value(value)
    return spec % value


def go_value(v: float) -> str:
    """A float as Go's text/template prints it (fmt %v: shortest, %e from 1e+06)."""
    if not math.isfinite(v):
        return _non_finite(v)
    if v == 0:
        return "0"
    exponent = int(np.format_float_scientific(v, unique=True).split("e")[1])
    if exponent < -4 or exponent >= 6:
        mantissa, exp = np.format_float_scientific(v, unique=True, trim="-").split("e")
        return f"{mantissa.rstrip('.')}e{int(exp):+03d}"
    return np.format_float_positional(v, unique=True, trim="-")
