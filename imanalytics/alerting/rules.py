"""Moved to `imanalytics.rules.alerts`."""

from .._moved import alias

__getattr__ = alias(__name__, "imanalytics.rules.alerts")
