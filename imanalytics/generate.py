"""Moved to `imanalytics.rules.artifacts`."""

from ._moved import alias

__getattr__ = alias(__name__, "imanalytics.rules.artifacts", "imanalytics.dashboards.artifacts")
