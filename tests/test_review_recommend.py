"""The recommendation rules on small candidate tables whose answer is known by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from imanalytics.review.recommend import KEEP, check_budget, recommend


def _table(*rows: dict) -> pd.DataFrame:
    base = {"strategy": "static", "level": 1.0, "for": "5m", "for_min": 5.0, "alerts": 2,
            "false_pages_per_week": 0.0, "alert_minutes": 30.0, "recall": 1.0, "f1": 1.0,
            "mean_ttd_min": 3.0, "incidents": 2, "detected": 2, "fires_on_worst": True}
    return pd.DataFrame([{**base, **row} for row in rows])


def _pick(table: pd.DataFrame, budget: float = 2.0) -> str | None:
    best, _ = recommend(table, budget)
    return None if best is None else best["candidate"]


def test_true_alerts_never_count_against_the_budget():
    table = _table({"candidate": "noisy but right", "alerts": 40, "false_pages_per_week": 0.0},
                   {"candidate": "quiet, half", "alerts": 1, "recall": 0.5, "f1": 0.67,
                    "detected": 1})
    assert _pick(table) == "noisy but right"


def test_false_pages_over_the_budget_rule_a_candidate_out():
    table = _table({"candidate": "best F1, too noisy", "false_pages_per_week": 2.5},
                   {"candidate": "within", "f1": 0.8, "false_pages_per_week": 2.0})
    assert _pick(table) == "within"


def test_ties_go_to_earlier_detection_then_simpler_then_shorter_for_then_quieter():
    table = _table(
        {"candidate": "auto, fast", "strategy": "auto", "mean_ttd_min": 1.0},
        {"candidate": "static, slow", "mean_ttd_min": 4.0})
    assert _pick(table) == "auto, fast"
    # equal F1 and detection: static before a PromQL band before an exporter baseline,
    # whatever the alphabet says
    table = _table({"candidate": "a seasonal", "strategy": "seasonal"},
                   {"candidate": "b adaptive", "strategy": "adaptive_band"},
                   {"candidate": "c week", "strategy": "week_over_week"})
    assert _pick(table) == "b adaptive"
    table = _table({"candidate": "for 10m", "for": "10m", "for_min": 10.0},
                   {"candidate": "for 2m", "for": "2m", "for_min": 2.0})
    assert _pick(table) == "for 2m"
    table = _table({"candidate": "long", "alert_minutes": 90.0},
                   {"candidate": "short", "alert_minutes": 20.0})
    assert _pick(table) == "short"


def test_a_candidate_that_caught_nothing_is_never_recommended():
    table = _table({"candidate": "silent", "alerts": 0, "recall": 0.0, "f1": 0.0,
                    "detected": 0, "mean_ttd_min": math.nan},
                   {"candidate": "catches, too noisy", "false_pages_per_week": 9.0})
    best, why = recommend(table, 2.0)
    assert best is None
    assert why.startswith(f"no recommendation — {KEEP}") and "2 incident(s)" in why


def test_without_incidents_the_quietest_that_fires_on_the_worst_excursion():
    quiet = {"incidents": 0, "recall": math.nan, "f1": math.nan, "detected": 0,
             "mean_ttd_min": math.nan}
    table = _table({**quiet, "candidate": "silent", "false_pages_per_week": 0.0,
                    "other_pages_per_week": 0.0, "fires_on_worst": False},
                   {**quiet, "candidate": "one page", "false_pages_per_week": 2.5,
                    "other_pages_per_week": 0.0},
                   {**quiet, "candidate": "chatty", "false_pages_per_week": 5.0,
                    "other_pages_per_week": 2.5})
    # the page on the worst excursion is what the rule is for: only the others are budgeted
    assert _pick(table) == "one page"
    assert _pick(table.assign(fires_on_worst=False)) is None
    noisy = table.assign(other_pages_per_week=[0.0, 3.0, 4.0])
    assert _pick(noisy) is None


@pytest.mark.parametrize("budget", [0, -1, math.nan, math.inf, "two", None])
def test_a_budget_must_be_a_positive_number(budget):
    with pytest.raises(ValueError, match="--page-budget must be a positive number"):
        check_budget(budget)
