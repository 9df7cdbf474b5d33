"""Serve fitted baseline bands to Prometheus: the way baselines that PromQL cannot express
(seasonal profiles, `auto`, STL, quantile GBM, isolation forest) run in production.

- `store`: the baseline directory (fitted models + ``index.json``), `save_baselines` /
  `load_baselines`;
- `collector`: the bands as gauges ``imanalytics_baseline_{lower,centre,upper}``,
  computed at each scrape;
- `live`: bands that follow each SLI's recent level, read from Prometheus;
- `score`: the multi-SLI isolation forests' anomaly score, read the same way;
- `scrape`: the scrape job for ``prometheus.yml`` and the exporter-down alert;
- `server`: ``python -m imanalytics serve-baselines``.
"""

from .collector import BandCollector, edge_metric, series_labels
from .live import LiveLevels
from .server import DEFAULT_PORT, open_store, serve
from .store import ExporterError, ServedSeries, Store, load_baselines, save_baselines

__all__ = [
    "DEFAULT_PORT",
    "BandCollector",
    "ExporterError",
    "LiveLevels",
    "ServedSeries",
    "Store",
    "edge_metric",
    "load_baselines",
    "open_store",
    "save_baselines",
    "serve",
    "series_labels",
]
