"""The IM service level indicators, as PromQL over the catalog's metrics.

Each SLI is one expression per (job, instance) — per path for API errors — with the
direction in which it goes bad, the static alert that IM teams start with, and the
simulator incident kinds it should catch. Baselines, threshold reviews, alert rules and
dashboards all take their SLIs from here, so a mapped catalog changes them all.
The definitions are data (`slis.yaml` beside this module); the code renders their
PromQL shapes over a catalog.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .catalog import Catalog, CatalogError, default_catalog
from .catalog.loader import read_packaged

UPPER, LOWER = "upper", "lower"


@dataclass(frozen=True)
class SLI:
    key: str
    title: str
    layer: str  # catalog layer: connection, message, queue, api, runtime
    record: str  # recording-rule name that holds the SLI
    expr: str  # PromQL over raw metrics
    unit: str  # Grafana unit id
    direction: str  # UPPER: bad when high; LOWER: bad when low
    static_threshold: float  # the fixed line teams start with
    static_for: str  # its `for:` duration
    by: tuple[str, ...]  # labels that identify one SLI series
    volume: str | None = None  # traffic behind the SLI, for floors (events per second)
    incident_kinds: tuple[str, ...] = ()
    summary: str = ""

    @property
    def static_expr(self) -> str:
        op = ">" if self.direction == UPPER else "<"
        return f"{self.record} {op} {self.static_threshold:g}"


def slis(catalog: Catalog | None = None) -> list[SLI]:
    """The IM SLIs over `catalog` (default: the built-in catalog)."""
    cat = catalog or default_catalog()
    return [_build(cat, key, entry) for key, entry in _definitions().items()
            if _available(cat, entry)]


@functools.cache
def _definitions() -> dict[str, dict[str, Any]]:
    return read_packaged(__package__, "slis.yaml")[0]


def _build(cat: Catalog, key: str, entry: Mapping[str, Any]) -> SLI:
    shape = next(name for name in _SHAPES if name in entry)
    by = tuple(_group_label(cat, key, label, _metrics(entry[shape]))
               for label in entry.get("by", ("job", "instance")))
    expr, volume = _SHAPES[shape](cat, ", ".join(by), **entry[shape])
    fields = {name: value for name, value in entry.items() if name not in (*_SHAPES, "by")}
    fields["incident_kinds"] = tuple(fields.get("incident_kinds", ()))
    return SLI(key=key, expr=expr, by=by, volume=volume, **fields)


def _metrics(shape: Mapping[str, Any]) -> list[str]:
    return [cat_key for name, cat_key in shape.items() if name in _METRIC_FIELDS]


def _group_label(cat: Catalog, key: str, label: str, metrics: list[str]) -> str:
    """The service's name for grouping `label`: a per-metric rename counts, so long as
    every metric of the SLI names the label alike (else the division would not match)."""
    names = {cat[m].label(label) for m in metrics}
    if len(names) > 1:
        raise CatalogError(f"SLI {key}: metrics {', '.join(metrics)} rename label {label!r} "
                           f"differently ({', '.join(sorted(names))}); rename it the same "
                           "way for each, or in the top-level labels")
    return names.pop()


def _available(cat: Catalog, entry: Mapping[str, Any]) -> bool:
    # A mapping file may remove metrics the service doesn't export.
    (shape,) = (entry[name] for name in _SHAPES if name in entry)
    return all(cat_key in cat for cat_key in _metrics(shape))


def _rate_sum(selector: str, by: str) -> str:
    return f"sum by ({by}) (rate({selector}[5m]))"


def _ratio(cat: Catalog, by: str, bad: str, total: str,
           bad_match: Mapping[str, str] | None = None) -> tuple[str, str]:
    """Bad events over all events; ``bad_match`` narrows ``bad`` by catalog-label regexes."""
    selector = cat.selector(bad)
    for label, regex in (bad_match or {}).items():
        selector = _add_matcher(selector, f'{cat[bad].label(label)}=~"{regex}"')
    volume = _rate_sum(cat.selector(total), by)
    return f"{_rate_sum(selector, by)} / {volume}", volume


def _quantile(cat: Catalog, by: str, metric: str, q: float) -> tuple[str, str]:
    buckets = cat.selector(metric, "_bucket")
    expr = f"histogram_quantile({q}, sum by ({by}, le) (rate({buckets}[5m])))"
    return expr, _rate_sum(cat.selector(metric, "_count"), by)


def _gauge(cat: Catalog, by: str, metric: str, agg: str) -> tuple[str, None]:
    return f"{agg} by ({by}) ({cat.selector(metric)})", None


_SHAPES: dict[str, Callable[..., tuple[str, str | None]]] = {
    "ratio": _ratio, "quantile": _quantile, "gauge": _gauge,
}
_METRIC_FIELDS = ("bad", "total", "metric")  # shape fields that name catalog metrics


def _add_matcher(selector: str, matcher: str) -> str:
    if selector.endswith("}"):
        return f"{selector[:-1]},{matcher}}}"
    return f"{selector}{{{matcher}}}"
