"""Prometheus' own PromQL test files (v2.42.0, v2.53.0, v3.0.0) through the local evaluator.

Every float case either passes or is refused by name; a wrong answer or an evaluation error
fails the test. The files live beside the repository (see tests/promqltest.py); where they are
absent the tests skip, naming the directory they looked for.
"""

from __future__ import annotations

import promqltest
import pytest

ROOT = promqltest.testdata_dir()
MISSING = promqltest.missing_tags(ROOT)


@pytest.mark.skipif(bool(MISSING), reason=f"Prometheus test files missing: {ROOT}/"
                    f"{{{','.join(MISSING)}}} (set {promqltest.ENV} to their directory)")
@pytest.mark.parametrize("tag", promqltest.TAGS)
def test_conformance(tag):
    outcomes = promqltest.run_tag(ROOT, tag)
    assert outcomes, f"no cases read from {ROOT / tag}"
    bad = [o for o in outcomes if o.kind in ("wrong", "error")]
    assert not bad, "\n".join(f"{o.file}:{o.line} {o.kind}: {o.expr} -- {o.detail}"
                              for o in bad[:20])
    print(promqltest.table(outcomes))


def test_series_notation():
    values = promqltest.parse_values("0+10x3 _ 5 _x2 -1-1x1 3x2 stale")
    assert values[:4] == [0, 10, 20, 30]
    assert values[4:9] == [None, 5, None, None, -1]
    assert values[9:13] == [-2, 3, 3, 3]
    assert promqltest.is_stale(values[13])
    labels, vals = promqltest.parse_series_line('m{a="x,\\"y"} 1 {{schema:0 sum:1}}')
    assert labels == {"__name__": "m", "a": 'x,"y'} and vals is None


def test_harness_detects_wrong_answers(tmp_path):
    """A deliberately wrong expectation is reported as wrong, an expected failure that
    evaluates too, so a passing conformance run means something."""
    case = tmp_path / "t.test"
    case.write_text("load 1m\n  m{a=\"1\"} 1 2 3\n\neval instant at 2m m\n  m{a=\"1\"} 4\n\n"
                    "eval instant at 2m m\n  m{a=\"1\"} NaN\n\n"
                    "eval range from 0 to 2m step 1m m\n  m{a=\"1\"} 1 _ 3\n\n"
                    "eval_fail instant at 2m m\n\n"
                    "eval instant at 2m m * 2\n  {a=\"1\"} 6\n")
    kinds = [o.kind for o in promqltest.run_file(case, "v2.42.0")]
    assert kinds == ["wrong", "wrong", "wrong", "wrong", "passed"]
