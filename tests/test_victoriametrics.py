"""A real VictoriaMetrics filled with the simulated workload: exact pulls, the CLI commands,
and the generated rules recording and firing in vmalert as they do in Prometheus."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from imanalytics.catalog import load_catalog
from imanalytics.cli import main
from imanalytics.demo import compare_slis
from imanalytics.sandbox.server import SandboxError
from imanalytics.sandbox.victoria import check_vmalert_rules, replay_rules
from imanalytics.source import PromSource, TooManySeries
from imanalytics.source.stream import MatrixStream, Unstreamable

RECORDING = Path(__file__).parent.parent / "rules" / "im-recording.rules.yml"
END = pd.Timestamp("2026-03-02T00:00:00Z")
VM_PRECISION = 1e-11
DAY = (END - pd.Timedelta("1D"), END)


@pytest.fixture(scope="module")
def reviewed(victoria, tmp_path_factory):
    """review-thresholds run against VictoriaMetrics; its output folder."""
    out = tmp_path_factory.mktemp("vm-review")
    code = main(["review-thresholds", "--url", victoria.url, "--since", "1d", "--until",
                 str(END), "--out", str(out)])
    assert code == 0
    return out


def test_raw_pulls_equal_what_was_loaded(victoria, workload):
    source = PromSource(victoria.url)
    names = ["im_messages_sent_total", "im_mq_consumer_lag_seconds",
             "im_message_e2e_latency_seconds_bucket"]
    for name in names:
        loaded = {s.key: s for s in workload.series if s.name == name}
        pulled = source.raw(name, workload.start, workload.end)
        assert loaded and {s.key for s in pulled} == set(loaded)
        for s in pulled:
            np.testing.assert_array_equal(s.t, loaded[s.key].t)
            # VictoriaMetrics stores values as decimals of 12 significant digits.
            np.testing.assert_allclose(s.v, loaded[s.key].v, rtol=VM_PRECISION, atol=0)
    assert victoria.samples == workload.n_samples


def test_replies_stream_from_victoriametrics_as_read_whole(victoria, monkeypatch):
    # Its JSON is Prometheus' compact form: every reply streams, none is asked for twice.
    expr, grid = "im_messages_sent_total", (*DAY, "1m")
    fed, finish = [], MatrixStream.finish
    monkeypatch.setattr(MatrixStream, "finish", lambda self: fed.append(self) or finish(self))
    source = PromSource(victoria.url, max_samples=5_000)
    streamed = source.range(expr, *grid)
    assert len(fed) > 3 and source._streams and streamed.notna().all().all()
    monkeypatch.setattr(MatrixStream, "feed", _refuse)
    whole = PromSource(victoria.url, max_samples=5_000).range(expr, *grid)
    pd.testing.assert_frame_equal(streamed, whole)


def _refuse(self, data):
    raise Unstreamable("read whole for the comparison")


def test_raw_bounds_are_inclusive(victoria, workload):
    s = next(x for x in workload.series if x.name == "im_mq_consumer_lag_seconds")
    selector = f'im_mq_consumer_lag_seconds{{instance="{s.labels["instance"]}"}}'
    (got,) = PromSource(victoria.url).raw(selector, s.t[5] / 1000, s.t[9] / 1000)
    np.testing.assert_array_equal(got.t, s.t[5:10])


def test_inventory_names_the_engine(victoria, capsys):
    code = main(["inventory", "--url", victoria.url, "--start", str(DAY[0]),
                 "--end", str(DAY[1])])
    out = capsys.readouterr().out
    assert code == 0
    assert "engine: VictoriaMetrics" in out and "catalog series found: 32 of 32" in out


def test_review_names_the_engine_and_its_semantics(reviewed, capsys):
    assert (reviewed / "im-alerts.rules.yml").exists()
    summary = (reviewed / "summary.md").read_text() + (reviewed / "report.html").read_text()
    assert "Data: VictoriaMetrics (version not reported), SLIs evaluated locally from raw " \
        "samples (Prometheus semantics)." in summary
    assert "the server is VictoriaMetrics: its rate/increase/delta do not extrapolate" in summary


def test_local_vs_victoriametrics_is_labelled_with_its_difference(victoria, prom, workload):
    cat = load_catalog(None)
    on_vm = compare_slis(victoria.url, workload, cat).set_index("sli")
    on_prom = compare_slis(prom.url, workload, cat).set_index("sli")
    assert (on_vm["semantics"] == "local Prometheus vs server VictoriaMetrics").all()
    assert (on_prom["semantics"] == "Prometheus").all()
    assert on_prom["max_rel_diff"].max() < 1e-9
    # Plain gauges agree; rate-based SLIs measurably differ under VictoriaMetrics' rules.
    assert on_vm.loc["connections", "max_rel_diff"] < 1e-9
    assert on_vm.loc["delivery_failure_ratio", "max_rel_diff"] > 1e-3


def test_vmalert_records_and_fires_as_prometheus(victoria, prom, reviewed):
    alerts = reviewed / "im-alerts.rules.yml"
    check_vmalert_rules([RECORDING, alerts])
    replay_rules(victoria.url, [RECORDING], *DAY)
    replay_rules(victoria.url, [alerts], *DAY)
    vm, server = PromSource(victoria.url), PromSource(prom.url)
    exprs = _rules(RECORDING, "record")
    # A gauge's recording: identical to Prometheus evaluating the same expression.
    record = "job_instance:im_mq_consumer_lag_seconds:max"
    recorded = {s.key: s for s in vm.raw(record, *DAY)}
    expected = server.range(exprs[record], *DAY, "1m")
    assert recorded and len(recorded) == expected.shape[1]
    for s in recorded.values():
        column = expected[[c for c in expected.columns
                           if f'instance="{s.labels["instance"]}"' in c][0]]
        want = column.reindex(pd.to_datetime(s.t, unit="ms", utc=True))
        np.testing.assert_allclose(s.v, want.to_numpy(), rtol=VM_PRECISION, atol=0)
    # Each generated alert fires at the evaluations where Prometheus finds its expression
    # true: exactly for gauges, and nearly for rates (VictoriaMetrics' own rate rules).
    rules = _rules(alerts, "alert")
    assert "ImMqConsumerLagHigh" in rules
    for name, expr in rules.items():
        expanded = _expand(expr, exprs)
        truth = server.range(expanded, *DAY, "5m")
        fired = vm.raw(f'ALERTS{{alertname="{name}"}}', *DAY)
        times = truth.stack().dropna().index.get_level_values(0)
        want = set((times - pd.Timestamp(0, tz="UTC")) // pd.Timedelta("1ms"))
        got = {int(t) for s in fired for t in s.t}
        assert want, f"{name} never fires in Prometheus over the day"
        if re.search(r"\b(rate|increase|delta|irate)\(", expanded):
            assert len(got & want) >= 0.5 * len(got | want), (name, sorted(got ^ want))
        else:
            assert got == want, name


def test_vmalert_refuses_a_broken_rule_file(tmp_path):
    bad = tmp_path / "bad.rules.yml"
    bad.write_text("groups:\n- name: g\n  rules:\n  - record: x\n    expr: sum(rate(\n")
    with pytest.raises(SandboxError, match="vmalert refused .*bad.rules.yml"):
        check_vmalert_rules([bad])


def _expand(expr: str, records: dict[str, str]) -> str:
    """`expr` with each recorded name replaced by the expression that records it."""
    for name, body in records.items():
        expr = re.sub(rf"\b{re.escape(name)}\b", f"({body})", expr)
    return expr


def _rules(path: Path, kind: str) -> dict[str, str]:
    groups = yaml.safe_load(path.read_text())["groups"]
    return {r[kind]: r["expr"] for g in groups for r in g["rules"] if kind in r}


def test_export_respects_max_series(victoria, workload):
    with pytest.raises(TooManySeries, match="max_series=1"):
        PromSource(victoria.url, max_series=1).raw("im_mq_consumer_lag_seconds",
                                                   workload.start, workload.end)
