"""Alert labels and annotations expanded as Prometheus expands them (text/template with
its template functions, template/template.go), to predict what an alert says exactly.

The template language is the subset of Go's text/template in `gotemplate` (pipelines,
variables, ``if``/``with``/``range``), with Prometheus' variables (``$labels``, ``$value``,
``$externalLabels``, ``.Labels``, ``.Value``) and functions: the humanize family (with
``humanize1024`` and ``humanizeTimestamp``), ``toUpper``, ``toLower``, ``title``,
``match``, ``reReplaceAll``; Go's ``printf``, ``print``, ``println``, ``html``, ``js``,
``urlquery``, ``slice``, ``call`` (which fails, as no value is a function), ``len``,
``index``, ``and``/``or``/``not`` and comparisons; given
a way to run queries, ``query`` with ``first``, ``label``, ``value``, ``strvalue`` and
``sortByLabel``; and Prometheus 2.42's others: ``safeHtml``, ``graphLink``, ``tableLink``,
``stripPort``, ``stripDomain``, ``toTime``, ``parseDuration``, ``args``, ``pathPrefix``
and ``externalURL``.

A template failing as it fails in Prometheus is a `TemplateFailure` holding Go's message
(Prometheus writes ``<error expanding template: MESSAGE>`` in its place); one outside the
subset is `gotemplate.Unsupported`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from .gostd import (
    go_quote,
    graph_link,
    html_escape,
    js_escape,
    parse_duration,
    path_prefix,
    strip_domain,
    strip_port,
    table_link,
    url_query_escape,
)
from .gotemplate import NO_VALUE, ExecError, NoValue, Unsupported, execute, truth
from .gotypes import (
    ANY,
    BUILTINS,
    STRING,
    VARIADIC,
    go_index,
    go_len,
    go_slice,
    go_type,
    signature,
)

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
    regex = _regex(pattern, compile_panics=True)

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
    go_type = "*template.sample"  # as Go names it in errors


Query = Callable[[str], list[Sample]]


def _number(v) -> float:
    """A humanize function's argument: a number or a string holding one (Go's
    convertToFloat, with its errors)."""
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v)
    if not isinstance(v, str):
        raise ValueError(f"can't convert {go_type(v)} to float")
    return _parse_float(v)


_GO_INF = re.compile(r"[+-]?(inf|infinity)", re.IGNORECASE)


def _parse_float(text: str) -> float:
    """strconv.ParseFloat(text, 64) for decimal text."""
    failure = f"strconv.ParseFloat: parsing {go_quote(text)}: "
    if text.strip() != text or "_" in text:
        raise ValueError(failure + "invalid syntax")
    try:
        v = float(text)
    except ValueError:
        raise ValueError(failure + "invalid syntax") from None
    if math.isinf(v) and not _GO_INF.fullmatch(text):
        raise ValueError(failure + "value out of range")
    return v


@dataclass
class GoTime:
    """A time.Time from ``toTime``: printed as Go prints it."""

    text: str
    go_type = "*time.Time"


def to_time(v) -> GoTime:
    """Prometheus' toTime (floatToTime)."""
    v = _number(v)
    if not math.isfinite(v):
        raise ValueError("value is NaN or Inf")
    if not -2**63 <= v * 1e9 <= 2**63:
        raise ValueError(f"{go_value(v)} cannot be represented as a nanoseconds timestamp "
                         "since it overflows int64")
    return GoTime(humanize_timestamp(v))


def _regex(pattern: str, compile_panics=False) -> re.Pattern:
    """`pattern` compiled; its error says what Go's does around Python's reason (the
    reason itself is Python's wording)."""
    try:
        return re.compile(pattern)
    except re.error as err:
        text = f"error parsing regexp: {err}"
        if compile_panics:  # regexp.MustCompile's panic
            quoted = f"`{pattern}`" if "`" not in pattern else go_quote(pattern)
            text = f"regexp: Compile({quoted}): {text}"
        raise ValueError(text) from None


def _first(v: list) -> Sample:
    if not v:
        raise ValueError("first() called on vector with no elements")
    return v[0]


