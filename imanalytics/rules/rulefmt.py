"""What a Prometheus rule file must be before anything reads it: the checks Prometheus 2.42
applies when it loads one (model/rulefmt: strict YAML, then ``Validate``), as ``promtool
check rules`` runs them.

Rule files come from other people (``--current-rules``, `evaluate_file`); a file the server
would refuse to load is refused here too, naming the file, group, rule and field, rather
than backtested as if it ran. Duplicate rules, which promtool only lints, are accepted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import ImanalyticsError
from ..promql import PromQLError, parse
from .gostd import parse_duration
from .gotemplate import Unsupported, _items, _tokens
from .templates import FUNCTIONS


class RuleFormatError(ImanalyticsError):
    """A rule file Prometheus would refuse to load."""


_GROUPS_KEYS = {"groups"}
_GROUP_KEYS = {"name", "interval", "limit", "rules"}
_RULE_KEYS = {"record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_SCALARS = (str, int, float, bool)


def check_rule_file(doc: Any, path: str | Path) -> list[dict]:
    """The groups of the rule file `doc` (parsed YAML) read from `path`; `RuleFormatError`
    naming the first problem (and how many more) when Prometheus would refuse the file."""
    problems = list(_problems(doc))
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise RuleFormatError(f"{path}: {problems[0]}{more}")
    return (doc or {}).get("groups") or []


def _problems(doc: Any) -> Iterator[str]:
    if doc is None:
        return  # an empty file holds no groups, as Prometheus reads it
    if not isinstance(doc, dict):
        yield f"not a Prometheus rule file (a mapping with `groups:`, got {_kind(doc)})"
        return
    for key in sorted(doc.keys() - _GROUPS_KEYS, key=str):
        yield f"not a Prometheus rule file: unknown top-level field {str(key)!r} (only `groups`)"
    groups = doc.get("groups")
    if groups is not None and not isinstance(groups, list):
        yield f"`groups` must be a list, got {_kind(groups)}"
        return
    seen: set = set()
    for g, group in enumerate(groups or []):
        if not isinstance(group, dict):
            yield f"groups[{g}] must be a mapping, got {_kind(group)}"
            continue
        name = group.get("name")
        where = f"group {name!r}" if name else f"groups[{g}]"
        if not name:
            yield f"{where}: the group name must not be empty"
        elif name in seen:
            yield f"{where}: the group name is repeated in the same file"
        seen.add(name)
        yield from _group(group, where)


def _group(group: dict, where: str) -> Iterator[str]:
    yield from _unknown(group, _GROUP_KEYS, where)
    if "interval" in group:
        yield from _duration(group["interval"], f"{where}: `interval`")
    limit = group.get("limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)):
        yield f"{where}: `limit` must be an integer, got {limit!r}"
    rules = group.get("rules")
    if rules is not None and not isinstance(rules, list):
        yield f"{where}: `rules` must be a list, got {_kind(rules)}"
        return
    for r, rule in enumerate(rules or [], start=1):
        if not isinstance(rule, dict):
            yield f"{where}, rule {r}: must be a mapping, got {_kind(rule)}"
            continue
        name = rule.get("alert") or rule.get("record") or ""
        yield from (f"{where}, rule {r} {str(name)!r}: {p}" for p in _rule(rule))


def _rule(rule: dict) -> Iterator[str]:
    yield from _unknown(rule, _RULE_KEYS, "")
    record, alert = _text(rule.get("record")), _text(rule.get("alert"))
    if record and alert:
        yield "only one of `record` and `alert` may be set"
    elif not record and not alert:
        yield "one of `record` or `alert` must be set"
    yield from _expression(rule.get("expr"))
    for key in ("for", "keep_firing_for"):
        if key in rule:
            yield from _duration(rule[key], f"`{key}`")
    if record:
        yield from _recording(rule, record)
    templated = bool(alert)  # Prometheus parses only alert rules' templates
    yield from _mapping(rule, "labels", "label", templated)
    yield from _mapping(rule, "annotations", "annotation", templated)


def _expression(expr: Any) -> Iterator[str]:
    text = _text(expr)
    if not text:
        yield "`expr` must be set"
        return
    try:
        parse(text)
    except PromQLError as err:
        yield f"`expr` does not parse: {err}"


def _recording(rule: dict, record: str) -> Iterator[str]:
    if rule.get("annotations"):
        yield "a recording rule has no `annotations`"
    for key in ("for", "keep_firing_for"):
        if not _is_zero(rule.get(key)):
            yield f"a recording rule has no `{key}`"
    if not _METRIC_NAME.fullmatch(record):
        yield f"`record` {record!r} is not a valid metric name"


def _mapping(rule: dict, key: str, what: str, templated: bool) -> Iterator[str]:
    values = rule.get(key)
    if values is None:
        return
    if not isinstance(values, dict):
        yield f"`{key}` must be a mapping, got {_kind(values)}"
        return
    for name, value in values.items():
        name = _text(name)
        if not _LABEL_NAME.fullmatch(name) or (what == "label" and name == "__name__"):
            yield f"invalid {what} name {name!r}"
        if not isinstance(value, _SCALARS) and value is not None:
            yield f"{what} {name!r} must be a string, got {_kind(value)}"
        elif isinstance(value, str) and templated:
            yield from (f"{what} {name!r}: {p}" for p in _template(value))


def _duration(value: Any, field: str) -> Iterator[str]:
    text = _text(value)
    try:
        parse_duration(text)
    except ValueError as err:  # Go's reason, then the value as this module quotes values
        yield f"{field}: {str(err).split(': ')[0]}" + (f": {text!r}" if text else "")


def _is_zero(value: Any) -> bool:
    try:
        return parse_duration(_text(value) or "0") == 0
    except ValueError:
        return False


# --- templates: what Go's parser refuses -------------------------------------------------

_KEYWORDS = {"if", "with", "range", "else", "end", "define", "template", "block", "break",
             "continue", "nil", "true", "false"}
_OPENS = {"if", "with", "range", "define", "block"}
# The table's functions, and those each expansion adds (the server's URL, its queries).
_FUNCTIONS = set(FUNCTIONS) | {"query", "pathPrefix", "externalURL"}
_VARIABLES = {"$", "$labels", "$externalLabels", "$externalURL", "$value"}


def _template(text: str) -> Iterator[str]:
    """What Go's parser says of `text` as an alert template, when it refuses it: an
    unclosed action or block, a stray ``end``/``else``, an undefined function or variable.
    Constructs this parser does not read are left to the expansion (which names them)."""
    if "{{" not in text:
        return
    depth, defined = 0, set(_VARIABLES)
    try:
        for kind, item, offset in _items(text):
            tokens = _tokens(item, text, offset) if kind == "action" else []
            head = str(tokens[0]) if tokens else ""
            if head in _OPENS:
                depth += 1
            elif head in ("end", "else") and depth == 0:
                yield f"unexpected {{{{{head}}}}}"
                return
            depth -= head == "end"
            yield from _undefined(tokens, defined)
    except Unsupported as err:
        if str(err).startswith("unclosed action"):
            yield "unclosed action"
        return
    if depth:
        yield "unexpected EOF (a block without its {{end}})"


def _undefined(tokens: list, defined: set) -> Iterator[str]:
    for i, token in enumerate(tokens):
        if isinstance(token, tuple):  # a string literal
            continue
        word = str(token)
        if i + 1 < len(tokens) and str(tokens[i + 1]) == ":=":
            defined.add(word)
        elif word.startswith("$") and word.split(".")[0] not in defined:
            yield f"undefined variable {word.split('.')[0]!r}"
        elif word[:1].isalpha() and word not in _KEYWORDS \
                and word.split(".")[0] not in _FUNCTIONS:
            yield f"function {word.split('.')[0]!r} not defined"


def _unknown(mapping: dict, allowed: set, where: str) -> Iterator[str]:
    for key in mapping:
        if key not in allowed:
            yield (f"{where}: " if where else "") + \
                f"unknown field {str(key)!r} (allowed: {', '.join(sorted(allowed))})"


def _text(value: Any) -> str:
    """A YAML scalar as Go's decoder reads it into a string; None reads empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list"}.get(type(value), type(value).__name__)
