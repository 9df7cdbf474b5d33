"""imanalytics: analyse instant-messaging services through their Prometheus data."""

from .catalog import Catalog, CatalogError, MetricSpec, default_catalog, load_catalog
from .samples import Series

__version__ = "0.1.0"

__all__ = [
    "Catalog",
    "CatalogError",
    "MetricSpec",
    "Series",
    "default_catalog",
    "load_catalog",
]