def _call(fn, *args):
    """Go's ``call``: no template value is a function, so it always fails as Go's does."""
    kind = go_type(fn)
    raise ValueError("call of nil" if kind == "<nil>" else f"non-function of type {kind}")


class QueryResult(list):
    """A ``query`` result: samples, as Go's template.queryResult."""

    go_type = "template.queryResult"


class _Args(dict):
    """``args``' map, whose missing key is Go's nil interface."""

    go_type = "map[string]interface {}"
    zero = NO_VALUE


S, SAMPLE, RESULT = STRING, "*template.sample", "template.queryResult"
_TABLE = {  # name: the function and its Go parameters (template/template.go, text/template)
    "first": (_first, (RESULT,)),
    "label": (lambda name, s: s.Labels.get(name, ""), (S, SAMPLE)),
    "value": (lambda s: s.Value, (SAMPLE,)),
    "strvalue": (lambda s: s.Labels.get("__value__", ""), (SAMPLE,)),
    "sortByLabel": (lambda name, v: QueryResult(sorted(v, key=lambda s: s.Labels.get(name, ""))),
                    (S, RESULT)),
    "args": (lambda *args: _Args({f"arg{i}": a for i, a in enumerate(args)}), (VARIADIC,)),
    "reReplaceAll": (re_replace_all, (S, S, S)),
    "match": (lambda pattern, text: _regex(pattern).search(text) is not None, (S, S)),
    "safeHtml": (lambda text: text, (S,)),
    "title": (title, (S,)), "toUpper": (str.upper, (S,)), "toLower": (str.lower, (S,)),
    "graphLink": (graph_link, (S,)), "tableLink": (table_link, (S,)),
    "stripPort": (strip_port, (S,)), "stripDomain": (strip_domain, (S,)),
    "humanize": (lambda v: humanize(_number(v)), (ANY,)),
    "humanizeDuration": (lambda v: humanize_duration(_number(v)), (ANY,)),
    "humanizePercentage": (lambda v: humanize_percentage(_number(v)), (ANY,)),
    "humanize1024": (lambda v: humanize_1024(_number(v)), (ANY,)),
    "humanizeTimestamp": (lambda v: humanize_timestamp(_number(v)), (ANY,)),
    "toTime": (to_time, (ANY,)),
    "parseDuration": (parse_duration, (S,)),
    # Go's builtins
    "printf": (lambda text, *args: go_printf(text, *args), (S, VARIADIC)),
    "print": (lambda *args: go_sprint(args), (VARIADIC,)),
    "println": (lambda *args: go_sprint(args, line=True), (VARIADIC,)),
    "html": (lambda *args: html_escape(_escaped_text(args)), (VARIADIC,)),
    "js": (lambda *args: js_escape(_escaped_text(args)), (VARIADIC,)),
    "urlquery": (lambda *args: url_query_escape(_escaped_text(args)), (VARIADIC,)),
    "len": (go_len, (ANY,)),
    "index": (go_index, (ANY, VARIADIC)),
    "slice": (go_slice, (ANY, VARIADIC)),
    "call": (_call, (ANY, VARIADIC)),
    "not": (lambda a: not truth(a), (ANY,)),
    "and": (lambda *args: next((a for a in args if not truth(a)), args[-1]), (ANY, VARIADIC)),
    "or": (lambda *args: next((a for a in args if truth(a)), args[-1]), (ANY, VARIADIC)),
    "eq": (BUILTINS["eq"], (ANY, VARIADIC)),
    **{name: (BUILTINS[name], (ANY, ANY)) for name in ("ne", "lt", "le", "gt", "ge")},
}
FUNCTIONS = {name: signature(*params)(lambda *args, f=f: f(*args))  # a new object to mark
             for name, (f, params) in _TABLE.items()}

# Prometheus (rules/alerting.go) runs every alert template after these definitions: Go's
# error positions on the first line count them.
_DEFINITIONS = ("{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}"
                "{{$externalURL := .ExternalURL}}{{$value := .Value}}")
_NIL_URL = "runtime error: invalid memory address or nil pointer dereference"


