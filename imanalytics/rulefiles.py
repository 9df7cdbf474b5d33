"""Moved to `imanalytics.rules.files`."""

from ._moved import alias

__getattr__ = alias(__name__, "imanalytics.rules.files")
