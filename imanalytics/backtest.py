"""Moved to `imanalytics.rules.backtest`."""

from ._moved import alias

__getattr__ = alias(__name__, "imanalytics.rules.backtest", "imanalytics.rules.templates")
