"""The IM metric catalog: one declarative description of what an IM service exports.

Recording rules, alerts, dashboards and the workload simulator are all built from it,
the way a monitoring mixin builds them from one config. The default catalog is the
packaged `default.yaml`; a mapping file in the same format adapts it to a real service
(other metric or label names, extra selectors, metrics added or removed); see
`load_catalog`. `model` holds the classes and their validation, `loader` the reading.
"""

from .loader import MAX_MAPPING_BYTES, default_catalog, load_catalog
from .model import (
    HIGH_CARDINALITY,
    LAYERS,
    TARGET_LABELS,
    TYPES,
    Catalog,
    CatalogError,
    MetricSpec,
)

__all__ = [
    "HIGH_CARDINALITY",
    "LAYERS",
    "MAX_MAPPING_BYTES",
    "TARGET_LABELS",
    "TYPES",
    "Catalog",
    "CatalogError",
    "MetricSpec",
    "default_catalog",
    "load_catalog",
]
