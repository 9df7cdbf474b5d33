"""Moved to `imanalytics.rules.templates`."""

from .._moved import alias

__getattr__ = alias(__name__, "imanalytics.rules.templates")
