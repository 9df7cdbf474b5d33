"""imanalytics: analyse instant-messaging services through their Prometheus data.

The pieces, each in its own module: `catalog` (what an IM service exports), `slis`,
`source` (pulls into pandas), `promql` (the local evaluator), `rules` (recording and alert
rules, rule files and their promtool tests), `baselines`, `alerting` (Alertmanager),
`review` (threshold tuning reviews), `exporter` (baseline bands served to Prometheus),
`dashboards` and `sandbox`.
"""

from .catalog import Catalog, CatalogError, MetricSpec, default_catalog, load_catalog
from .errors import ImanalyticsError
from .promql import evaluate, evaluate_many
from .samples import Series
from .slis import SLI, slis
from .source import PromSource

__version__ = "0.1.0"

__all__ = [
    "SLI",
    "Catalog",
    "CatalogError",
    "ImanalyticsError",
    "MetricSpec",
    "PromSource",
    "Series",
    "default_catalog",
    "evaluate",
    "evaluate_many",
    "load_catalog",
    "slis",
]
