"""Moved to `imanalytics.rules.promtool_tests`."""

from ._moved import alias

__getattr__ = alias(__name__, "imanalytics.rules.promtool_tests",
                    renamed={"unit_tests": "recording_test_file"})
