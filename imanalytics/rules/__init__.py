"""Everything that becomes a Prometheus rule file, and the checks on it.

`recording` (``level:metric:operations`` rules from the catalog), `alerts` (alert rules
for the SLIs), `templates` (alert labels and annotations expanded as Prometheus does),
`files` (rule-file YAML and promtool), `rulefmt` (what Prometheus refuses in a rule file
it loads, checked before one is read), `promtool_tests` (``promtool test rules`` files with
locally computed expectations), `artifacts` (generated files written or checked fresh) and
`backtest` (a rule file evaluated over history as the rule manager runs it, `phases`
placing its groups at a server's evaluation times, `gotemplate` running its templates).
"""

from .alerts import (
    DEFAULT_RUNBOOKS,
    LAYER_SEVERITY,
    SEVERITIES,
    AlertRule,
    alert_groups,
    alert_name,
    band_alert,
    static_alert,
)
from .artifacts import Artifact, StaleArtifacts, recording_artifacts
from .backtest import Backtest, RuleFileEvaluationError, evaluate_file
from .files import HEADER, RuleFileError, check_rules, dump_rules, run_rule_tests, write_rule_file
from .phases import server_phases
from .promtool_tests import AlertCase, alert_test_file, fires, firing, recording_test_file
from .recording import QUANTILES, WINDOW, RecordingRule, inline, recording_rules, rule_groups
from .rulefmt import RuleFormatError, check_rule_file

__all__ = [
    "DEFAULT_RUNBOOKS",
    "HEADER",
    "LAYER_SEVERITY",
    "QUANTILES",
    "SEVERITIES",
    "WINDOW",
    "AlertCase",
    "AlertRule",
    "Artifact",
    "Backtest",
    "RecordingRule",
    "RuleFileError",
    "RuleFormatError",
    "RuleFileEvaluationError",
    "StaleArtifacts",
    "alert_groups",
    "alert_name",
    "alert_test_file",
    "band_alert",
    "check_rule_file",
    "check_rules",
    "dump_rules",
    "evaluate_file",
    "fires",
    "firing",
    "inline",
    "recording_artifacts",
    "recording_rules",
    "recording_test_file",
    "rule_groups",
    "run_rule_tests",
    "server_phases",
    "static_alert",
    "write_rule_file",
]
