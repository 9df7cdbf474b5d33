"""Over several simulated fleets, every recommendation caught an incident or keeps the
current rule, and no candidate within the false-page budget has a higher F1."""

from __future__ import annotations

import pytest

from imanalytics.review import review_thresholds
from imanalytics.sandbox.workload import simulate

DEMO_SEED = 0  # the seed `make demo` reviews
SEEDS = (DEMO_SEED, 1, 2, 3)


@pytest.mark.parametrize("seed", SEEDS)
def test_recommendations_caught_an_incident_and_are_not_beaten(seed):
    fleet = simulate(instances=2, days=6, seed=seed, end="2026-03-07T00:00:00Z")
    review = review_thresholds(fleet, "6d", strategies=("adaptive_band", "seasonal"))
    assert len(review.backtests) == 7
    judged_any = False
    for rec in review.recommendations.to_dict("records"):
        table = review.backtest(rec["sli"]).candidates
        within = table[table["false_pages_per_week"] <= review.page_budget]
        if table["incidents"].max() == 0:
            assert not rec["recommended"] or rec["fires_on_worst"], rec["sli"]
            continue
        judged_any = True
        if not rec["recommended"]:
            assert rec["candidate"] == "keep the current rule"
            assert not (within["recall"] > 0).any(), rec["sli"]
            continue
        assert rec["recall"] > 0 and rec["false_pages_per_week"] <= review.page_budget
        better = within[within["f1"] > rec["f1"] + 1e-12]
        assert better.empty, (rec["sli"], rec["candidate"], list(better["candidate"]))
    assert judged_any
