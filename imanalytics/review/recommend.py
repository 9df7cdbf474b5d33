"""Choosing one candidate per SLI, or none.

The rules, in order:

1. The page budget counts **false pages**: alerts that match no incident, per week of
   the judged history. Alerts on real incidents are shown, never penalised.
2. With incidents in the judged history: among candidates within the budget that caught
   at least one incident, the best F1, then the earliest mean detection, then the
   simplest (static, then PromQL-native bands, then exporter-served baselines; then the
   shorter ``for:``; then fewer alert-minutes). If no candidate within the budget caught
   an incident, there is no recommendation: keep the current rule.
3. Without incidents: the quietest candidate that would still have fired on the SLI's
   worst excursion (its most extreme point on the bad side), simplest first on ties; its
   other alerts must fit the budget. Or none, and the current rule stays.

Every strategy is eligible; `ships` says whether the winner runs as PromQL rules or
needs the baseline exporter.
"""

from __future__ import annotations

import math

import pandas as pd

from .backtest import simplicity

DEFAULT_PAGE_BUDGET = 2.0  # false pages per week per SLI
KEEP = "keep the current rule"
NO_RECOMMENDATION = f"no recommendation — {KEEP}"


def check_budget(page_budget) -> float:
    """The budget as a positive finite number, or a one-line error naming it."""
    try:
        budget = float(page_budget)
    except (TypeError, ValueError):
        budget = math.nan
    if not math.isfinite(budget) or budget <= 0:
        raise ValueError(f"--page-budget must be a positive number of false pages per week "
                         f"(got {page_budget!r})")
    return budget


def recommend(candidates: pd.DataFrame, page_budget: float = DEFAULT_PAGE_BUDGET
              ) -> tuple[pd.Series | None, str]:
    """(the chosen row or None, why) among one SLI's candidates."""
    budget = check_budget(page_budget)
    incidents = int(candidates["incidents"].max()) if len(candidates) else 0
    if incidents:
        return _by_f1(candidates[candidates["false_pages_per_week"] <= budget], budget,
                      incidents)
    # Without labels the worst excursion stands in for an incident: alerts on it are
    # what the rule is for, the others count against the budget.
    return _by_noise(candidates[candidates["other_pages_per_week"] <= budget], budget)


def ranked(pool: pd.DataFrame) -> pd.DataFrame:
    """Best first: F1, earliest mean detection, then the simplest."""
    return _simplest_last(pool, ["f1", "mean_ttd_min"], [False, True])


def _simplest_last(pool: pd.DataFrame, keys: list[str], ascending: list[bool]) -> pd.DataFrame:
    ordered = pool.assign(_kind=pool["strategy"].map(simplicity))
    return ordered.sort_values(
        [*keys, "_kind", "for_min", "alert_minutes"], ascending=[*ascending, True, True, True],
        na_position="last", kind="stable").drop(columns="_kind")


def _by_f1(within: pd.DataFrame, budget: float, incidents: int):
    caught = within[within["recall"] > 0]
    if caught.empty:
        return None, (f"{NO_RECOMMENDATION}: no candidate within {budget:g} false pages/week "
                      f"caught any of the {incidents} incident(s)")
    best = ranked(caught).iloc[0]
    ttd = best["mean_ttd_min"]
    ttd = "" if pd.isna(ttd) else f", mean detection {ttd:.0f} min"
    return best, (f"best F1 ({best['f1']:.2f}) within {budget:g} false pages/week: caught "
                  f"{int(best['detected'])}/{incidents} incident(s){ttd}")


def _by_noise(within: pd.DataFrame, budget: float):
    firing = within[within["fires_on_worst"]]
    if firing.empty:
        return None, (f"{NO_RECOMMENDATION}: no incidents to judge, and no candidate fires "
                      f"on the worst excursion with at most {budget:g} other pages/week")
    best = _simplest_last(firing, ["false_pages_per_week"], [True]).iloc[0]
    return best, (f"no incidents to judge: the quietest candidate "
                  f"({best['false_pages_per_week']:.2g} pages/week) that fires on the "
                  f"worst excursion")
