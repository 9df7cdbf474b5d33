"""Checks of the API's reply shapes, so a malformed answer names the expression at fault."""

from __future__ import annotations

from ..samples import format_series
from .errors import QueryError, SourceError, _iso, _short


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


def _refuse_histograms(result: list[dict], expr: str) -> None:
    if any("histogram" in item or "histograms" in item for item in result):
        raise QueryError(expr, "result", "native histogram samples are not supported; "
                         "query their classic _bucket/_sum/_count series")