class TemplateFailure(ValueError):
    """A template failing as it fails in Prometheus, with Go's message byte for byte, but
    for a reason worded by code we do not share: after a bad regular expression's "error
    parsing regexp: " the reason is Python's, a ``query`` error is the local evaluator's,
    and ``%q`` of unprintable characters may differ."""


def failure_text(err: TemplateFailure) -> str:
    """What Prometheus writes in place of a failed label or annotation."""
    return f"<error expanding template: {err}>"


def expand(template: str, labels: dict[str, str], value: float,
           query: Query | None = None, *, name: str = "",
           external_url: str | None = None,
           external_labels: dict[str, str] | None = None) -> str:
    """`template` expanded for a sample with `labels` and `value`, as alert rule `name`'s
    labels and annotations are; `query` runs a template's ``query`` at the alert's
    evaluation time; `external_url` is the server's, for ``$externalURL``, ``pathPrefix``
    and ``externalURL`` (without one, as under ``promtool test rules``, the functions
    fail); `external_labels` the server's global labels, for ``$externalLabels``. A
    construct or function outside the subset (see module doc) is
    `gotemplate.Unsupported`; a template that fails as it would in Prometheus is a
    `TemplateFailure`."""
    if "{{" not in template:
        return template
    functions = dict(FUNCTIONS, pathPrefix=signature()(lambda: path_prefix(_url(external_url))),
                     externalURL=signature()(lambda: _url(external_url)))
    if query is not None:
        functions["query"] = signature(S)(lambda expr: QueryResult(query(expr)))
    url = external_url or ""
    external = dict(external_labels or {})
    data = {"Labels": labels, "ExternalLabels": external, "ExternalURL": url, "Value": value}
    variables = {"$labels": labels, "$externalLabels": external, "$externalURL": url,
                 "$value": value}
    try:
        return execute(template, data, variables, functions, _show)
    except ExecError as err:
        raise _failure(err, template, f"__alert_{name}") from None


def _url(url: str | None) -> str:
    if url is None:
        raise ValueError(_NIL_URL)
    return url


def _failure(err: ExecError, template: str, name: str) -> TemplateFailure:
    """Go's message for `err`: its line, and its byte column in that line."""
    before = template[:err.pos]
    line = before.count("\n") + 1
    column = len(before[before.rfind("\n") + 1:].encode())
    column += len(_DEFINITIONS) if line == 1 else 0
    return TemplateFailure(f"error executing template {name}: template: {name}:{line}:"
                           f"{column}: executing {go_quote(name)} at <{err.context}>: "
                           f"{err.message}")


def _show(v) -> str:
    """A value as text/template prints it."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return go_value(v)
    if isinstance(v, int | str | NoValue):
        return str(v)
    if isinstance(v, dict):  # fmt prints a map's keys sorted
        return "map[" + " ".join(f"{k}:{_show(v[k])}" for k in sorted(v)) + "]"
    if isinstance(v, Sample):
        return f"{{{_show(v.Labels)} {_show(v.Value)}}}"
    if isinstance(v, GoTime):
        return v.text
    raise Unsupported(f"printing a {type(v).__name__} is not supported")


def go_sprint(args: tuple, line: bool = False, printable: bool = False) -> str:
    """Go's ``fmt.Sprint`` (``Sprintln`` with `line`): a space between operands when
    neither is a string (always with `line`, which also ends the line). `printable`: the
    operands as text/template prints them first (pointers followed, nil as <no value>)."""
    out = []
    for i, arg in enumerate(args):
        if i and (line or not isinstance(arg, str) and not isinstance(args[i - 1], str)):
            out.append(" ")
        if isinstance(arg, NoValue):
            out.append(str(arg) if printable else "<nil>")
        elif isinstance(arg, list):  # a query result: fmt prints its samples' addresses
            raise Unsupported("printing a query result with print or an escaper")
        else:
            out.append(("" if printable or not isinstance(arg, Sample) else "&") + _show(arg))
    return "".join(out) + ("\n" if line else "")


def _escaped_text(args: tuple) -> str:
    """text/template's evalArgs: the one string argument, else the arguments printed."""
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return go_sprint(args, printable=True)


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
    raise Unsupported(f"printf verb %{verb} is not supported")


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
