"""Dashboard JSON as current Grafana (11/12) saves it: the one place that post-processes
grafanalib's output.

grafanalib writes every attribute it knows, so its JSON carries explicit ``null``s and
fields Grafana's migrations rewrite or drop (``rows``, ``style``, panel ``span``...).
`current` removes those, adds what Grafana always writes (``fieldConfig.overrides``)
and writes template variable queries in the object form Grafana's Prometheus query
editor saves. Without it a dashboard saved back from Grafana would never match the
generator again. The result is type-checked against Grafana's published types
(npm ``@grafana/schema``) in the tests.
"""

from __future__ import annotations

from typing import Any

SCHEMA_VERSION = 41  # what Grafana 12 writes: it loads the dashboards without migrating them

# The fields Grafana's schema (``@grafana/schema`` 13) declares; grafanalib's others are
# legacy ones (``rows``, ``style``, panel ``span``/``height``, template ``tags``...).
_DASHBOARD = set("""annotations description editable fiscalYearStartMonth graphTooltip links
    liveNow panels preload refresh revision schemaVersion tags templating time timepicker
    timezone title uid version weekStart""".split())
_TIMEPICKER = {"hidden", "refresh_intervals", "nowDelay"}
_PANEL = set("""datasource description fieldConfig gridPos hideTimeOverride id interval links
    maxDataPoints maxPerRow options pluginVersion repeat repeatDirection targets timeFrom
    timeShift title transformations transparent type""".split())
_ROW = {"collapsed", "datasource", "gridPos", "id", "panels", "repeat", "title", "type"}
_VARIABLE = set("""allValue allowCustomValue current datasource description hide includeAll
    label multi name options query refresh regex skipUrlSync sort type""".split())
_ALL = {"text": ["All"], "value": ["$__all"]}
# How Grafana's Prometheus editor saves a label_values(...) variable query.
_VARIABLE_QUERY = {"qryType": 1, "refId": "PrometheusVariableQueryEditor-VariableQuery"}


def current(board: dict) -> dict:
    """`board` (grafanalib's JSON data as plain dicts) in the shape Grafana 11/12 saves."""
    out = _only(_no_nulls(board), _DASHBOARD)
    out["schemaVersion"] = SCHEMA_VERSION
    out["timepicker"] = _only(out.get("timepicker", {}), _TIMEPICKER)
    out["panels"] = [_panel(p) for p in out.get("panels", [])]
    templating = out.get("templating", {})
    out["templating"] = {"list": [_variable(v) for v in templating.get("list", [])]}
    return out


def _no_nulls(value: Any, key: str = "") -> Any:
    """`value` without null fields. A threshold step's ``value`` keeps its null: Grafana's
    schema requires it and null there means "from minus infinity" (the base step)."""
    if isinstance(value, dict):
        is_step = set(value) == {"color", "value"}
        return {k: _no_nulls(v, k) for k, v in value.items()
                if v is not None or (is_step and k == "value")}
    if isinstance(value, list):
        return [_no_nulls(v, key) for v in value if v is not None]
    return value


def _only(data: dict, keys: set[str]) -> dict:
    return {k: v for k, v in data.items() if k in keys}


def _panel(panel: dict) -> dict:
    if panel.get("type") == "row":  # collapsed rows carry their panels inside
        out = _only(panel, _ROW)
        out["panels"] = [_panel(p) for p in out.get("panels", [])]
        return out
    out = _only(panel, _PANEL)
    config = out.setdefault("fieldConfig", {})
    config.setdefault("defaults", {})
    config.setdefault("overrides", [])
    return out


def _variable(var: dict) -> dict:
    out = _only(var, _VARIABLE)
    if out.get("type") == "query":
        out["query"] = {**_VARIABLE_QUERY, "query": out["query"]}
        if out.get("includeAll"):
            out["current"] = _ALL
    elif "current" in out:
        out["current"] = _only(out["current"], {"text", "value"})
    return out
