"""Alerting: alert rules for the IM SLIs, their promtool tests, Alertmanager configuration."""

from .alertmanager import AlertmanagerSettings, Robots, alertmanager_config, dump_config
from .rules import AlertRule, alert_groups, alert_name, band_alert, static_alert

__all__ = [
    "AlertRule",
    "AlertmanagerSettings",
    "Robots",
    "alert_groups",
    "alert_name",
    "alertmanager_config",
    "band_alert",
    "dump_config",
    "static_alert",
]
