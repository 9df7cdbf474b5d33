"""What Prometheus needs to use the exporter: its scrape job, and an alert for when the
exporter is down (every alert on an exported band is silent then)."""

from __future__ import annotations

import numpy as np
import yaml

from ..rules import DEFAULT_RUNBOOKS, HEADER, AlertCase, AlertRule
from ..samples import NAME, Series

JOB = "imanalytics-baselines"
SCRAPE_INTERVAL = "1m"


def scrape_config(targets: list[str], interval: str = SCRAPE_INTERVAL) -> str:
    """A ``scrape_configs`` entry for the exporter, as YAML text with a comment.

    ``honor_labels: true`` keeps the `job` and `instance` of the SLI series each band
    belongs to, instead of the exporter's own, so alerts can match bands to SLIs.
    """
    doc = {"scrape_configs": [{
        "job_name": JOB, "honor_labels": True, "scrape_interval": interval,
        "static_configs": [{"targets": list(targets)}],
    }]}
    comment = ("# Add to prometheus.yml. It scrapes the baseline exporter, run beside this folder\n"
               "# as: python -m imanalytics serve-baselines --baselines baselines --port 9468\n"
               "#     --prometheus <this Prometheus' URL>\n"
               "# (plus --trusted when it serves QuantileGBM or isolation-forest models).\n"
               "# honor_labels keeps the job/instance of the SLI series each band is for.\n")
    return HEADER + comment + yaml.safe_dump(doc, sort_keys=False)


def exporter_down_alert(runbooks: str = DEFAULT_RUNBOOKS) -> AlertRule:
    """Warns when Prometheus cannot scrape the exporter for 5 minutes."""
    up = f'up{{job="{JOB}"}}'
    return AlertRule(
        name="ImBaselineExporterDown", expr=f"{up} == 0 or absent({up})", for_="5m",
        severity="warning", sli="baseline_exporter", layer="runtime",
        summary="The baseline exporter is down: alerts on its bands cannot fire.",
        description=f"Prometheus has not scraped the baseline exporter (job {JOB}) for 5 "
                    "minutes; alerts that compare SLIs with exported baseline bands are "
                    "silent until it is back.",
        runbook_url=f"{runbooks}/baseline_exporter")


def exporter_down_case(alert: AlertRule) -> AlertCase:
    """A promtool case: the exporter is up for 10 minutes, then down; the alert fires once
    it has been down for its ``for:``."""
    minutes = np.arange(21)
    up = Series({NAME: "up", "job": JOB, "instance": "localhost:9468"}, minutes * 60_000,
                np.where(minutes < 10, 1.0, 0.0))
    return AlertCase(alert, [up], [5, 10, 14, 16, 20],
                     f"{alert.name} fires once the exporter has been down for {alert.for_}")
