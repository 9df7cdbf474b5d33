"""Series shards: one selector split on a label's values, so each reply stays bounded and
every series is read once (rather than every series on each of many short time chunks)."""

from __future__ import annotations

import json
import re

_STRING = r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\''
_MATCHER = rf'\s*[A-Za-z_]\w*\s*(?:=~|!~|!=|=)\s*(?:{_STRING})\s*'
# A bare vector selector: ``name``, ``name{...}`` or ``{...}``, nothing around it.
_SELECTOR = re.compile(rf'\s*(?P<name>[A-Za-z_:][\w:]*)?\s*'
                       rf'(?:\{{(?P<inner>(?:{_MATCHER},)*(?:{_MATCHER})?)\}})?\s*', re.S)


def is_selector(expr: str) -> bool:
    match = _SELECTOR.fullmatch(expr)
    return bool(match and (match["name"] or match["inner"] is not None))


def with_matcher(expr: str, label: str, op: str, values: list[str]) -> str:
    """`expr` (a selector) narrowed by ``label op "v1|v2|..."`` (values matched literally)."""
    match = _SELECTOR.fullmatch(expr)
    pattern = "|".join(_literal(v) for v in values)
    inner = (match["inner"] or "").strip().rstrip(",")
    matchers = ([inner] if inner else []) + [f"{label}{op}{json.dumps(pattern)}"]
    return f"{match['name'] or ''}{{{', '.join(matchers)}}}"


def shard_label(labelsets: list[dict]) -> str | None:
    """The label with the most distinct values (``None`` when none splits the series)."""
    counts: dict[str, set] = {}
    for labels in labelsets:
        for key, value in labels.items():
            counts.setdefault(key, set()).add(value)
    names = [k for k in counts if k != "__name__"]
    best = max(names, key=lambda k: (len(counts[k]), k == "instance"), default=None)
    return best if best is not None and len(counts[best]) > 1 else None


def value_groups(labelsets: list[dict], label: str, per_group: int) -> list[tuple[list, int]]:
    """Values of `label` (``""`` for series without it) in groups of about `per_group`
    series: ``(values, series count)`` each."""
    sizes: dict[str, int] = {}
    for labels in labelsets:
        value = labels.get(label, "")
        sizes[value] = sizes.get(value, 0) + 1
    groups, values, count = [], [], 0
    for value in sorted(sizes):
        if values and count + sizes[value] > per_group:
            groups.append((values, count))
            values, count = [], 0
        values.append(value)
        count += sizes[value]
    groups.append((values, count))
    return groups


def _literal(value: str) -> str:
    # RE2 reads a backslash before ASCII punctuation as the character itself.
    return re.sub(r"([\x20-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e])", r"\\\1", value)
