"""The baseline exporter: baselines a review ships through it, served to a real Prometheus
that evaluates the shipped rules; restarts; bad baseline directories."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from exporter_driver import (
    Exporter,
    SLISource,
    api,
    firing,
    last_evaluation,
    vector,
    wait_for,
)

from imanalytics.cli import main
from imanalytics.exporter import (
    ExporterError,
    ServedSeries,
    open_store,
    save_baselines,
    series_labels,
)
from imanalytics.exporter.collector import bands_at
from imanalytics.frames import parse_series
from imanalytics.promql import evaluate
from imanalytics.review import backtest
from imanalytics.review.run import Review
from imanalytics.rules import check_rules, run_rule_tests
from imanalytics.sandbox import PrometheusSandbox
from imanalytics.sandbox.processes import free_port
from imanalytics.sandbox.workload import simulate
from imanalytics.slis import slis

# SLI -> the strategy its recommendation uses; both ship through the exporter.
SHIPPED = {"e2e_latency_p95": "seasonal", "processing_latency_p99": "auto"}


@pytest.fixture(scope="module")
def fleet():
    return simulate(instances=2, days=8, seed=31, end="2026-03-09T00:00:00Z")


@pytest.fixture(scope="module")
def review(fleet) -> Review:
    """A review whose recommendations are a seasonal and an `auto` candidate with
    ``for: 0m``, so a live Prometheus fires them on its first evaluation."""
    tests, rows = [], []
    for sli in slis():
        if sli.key not in SHIPPED:
            continue
        frame = evaluate(sli.expr, fleet.series, fleet.end - pd.Timedelta("8D"), fleet.end, "1m")
        test = backtest(sli, frame, fleet.incidents, strategies=(SHIPPED[sli.key],))
        pool = test.candidates[(test.candidates["strategy"] == SHIPPED[sli.key])
                               & (test.candidates["for"] == "0m")]
        best = pool.sort_values(["f1", "pages_per_week"], ascending=[False, True]).iloc[0]
        tests.append(test)
        rows.append(_recommended(sli, best))
    return Review(tests, pd.DataFrame(rows), fleet.end - pd.Timedelta("8D"), fleet.end, 2.0,
                  fleet.incidents)


@pytest.fixture(scope="module")
def written(review, tmp_path_factory):
    return review.write(tmp_path_factory.mktemp("review"))


def test_the_review_ships_exported_baselines_with_rules_and_tests(written, review):
    check_rules(written["alerts"])
    assert "SUCCESS" in run_rule_tests(written["alert_tests"])
    rules = {r["alert"]: r for g in yaml.safe_load(written["alerts"].read_text())["groups"]
             for r in g["rules"]}
    expr = rules["ImE2eLatencyP95High"]["expr"]
    assert expr == ("job_instance:im_message_e2e_latency_seconds:p95_rate5m > on (job, instance) "
                    '(imanalytics_baseline_upper{sli="e2e_latency_p95",strategy="seasonal"})')
    assert "ImBaselineExporterDown" in rules
    tests = yaml.safe_load(written["alert_tests"].read_text())["tests"]
    for alert in ("ImE2eLatencyP95High", "ImProcessingLatencyP99High"):
        names = [t["name"] for t in tests if t["name"].startswith(alert)]
        assert any("fires on" in n for n in names) and any("stays silent" in n for n in names)
    assert any(t["name"].startswith("ImBaselineExporterDown fires") for t in tests)
    inputs = {s["series"].split("{")[0] for t in tests for s in t["input_series"]}
    assert "imanalytics_baseline_upper" in inputs
    index = json.loads((written["baselines"] / "index.json").read_text())
    served = {(s["sli"], s["labels"]["instance"], s["strategy"]) for s in index["series"]}
    assert served == {(sli, f"im-{i}:9100", strategy) for sli, strategy in SHIPPED.items()
                      for i in (0, 1)}
    assert {s["fitted_until"] for s in index["series"]} == {review.end.isoformat()}
    job = yaml.safe_load(written["scrape_config"].read_text())["scrape_configs"][0]
    assert job["honor_labels"] is True


def test_a_review_without_exported_baselines_removes_the_stale_ones(review, tmp_path):
    first = review.write(tmp_path)
    assert (first["baselines"] / "index.json").exists()
    static = []
    for test in review.backtests:
        row = test.candidates[test.candidates["strategy"] == "static"].iloc[0]
        static.append(_recommended(test.sli, row))
    again = Review(review.backtests, pd.DataFrame(static), review.start, review.end, 2.0,
                   review.incidents).write(tmp_path)
    assert "baselines" not in again and not first["baselines"].exists()
    assert not first["scrape_config"].exists()
    assert "ImBaselineExporterDown" not in again["alerts"].read_text()


def test_prometheus_fires_on_an_incident_and_stays_silent_on_a_normal_value(written, tmp_path):
    exporter = Exporter(written["baselines"])
    with SLISource(SHIPPED) as source:
        jobs = yaml.safe_load(written["scrape_config"].read_text())["scrape_configs"]
        jobs[0].update(scrape_interval="1s", static_configs=[{"targets": [exporter.target]}])
        jobs.append({"job_name": "im", "honor_labels": True, "scrape_interval": "1s",
                     "static_configs": [{"targets": [source.target]}]})
        rules = [source.recording_rules(tmp_path / "sli.rules.yml"), written["alerts"]]
        with PrometheusSandbox([], rule_files=rules, evaluation_interval="1s",
                               scrape_configs=jobs) as prom:
            exporter.extra = ["--prometheus", prom.url]  # bands follow the recorded SLIs
            with exporter:
                _normal_then_incident(prom, source)
    assert exporter.returncode == 0 and "Traceback" not in exporter.stderr


def _normal_then_incident(prom, source) -> None:
    centres = wait_for(lambda: vector(prom, "imanalytics_baseline_centre"),
                        lambda found: len(found) == 4, "the exporter's bands")
    uppers = vector(prom, "imanalytics_baseline_upper")
    for labels, centre in centres.items():
        source.set(labels, centre)
    names = "|".join(s.record for s in slis() if s.key in SHIPPED)
    wait_for(lambda: api(prom, "query", query=f'{{__name__=~"{names}"}}')["result"],
              lambda found: len(found) == 4, "the SLI series")
    wait_for(lambda: vector(prom, "imanalytics_baseline_following == 1"),
              lambda found: len(found) == 4, "bands following the recorded SLIs")
    settled = time.time()
    wait_for(lambda: last_evaluation(prom), lambda t: t > settled + 1,
              "a rule evaluation after the normal values arrived")
    assert firing(prom) == set()
    incident = next(k for k in uppers if dict(k)["sli"] == "e2e_latency_p95"
                    and dict(k)["instance"] == "im-0:9100")
    source.set(incident, 3 * uppers[incident])
    fired = wait_for(lambda: firing(prom), bool, "the alert to fire")
    assert fired == {("ImE2eLatencyP95High", "im-0:9100")}


def test_a_restarted_exporter_serves_the_same_bands(written):
    store = open_store(written["baselines"])  # what was written, read back once
    served = []
    for _ in range(2):
        with Exporter(written["baselines"]) as exporter:
            before = time.time()
            served.append(exporter.bands())
            after = time.time()
            fitted = [line for line in exporter.metrics().splitlines() if line.startswith(
                "imanalytics_baseline_fitted_until_timestamp_seconds{")]
            assert len(fitted) == 4 and all(float(line.split()[-1]) == pd.Timestamp(
                "2026-03-09T00:00:00Z").timestamp() for line in fitted)
            exporter.stop()
            assert exporter.returncode == 0 and "Traceback" not in exporter.stderr
        expected = [_expected(store, t) for t in (before, after)]
        for key, value in served[-1].items():
            assert any(value == pytest.approx(e[key], rel=1e-12) for e in expected), key
    assert set(served[0]) == set(served[1]) and len(served[0]) == 3 * 4


def test_sighup_reloads_and_a_bad_reload_keeps_the_served_bands(written, tmp_path):
    import shutil
    import signal

    d = shutil.copytree(written["baselines"], tmp_path / "baselines")
    with Exporter(d) as exporter:
        first, sensitivities = exporter.bands(), exporter.sensitivities()
        narrow = open_store(d)
        doc = json.loads((d / "index.json").read_text())
        for entry in doc["series"]:
            entry["sensitivity"] += 1.0  # wider bands: every lower and upper edge moves
        (d / "index.json").write_text(json.dumps(doc))
        exporter.process.send_signal(signal.SIGHUP)
        widened = {k: v + 1.0 for k, v in sensitivities.items()}
        # Bands follow the clock, so wait on the reload itself, not on a change of bands.
        wait_for(exporter.sensitivities, lambda s: s == widened, "the reloaded sensitivities")
        before, wider, after = time.time(), exporter.bands(), time.time()
        assert set(wider) == set(first) and exporter.gauge("reload_success") == 1.0
        wide = open_store(d)
        for t in (before, after):  # the scrape fell at one of these instants' bands
            if all(wider[k] == pytest.approx(v, rel=1e-12) for k, v in _expected(wide, t).items()):
                break
        else:
            raise AssertionError("the reloaded bands are not the widened baselines' bands")
        uppers = [k for k in first if k[0].endswith("_upper")]
        assert all(_expected(wide, t)[k] > _expected(narrow, t)[k] for k in uppers)
        loaded = exporter.gauge("loaded_timestamp_seconds")

        _corrupt_model(d)
        exporter.process.send_signal(signal.SIGHUP)
        wait_for(lambda: exporter.gauge("reload_success"), lambda v: v == 0.0,
                 "the failed reload to show")
        assert set(exporter.bands()) == set(first)
        assert exporter.sensitivities() == widened
        assert exporter.gauge("loaded_timestamp_seconds") == loaded
        exporter.stop()
    assert exporter.returncode == 0 and "Traceback" not in exporter.stderr
    assert "reload failed, still serving the previous baselines" in exporter.stderr
    assert "is not a baseline file" in exporter.stderr


def test_every_baseline_class_is_served(tmp_path):
    from imanalytics.baselines import MultiSLIIsolationForest, QuantileGBM, STLBands

    index = pd.date_range("2026-02-20", "2026-03-02", freq="5min", tz="UTC", inclusive="left")
    t = (index - index[0]) / pd.Timedelta("1D")
    a = pd.Series(100 + 20 * np.sin(2 * np.pi * t), index=index)
    b = a * 0.01 + 0.5
    stl = STLBands(direction="upper").fit(a)
    gbm = QuantileGBM(direction="upper", max_iter=10).fit(a)
    forest = MultiSLIIsolationForest(n_estimators=20).fit(pd.DataFrame({"a": a, "b": b}))
    labels = {"job": "im", "instance": "x"}
    pairs = [(ServedSeries("stl", labels, "stl", 3.0, "upper"), stl),
             (ServedSeries("gbm", labels, "gbm", 2.0, "upper"), gbm),
             (ServedSeries("a", labels, "forest", 4.0, "upper", column="a"), forest),
             (ServedSeries("b", labels, "forest", 4.0, "lower", column="b"), forest)]
    save_baselines(tmp_path / "b", pairs)
    with pytest.raises(ExporterError, match=r"trusted=True .*\(serve-baselines --trusted\)"):
        open_store(tmp_path / "b")  # the GBM's and the forest's models are pickles
    store = open_store(tmp_path / "b", trusted=True)
    assert len(store.models) == 3  # the forest's two series share one file
    now = pd.DatetimeIndex([pd.Timestamp("2026-03-02T12:00:00Z")])
    got = {s.sli: band for s, band, _ in bands_at(store, now)}
    assert got["stl"]["upper"] == pytest.approx(stl.predict_bands(now, 3.0)["upper"].iloc[0])
    assert got["gbm"]["lower"] == pytest.approx(gbm.predict_bands(now, 2.0)["lower"].iloc[0])
    assert got["b"]["centre"] == pytest.approx(
        forest.predict_bands(now, 4.0)[("b", "centre")].iloc[0])
    assert got["a"]["centre"] != pytest.approx(got["b"]["centre"])


def test_a_model_that_predicts_no_band_now_is_refused_at_start(tmp_path):
    from imanalytics.baselines import AdaptiveBand

    index = pd.date_range("2026-02-20", "2026-03-02", freq="5min", tz="UTC")
    band = AdaptiveBand(direction="upper").fit(pd.Series(1.0 + 0.1 * np.arange(len(index)) % 3,
                                                         index=index))
    labels = {"job": "im", "instance": "x"}
    save_baselines(tmp_path / "b", [(ServedSeries("s", labels, "adaptive_band", 3.0, "upper"),
                                     band)])
    with pytest.raises(ExporterError, match="predicts no band now .* ships as PromQL rules"):
        open_store(tmp_path / "b")


def test_any_baseline_class_ships_through_the_exporter(fleet, tmp_path, monkeypatch):
    from imanalytics.baselines import QuantileGBM, STLBands
    from imanalytics.review.backtest import STRATEGIES

    strategies = {"e2e_latency_p95": ("stl", "STLBands"),
                  "processing_latency_p99": ("gbm", "QuantileGBM")}
    monkeypatch.setitem(STRATEGIES, "stl", lambda sli, train: STLBands(
        direction=sli.direction).fit(train))
    monkeypatch.setitem(STRATEGIES, "gbm", lambda sli, train: QuantileGBM(
        direction=sli.direction, max_iter=20).fit(train))
    tests, rows = [], []
    for sli in slis():
        if sli.key in strategies:
            strategy = strategies[sli.key][0]
            frame = evaluate(sli.expr, fleet.series, fleet.end - pd.Timedelta("8D"), fleet.end,
                             "1m")
            test = backtest(sli, frame, fleet.incidents, strategies=(strategy,),
                            sensitivities=(3.0,), fors=("5m",))
            tests.append(test)
            row = test.candidates[test.candidates["strategy"] == strategy].iloc[0]
            rows.append(_recommended(sli, row))
    review = Review(tests, pd.DataFrame(rows), fleet.end - pd.Timedelta("8D"), fleet.end, 2.0,
                    fleet.incidents)
    files = review.write(tmp_path / "out")
    check_rules(files["alerts"])
    assert "SUCCESS" in run_rule_tests(files["alert_tests"])
    names = [t["name"] for t in yaml.safe_load(files["alert_tests"].read_text())["tests"]]
    assert any(n.startswith("ImE2eLatencyP95High fires on") for n in names), names
    models = {(s.sli, s.model) for s in open_store(files["baselines"], trusted=True).series}
    assert models == {(sli, model) for sli, (_, model) in strategies.items()}


def _corrupt_model(d: Path) -> str:
    (d / next(iter(_index(d)))).write_bytes(b"not a model")
    return "is not a baseline file"


def _missing_model(d: Path) -> str:
    (d / next(iter(_index(d)))).unlink()
    return "does not exist"


def _bad_json(d: Path) -> str:
    (d / "index.json").write_text("{")
    return "index.json is not valid JSON"


def _edit_series(d: Path, i: int, **fields) -> None:
    """Set fields of series `i` in index.json; None removes the field."""
    doc = json.loads((d / "index.json").read_text())
    for name, value in fields.items():
        if value is None:
            del doc["series"][i][name]
        else:
            doc["series"][i][name] = value
    (d / "index.json").write_text(json.dumps(doc))


def _escaping_path(d: Path) -> str:
    _edit_series(d, 0, file="../elsewhere.baseline")
    return "must be a path inside"


def _no_sensitivity(d: Path) -> str:
    _edit_series(d, 1, sensitivity=None)
    return "series 1: field 'sensitivity' is missing"


def _naive_fitted_until(d: Path) -> str:
    _edit_series(d, 0, fitted_until="2026-03-09 00:00")
    return "series 0: fitted_until must be an ISO time with a zone"


@pytest.mark.parametrize("spoil", [_corrupt_model, _missing_model, _bad_json, _escaping_path,
                                   _no_sensitivity, _naive_fitted_until])
def test_a_bad_baseline_directory_is_an_error_at_start(written, tmp_path, capsys, spoil):
    import shutil

    d = shutil.copytree(written["baselines"], tmp_path / "baselines")
    message = spoil(d)
    assert main(["serve-baselines", "--baselines", str(d), "--port", str(free_port())]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err


def test_a_port_in_use_is_named(written, capsys):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["serve-baselines", "--baselines", str(written["baselines"]), "--port",
                     str(port)])
    assert code == 1 and f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_missing_and_empty_directories_fail_with_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    for d, message in ((tmp_path / "nope", "does not exist"), (tmp_path / "empty", "is empty")):
        done = subprocess.run([sys.executable, "-m", "imanalytics", "serve-baselines",
                               "--baselines", str(d), "--port", str(free_port())],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 1 and message in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


def test_bands_follow_the_slis_level_read_from_prometheus(prom, workload, tmp_path, capsys):
    from imanalytics.baselines import auto
    from imanalytics.exporter.live import LiveLevels

    sli = next(s for s in slis() if s.key == "e2e_latency_p95")
    frame = evaluate(sli.expr, workload.series, workload.end - pd.Timedelta("2D"),
                     workload.end, "1m")
    column = frame.columns[0]
    model = auto(frame[column].loc[:frame.index[0] + pd.Timedelta("1D")].dropna())  # as trained
    labels = parse_series(column)
    # The sandbox holds raw metrics only, so the exporter asks for the SLI's expression.
    save_baselines(tmp_path / "b", [(ServedSeries(sli.key, labels, "auto", 3.0, "upper",
                                                  query=sli.expr), model)])
    store = open_store(tmp_path / "b")
    now = pd.Timestamp(workload.end) - pd.Timedelta("3h")
    at = pd.DatetimeIndex([now])
    _, band, followed = next(bands_at(store, at, LiveLevels(prom.url)))
    backtested = model.bands(frame[column].loc[:now], sensitivity=3.0).iloc[-1]
    fitted = model.predict_bands(at, sensitivity=3.0).iloc[0]
    assert followed
    for edge in ("lower", "centre", "upper"):
        assert band[edge] == pytest.approx(backtested[edge], rel=1e-9)
    # The first day's fit is off the second day's level by a fifth of a spread here.
    assert abs(band["centre"] - fitted["centre"]) > 0.1 * (fitted["upper"] - fitted["centre"]) / 3
    for fallback in (LiveLevels(f"http://127.0.0.1:{free_port()}"),  # nothing listens
                     LiveLevels(prom.url, budget=0.0)):  # the scrape's time is spent
        _, band, followed = next(bands_at(store, at, fallback))
        assert not followed and band["centre"] == pytest.approx(fitted["centre"], rel=1e-12)
        err = capsys.readouterr().err
        assert "from the fitted state only" in err and len(err.strip().splitlines()) == 1
        assert not next(bands_at(store, at, fallback))[2] and not capsys.readouterr().err


# --- helpers ------------------------------------------------------------------------------


def _recommended(sli, row: pd.Series) -> dict:
    """A recommendations row choosing the candidate `row` of `sli`."""
    return {"sli": sli.key, "title": sli.title, **row.to_dict(), "recommended": True,
            "why": "chosen by the test"}


def _expected(store, epoch: float) -> dict[tuple, float]:
    index = pd.DatetimeIndex([pd.Timestamp(epoch, unit="s", tz="UTC")])
    return {(f"imanalytics_baseline_{edge}", tuple(sorted(series_labels(s).items()))): v
            for s, band, _ in bands_at(store, index) for edge, v in band.items()}


def _index(d: Path) -> dict[str, dict]:
    return {s["file"]: s for s in json.loads((d / "index.json").read_text())["series"]}
