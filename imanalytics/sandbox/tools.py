"""Finding the Prometheus binaries the sandbox runs (Debian packages by default)."""

from __future__ import annotations

import os
import shutil

from ..errors import ImanalyticsError

# binary -> (environment override, Debian package that ships it)
TOOLS = {
    "prometheus": ("IMANALYTICS_PROMETHEUS", "prometheus"),
    "promtool": ("IMANALYTICS_PROMTOOL", "prometheus"),
    "amtool": ("IMANALYTICS_AMTOOL", "prometheus-alertmanager"),
    "prometheus-alertmanager": ("IMANALYTICS_ALERTMANAGER", "prometheus-alertmanager"),
    "prometheus-pushgateway": ("IMANALYTICS_PUSHGATEWAY", "prometheus-pushgateway"),
    "victoria-metrics": ("IMANALYTICS_VICTORIA_METRICS", "victoria-metrics"),
    "vmalert": ("IMANALYTICS_VMALERT", "victoria-metrics"),
}


class ToolMissing(ImanalyticsError):
    """A Prometheus binary the sandbox needs is not installed."""


def find_tool(name: str) -> str:
    """Path of binary `name`, from its environment override or PATH."""
    env, package = TOOLS[name]
    path = os.environ.get(env) or shutil.which(name)
    if not path or not os.access(path, os.X_OK):
        raise ToolMissing(
            f"{name} not found: install the Debian package '{package}' "
            f"(sudo apt-get install {package}) or set {env} to its path"
        )
    return path
