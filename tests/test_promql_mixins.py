"""Rule files that real teams run (../shared/mixin-rules: node-mixin, kubernetes-mixin,
prometheus-mixin, ...): every expression parses locally, and evaluates equal to a real
Prometheus over a small simulated input holding the metrics the rules read.

The files live beside the repository (or in $IMANALYTICS_MIXIN_RULES); where they are absent
the tests skip, naming the directory they looked for.
"""

from __future__ import annotations

import os
import re
import zlib
from pathlib import Path

import numpy as np
import pytest
import yaml
from promql_oracle import against_server

from imanalytics.promql import ast, parse
from imanalytics.samples import Series
from imanalytics.sandbox import PrometheusSandbox

ENV = "IMANALYTICS_MIXIN_RULES"
ROOT = Path(os.environ.get(ENV) or Path(__file__).resolve().parents[2] / "shared" /
            "mixin-rules")
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
SCRAPE_MS, HOURS = 30_000, 2
GRID = (START_MS + 1800_000, START_MS + HOURS * 3600_000, 60_000)
# Labels the mixins join and group on; two values each so joins and groups have work.
COMMON = {"job": ("node", "kube"), "instance": ("10.0.0.1:9100", "10.0.0.2:9100"),
          "namespace": ("default", "monitoring"), "pod": ("web-0", "web-1"),
          "container": ("app", "sidecar"), "node": ("n1", "n2"), "cluster": ("c1", "c1")}
COUNTER = re.compile(r"(_total|_count|_sum|_bucket|_seconds_total)$")

pytestmark = pytest.mark.skipif(not ROOT.is_dir(), reason=f"mixin rule files missing: {ROOT} "
                                f"(set {ENV} to their directory)")


def rules() -> list[tuple[str, str]]:
    out = []
    for path in sorted(ROOT.glob("*.yml")) if ROOT.is_dir() else []:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                name = rule.get("record") or rule.get("alert")
                out.append((f"{path.stem}:{name}", rule["expr"]))
    return out


RULES = rules()


def selectors(node: ast.Node):
    node = ast.unwrap(node)
    if isinstance(node, ast.VectorSelector):
        yield node
    for child in ast.children(node):
        yield from selectors(child)


def simulated_input() -> list[Series]:
    """Two series per selector the rules hold, with the labels the selector asks for."""
    t = START_MS + np.arange(HOURS * 3600_000 // SCRAPE_MS, dtype=np.int64) * SCRAPE_MS
    made: dict[tuple, Series] = {}
    for _, expr in RULES:
        for sel in selectors(parse(expr)):
            fixed = {m.label: _example(m) for m in sel.matchers if _example(m) is not None}
            name = fixed.get("__name__")
            if name is None:
                continue
            for variant in range(2):
                labels = {k: v[variant] for k, v in COMMON.items()} | fixed
                labels = {k: v for k, v in labels.items() if v}  # "" means absent
                for le in (("0.1", "1", "+Inf") if name.endswith("_bucket") else (None,)):
                    full = labels | ({"le": le} if le else {})
                    key = tuple(sorted(full.items()))
                    if key not in made:
                        made[key] = Series(full, t, _values(key, name, le, len(t)))
    return list(made.values())


def _example(matcher: ast.Matcher) -> str | None:
    """A label value the matcher accepts (None: leave the label as COMMON sets it)."""
    if matcher.op == "=":
        return matcher.value
    if matcher.op == "=~":
        first = matcher.value.split("|")[0]
        return first if re.fullmatch(r"[\w:./-]+", first) else None
    return None


def _values(key: tuple, name: str, le: str | None, n: int) -> np.ndarray:
    rng = np.random.default_rng(zlib.crc32(repr(key).encode()))
    if COUNTER.search(name):
        scale = {"0.1": 0.3, "1": 0.8, "+Inf": 1.0}.get(le, 1.0)
        return np.cumsum(rng.poisson(20, n) * scale).astype(np.float64)
    return np.round(rng.uniform(0, 1, n), 3)


@pytest.fixture(scope="module")
def data():
    return simulated_input()


@pytest.fixture(scope="module")
def server(data):
    with PrometheusSandbox(data) as sandbox:
        yield sandbox


def test_every_rule_parses():
    assert len(RULES) >= 200
    for _, expr in RULES:
        parse(expr)  # raises, naming the expression, if it does not


def test_rules_evaluate_equal_to_prometheus(server, data):
    differing, results = [], 0
    for name, expr in RULES:
        outcome = against_server(server.url, data, expr, *GRID)
        if outcome is None:  # refused on both sides
            continue
        served, problems = outcome
        results += bool(served)
        if problems:
            differing.append(f"{name}: {expr}\n  " + "\n  ".join(problems[:3]))
    assert not differing, "\n".join(differing[:10])
    assert results >= len(RULES) // 2, f"only {results} rules returned series"
    print(f"{len(RULES)} rules; {results} returned series on both sides, all equal")


def test_rule_files_backtest(data):
    """Every mixin file runs through the rule-manager backtest over the simulated input
    (the series a file records are left out of the input: the backtest writes them)."""
    from imanalytics.rules import evaluate_file

    for path in sorted(ROOT.glob("*.yml")):
        groups = yaml.safe_load(path.read_text())["groups"]
        recorded = {r["record"] for g in groups for r in g["rules"] if "record" in r}
        raw = [s for s in data if s.name not in recorded]
        result = evaluate_file(path, raw, GRID[0] / 1000, GRID[1] / 1000, GRID[2] / 1000)
        assert {s.name for s in result.series} <= recorded | {"ALERTS", "ALERTS_FOR_STATE"}
        unexpanded = [n for notes in result.alerts.annotations for n in notes.values()
                      if n.startswith("<not expanded")]
        assert len(unexpanded) <= len(result.alerts), path.name
