"""Choosing one candidate per SLI: the best F1 within a page budget.

Only candidates Prometheus can run are recommended. Ties go to fewer pages, then to the
faster detection, then to the longer ``for:`` (steadier). Without incidents to measure
recall against, the choice falls back to noise: the team's own static rule if it fits
the budget, else the quietest candidate — flagged so a person judges it.
"""

from __future__ import annotations

import pandas as pd

DEFAULT_PAGE_BUDGET = 2.0  # pages per week per SLI
MIN_RECALL = 0.5  # below this a candidate misses most incidents, however quiet


def recommend(candidates: pd.DataFrame, page_budget: float = DEFAULT_PAGE_BUDGET,
              static_level: float | None = None) -> tuple[pd.Series, str]:
    """(the chosen row, why) among one SLI's candidates."""
    pool = candidates[candidates["exportable"]].copy()
    pool["for_min"] = pd.to_timedelta(pool["for"]) / pd.Timedelta("1min")
    if pool["incidents"].max() > 0:
        return _by_f1(pool, page_budget)
    return _by_noise(pool, page_budget, static_level)


def _by_f1(pool: pd.DataFrame, budget: float) -> tuple[pd.Series, str]:
    within = pool[(pool["pages_per_week"] <= budget) & (pool["recall"] >= MIN_RECALL)]
    if within.empty:
        quietest = pool.sort_values(["pages_per_week", "f1"], ascending=[True, False])
        return quietest.iloc[0], (f"no candidate detects half the incidents within "
                                  f"{budget:g} pages/week; the quietest is shown")
    # A rule that fires on a single bad evaluation is twitchy: at equal F1 and noise,
    # one that waits a couple of minutes wins, then the faster detection.
    within = within.assign(steady=within["for_min"] >= 2)
    ranked = within.sort_values(["f1", "pages_per_week", "steady", "mean_ttd_min"],
                                ascending=[False, True, False, True], na_position="last")
    best = ranked.iloc[0]
    return best, (f"best F1 ({best.f1:.2f}) within {budget:g} pages/week")


def _by_noise(pool: pd.DataFrame, budget: float, static_level: float | None):
    static = pool[(pool["strategy"] == "static") & (pool["level"] == static_level)
                  & (pool["for_min"] >= 5)] if static_level is not None else pool.iloc[:0]
    fitting = static[static["pages_per_week"] <= budget]
    if len(fitting):
        return fitting.sort_values("for_min").iloc[0], (
            "no incidents to judge recall: the current static rule fits the page budget")
    quietest = pool.sort_values(["pages_per_week", "for_min"]).iloc[0]
    return quietest, "no incidents to judge recall: the quietest candidate, for a person to judge"
