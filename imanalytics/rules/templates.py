"""Alert labels and annotations expanded as Prometheus expands them (text/template with
its template functions, template/template.go), to predict what an alert says exactly.

The template language is the subset of Go's text/template in `gotemplate` (pipelines,
variables, ``if``/``with``/``range``), with Prometheus' variables (``$labels``, ``$value``,
``.Labels``, ``.Value``) and functions: the humanize family (with ``humanize1024`` and
``humanizeTimestamp``), ``printf``, ``toUpper``, ``toLower``, ``title``, ``match``,
``reReplaceAll``, ``len``, ``index``, ``and``/``or``/``not``, comparisons, and, given a way
to run queries, ``query`` with ``first``, ``label``, ``value``, ``strvalue`` and
``sortByLabel``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from .gotemplate import NoValue, execute, truth

_BIG = ("k", "M", "G", "T", "P", "E", "Z", "Y")
_SMALL = ("m", "u", "n", "p", "f", "a", "z", "y")
_BINARY = ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi")


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
        return _scaled_up(v, _BIG, 1000)
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


def humanize_1024(v: float) -> str:
    if abs(v) <= 1 or not math.isfinite(v):
        return go_g4(v)
    return _scaled_up(v, _BINARY, 1024)


def _scaled_up(v: float, prefixes: tuple[str, ...], base: int) -> str:
    prefix = ""
    for p in prefixes:
        if abs(v) < base:
            break
        prefix, v = p, v / base
    return f"{go_g4(v)}{prefix}"


def humanize_timestamp(v: float) -> str:
    """Go's ``fmt.Sprint`` of the UTC time at `v` seconds, kept to milliseconds as
    Prometheus' model.Time keeps it."""
    if not math.isfinite(v):
        return go_g4(v)
    ns = int(v * 1e9)
    ms = abs(ns) // 1_000_000 * (1 if ns >= 0 else -1)  # Go's int64 division truncates
    when = datetime.fromtimestamp(0, UTC) + timedelta(milliseconds=ms)
    millis = when.microsecond // 1000
    fraction = f".{millis:03d}".rstrip("0") if millis else ""
    return f"{when:%Y-%m-%d %H:%M:%S}{fraction} +0000 UTC"


def title(text: str) -> str:
    """Go's ``strings.Title``: upper-case the first letter of every word."""
    out, previous = [], " "
    for ch in str(text):
        out.append(ch.upper() if _separator(previous) else ch)
        previous = ch
    return "".join(out)


def _separator(ch: str) -> bool:
    if ch.isascii():
        return not (ch.isalnum() or ch == "_")
    return not (ch.isalpha() or ch.isdigit()) and ch.isspace()


_GO_VARIABLE = re.compile(r"\$(?:\$|\{(\w+)\}|(\w+))")


def re_replace_all(pattern: str, replacement: str, text: str) -> str:
    """Go's ``Regexp.ReplaceAllString``: ``$1``, ``${name}`` and ``$$`` in the
    replacement; an unknown name is empty, as ``$1x`` (the group named "1x") is."""
    regex = re.compile(str(pattern))

    def expand_one(match: re.Match) -> str:
        def variable(v: re.Match) -> str:
            name = v.group(1) or v.group(2)
            if name is None:
                return "$"
            if name.isdigit():
                return (match.group(int(name)) or "") if int(name) <= regex.groups else ""
            return (match.group(name) or "") if name in regex.groupindex else ""

        return _GO_VARIABLE.sub(variable, str(replacement))

    return regex.sub(expand_one, str(text))


def _index(container, *keys):
    for key in keys:
        if isinstance(container, dict):
            container = container.get(key, "")  # a missing key is the zero value
        else:
            container = container[int(key)]
    return container


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


@dataclass
class Sample:
    """One sample of a template's ``query`` result (Prometheus' template sample)."""

    Labels: dict[str, str]  # noqa: N815 - the field names templates use
    Value: float  # noqa: N815


Query = Callable[[str], list[Sample]]


def _number(v) -> float:
    """A humanize function's argument: a number or a string holding one (Go's
    convertToFloat)."""
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        raise ValueError(f"can't convert {type(v).__name__} to float")
    try:
        return float(v)
    except ValueError:
        raise ValueError(f"can't convert {v!r} to float") from None


