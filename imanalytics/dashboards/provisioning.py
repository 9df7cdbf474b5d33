"""Grafana file provisioning for the built dashboards: Grafana started with the output
folder mounted shows them, on a Prometheus datasource, with no clicks.

``provisioning/dashboards/imanalytics.yaml`` is a dashboards provider reading the JSON
files from `DASHBOARDS_PATH`; ``provisioning/datasources/imanalytics.yaml`` is a
Prometheus datasource with the uid the dashboards' datasource variable selects, at the
URL in the ``PROMETHEUS_URL`` environment variable (Grafana expands it).
"""

from __future__ import annotations

import yaml

from .variables import DATASOURCE_UID

DASHBOARDS_PATH = "/var/lib/grafana/imanalytics"  # where README mounts the output folder


def provisioning(folder: str = "IM", provider: str = "imanalytics") -> dict[str, str]:
    """The two YAML files by their path under the output folder."""
    dashboards = {"apiVersion": 1, "providers": [{
        "name": provider, "type": "file", "folder": folder, "disableDeletion": True,
        "allowUiUpdates": False, "updateIntervalSeconds": 60,
        "options": {"path": DASHBOARDS_PATH, "foldersFromFilesStructure": False}}]}
    datasources = {"apiVersion": 1, "datasources": [{
        "name": "Prometheus (imanalytics)", "type": "prometheus", "uid": DATASOURCE_UID,
        "access": "proxy", "url": "${PROMETHEUS_URL}", "isDefault": True, "editable": False,
        "jsonData": {"timeInterval": "15s"}}]}
    return {f"provisioning/dashboards/{provider}.yaml": _dump(dashboards),
            f"provisioning/datasources/{provider}.yaml": _dump(datasources)}


def _dump(data: dict) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
