"""Moved to `imanalytics.source.engines`."""

from ._moved import alias

__getattr__ = alias(__name__, "imanalytics.source.engines")
