"""Shared fixtures: one small simulated workload and one real Prometheus serving it."""

from __future__ import annotations

import pytest

from imanalytics.sandbox import PrometheusSandbox
from imanalytics.sandbox.workload import simulate

# A fixed end keeps every run identical, whatever the clock says.
SANDBOX_END = "2026-03-02T00:00:00Z"


@pytest.fixture(scope="session")
def workload():
    return simulate(instances=2, days=2, seed=11, end=SANDBOX_END)


@pytest.fixture(scope="session")
def prom(workload):
    """The session's sandbox Prometheus; every integration test shares it."""
    with PrometheusSandbox(workload.series) as sandbox:
        yield sandbox


@pytest.fixture(scope="session")
def victoria(workload):
    """A real VictoriaMetrics filled with the same workload through its import API."""
    from imanalytics.sandbox.victoria import VictoriaMetricsSandbox

    with VictoriaMetricsSandbox(workload.series) as sandbox:
        yield sandbox
