"""Alertmanager's side of alerting: routing, receivers (DingTalk and WeCom robot bridges),
inhibition and message templates. The alert rules themselves are in `imanalytics.rules`."""

import warnings

from .alertmanager import AlertmanagerSettings, Robots, alertmanager_config, dump_config

__all__ = [
    "AlertmanagerSettings",
    "Robots",
    "alertmanager_config",
    "dump_config",
]

_MOVED = ("AlertRule", "alert_groups", "alert_name", "band_alert", "static_alert")


def __getattr__(name: str):
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(f"imanalytics.alerting.{name} moved to imanalytics.rules; import from there",
                  DeprecationWarning, stacklevel=2)
    from .. import rules

    return getattr(rules, name)
