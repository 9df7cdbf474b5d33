"""Old import paths of moved modules (now in `imanalytics.rules`, `imanalytics.dashboards`
and `imanalytics.source`): they still work, and warn."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import pytest

from imanalytics import rules
from imanalytics.dashboards.artifacts import dashboard_artifacts
from imanalytics.rules import templates
from imanalytics.source import engines

ROOT = Path(__file__).resolve().parent.parent

# (old module, where it moved, a name read through it, what that name is now)
MOVED = [
    ("imanalytics.rulefiles", "imanalytics.rules", "check_rules", rules.check_rules),
    ("imanalytics.generate", "imanalytics.rules", "recording_artifacts",
     rules.recording_artifacts),
    ("imanalytics.generate", "imanalytics.rules", "dashboard_artifacts", dashboard_artifacts),
    ("imanalytics.backtest", "imanalytics.rules", "go_value", templates.go_value),
    ("imanalytics.rule_tests", "imanalytics.rules", "unit_tests", rules.recording_test_file),
    ("imanalytics.alerting.rules", "imanalytics.rules", "static_alert", rules.static_alert),
    ("imanalytics.alerting.rule_tests", "imanalytics.rules", "unit_test_file",
     rules.alert_test_file),
    ("imanalytics.alerting.humanize", "imanalytics.rules", "humanize", templates.humanize),
    ("imanalytics.engines", "imanalytics.source", "detect", engines.detect),
]
OLD_PATH = re.compile(r"imanalytics\.(rulefiles|rule_tests|generate|backtest|engines"
                      r"|alerting\.(rules|rule_tests|humanize))\b")


def _fresh_import(name: str):
    sys.modules.pop(name, None)  # an alias warns when it is imported, so import it anew
    return importlib.import_module(name)


@pytest.mark.parametrize(("old", "home", "name", "now"), MOVED)
def test_an_old_path_still_imports_and_warns(old, home, name, now):
    with pytest.warns(DeprecationWarning, match=rf"^{re.escape(old)} moved to {re.escape(home)}"):
        module = _fresh_import(old)
    assert getattr(module, name) is now
    with pytest.raises(AttributeError, match=f"{old}.*no_such_name"):
        module.no_such_name  # noqa: B018


def test_the_alerting_package_still_lends_the_alert_rules():
    with pytest.warns(DeprecationWarning, match="alerting.static_alert moved to imanalytics.rules"):
        from imanalytics.alerting import static_alert
    assert static_alert is rules.static_alert


def test_the_suite_fails_a_test_that_imports_an_old_path():
    # pyproject's filterwarnings turns the alias warning into an error under pytest.
    with pytest.raises(DeprecationWarning, match="imanalytics.rulefiles moved to"):
        _fresh_import("imanalytics.rulefiles")


def test_notebooks_docs_and_benches_use_the_new_paths():
    places = [*ROOT.glob("notebooks/*.ipynb"), *ROOT.glob("docs/*.md"), ROOT / "README.md",
              *ROOT.glob("bench/*.py")]
    stale = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in places
             for m in OLD_PATH.finditer(p.read_text(encoding="utf-8"))]
    assert not stale, stale
