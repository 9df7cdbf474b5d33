"""Moved to `imanalytics.rules.promtool_tests`."""

from .._moved import alias

__getattr__ = alias(__name__, "imanalytics.rules.promtool_tests", "imanalytics.rules.templates",
                    renamed={"unit_test_file": "alert_test_file"})