def _first(v: list) -> Sample:
    if not v:
        raise ValueError("first() called on vector with no elements")
    return v[0]


def _compare(test):
    return lambda a, b: test(a, b)


FUNCTIONS = {
    "humanize": lambda v: humanize(_number(v)),
    "humanizeDuration": lambda v: humanize_duration(_number(v)),
    "humanizePercentage": lambda v: humanize_percentage(_number(v)),
    "humanize1024": lambda v: humanize_1024(_number(v)),
    "humanizeTimestamp": lambda v: humanize_timestamp(_number(v)),
    "title": title,
    "match": lambda pattern, text: re.search(str(pattern), str(text)) is not None,
    "reReplaceAll": re_replace_all,
    "len": len,
    "index": _index,
    "first": _first,
    "label": lambda name, s: s.Labels.get(name, ""),
    "value": lambda s: s.Value,
    "strvalue": lambda s: s.Labels.get("__value__", ""),
    "sortByLabel": lambda name, v: sorted(v, key=lambda s: s.Labels.get(name, "")),
    "printf": lambda text, *args: go_printf(text, *args),
    "toUpper": lambda text: str(text).upper(),
    "toLower": lambda text: str(text).lower(),
    "eq": _compare(lambda a, b: a == b), "ne": _compare(lambda a, b: a != b),
    "lt": _compare(lambda a, b: a < b), "le": _compare(lambda a, b: a <= b),
    "gt": _compare(lambda a, b: a > b), "ge": _compare(lambda a, b: a >= b),
    "not": lambda a: not truth(a),
    "and": lambda *args: next((a for a in args if not truth(a)), args[-1]),
    "or": lambda *args: next((a for a in args if truth(a)), args[-1]),
}


def expand(template: str, labels: dict[str, str], value: float,
           query: Query | None = None) -> str:
    """`template` expanded for a sample with `labels` and `value`, as an alert rule's
    labels and annotations are; `query` runs a template's ``query`` at the alert's
    evaluation time. `ValueError` names a construct or function outside the subset (see
    module doc) or a template that fails as it would in Prometheus."""
    if "{{" not in template:
        return template
    functions = dict(FUNCTIONS)
    if query is not None:
        functions["query"] = lambda expr: query(str(expr))
    data = {"Labels": labels, "ExternalLabels": {}, "ExternalURL": "", "Value": value}
    variables = {"$labels": labels, "$externalLabels": {}, "$externalURL": "",
                 "$value": value}
    return execute(template, data, variables, functions, _show)


def _show(v) -> str:
    """A value as text/template prints it."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return go_value(v)
    if isinstance(v, int | str | NoValue):
        return str(v)
    raise ValueError(f"printing a {type(v).__name__} is not supported")


_VERB = re.compile(r"%([-+ #0]*\d*(?:\.\d+)?)([a-zA-Z%])")


def go_printf(text: str, *args) -> str:
    """Go's ``fmt.Sprintf`` for the verbs templates use (v, s, d, f, e, g)."""
    pending = list(args)

    def one(match: re.Match) -> str:
        flags, verb = match.groups()
        if verb == "%":
            return "%"
        if not pending:
            return f"%!{verb}(MISSING)"
        return _verb(flags, verb, pending.pop(0))

    return _VERB.sub(one, text)


def _verb(flags: str, verb: str, v) -> str:
    kind = "float64" if isinstance(v, float) else "string" if isinstance(v, str) else "int"
    if verb == "v":
        return _show(v)
    if verb == "s" and isinstance(v, str) or verb == "d" and isinstance(v, int):
        return f"%{flags}{verb}" % v
    if verb in "feEgG" and isinstance(v, int | float) and not isinstance(v, bool):
        if not math.isfinite(v) or (verb in "gG" and "." not in flags):
            return go_value(float(v))
        return f"%{flags}{verb}" % v
    if verb in "sdfeEgG":
        return f"%!{verb}({kind}={_show(v)})"
    raise ValueError(f"printf verb %{verb} is not supported")


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
