"""Baselines: the estimator contract for every estimator, bands that follow a daily rhythm,
causal scores, data-quality messages, persistence and `auto` on awkward inputs."""

from __future__ import annotations

import json
import pickle
import warnings
import zipfile

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from imanalytics.baselines import (
    AdaptiveBand,
    AlertPolicy,
    BaselineError,
    BaselineInputError,
    ConstantSeriesWarning,
    CounterInputError,
    GapWarning,
    IrregularSamplingWarning,
    MultiSLIIsolationForest,
    NonFiniteWarning,
    PersistenceError,
    QuantileGBM,
    SeasonalProfile,
    ShortHistoryError,
    STLBands,
    WeekOverWeekZScore,
    auto,
    choose,
    load,
    save,
)
from imanalytics.baselines.base import GLOBAL_SPREAD_SHARE, robust_sigma, slot_spread
from imanalytics.errors import ImanalyticsError

START = pd.Timestamp("2026-01-05T00:00:00Z")  # a Monday


def rhythm(days: float, step: str = "5min", seed: int = 0, noise: float = 0.05,
           weekly: bool = False) -> pd.Series:
    """An IM-like gauge: daily peak in the evening, optional quieter weekends, noise."""
    index = pd.date_range(START, periods=int(days * pd.Timedelta("1D") / pd.Timedelta(step)),
                          freq=step, tz="UTC", name="timestamp")
    hours = (index.hour + index.minute / 60).to_numpy()
    level = 1000 * (1.6 + np.sin(2 * np.pi * (hours - 15) / 24))
    if weekly:
        level = level * np.where(index.day_of_week >= 5, 0.6, 1.0)
    rng = np.random.default_rng(seed)
    return pd.Series(level * (1 + noise * rng.standard_normal(len(index))), index=index)


def truth(index: pd.DatetimeIndex) -> np.ndarray:
    hours = (index.hour + index.minute / 60).to_numpy()
    return 1000 * (1.6 + np.sin(2 * np.pi * (hours - 15) / 24))


UNIVARIATE = [
    SeasonalProfile(),
    WeekOverWeekZScore(),
    AdaptiveBand(),
    STLBands(),
    QuantileGBM(max_iter=20),
]
IDS = [type(e).__name__ for e in UNIVARIATE]


@pytest.fixture(scope="module")
def history() -> pd.Series:
    return rhythm(16, step="15min")


@pytest.fixture(scope="module")
def fitted(history):
    return {type(e).__name__: clone(e).fit(history) for e in UNIVARIATE}


@pytest.fixture(scope="module")
def slis_frame(history) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    latency = 0.1 + 0.01 * rng.standard_normal(len(history))
    return pd.DataFrame({"traffic": history, "latency": latency}, index=history.index)


# ------------------------------------------------------------------ estimator contract


@pytest.mark.parametrize("estimator", [*UNIVARIATE, MultiSLIIsolationForest()],
                         ids=[*IDS, "MultiSLIIsolationForest"])
def test_params_round_trip_through_clone_and_set_params(estimator):
    params = estimator.get_params()
    twin = clone(estimator)
    assert twin is not estimator and twin.get_params() == params
    key = "sensitivity"
    assert twin.set_params(**{key: 7.5}) is twin
    assert twin.get_params()[key] == 7.5 and estimator.get_params()[key] == params[key]


@pytest.mark.parametrize("cls", [type(e) for e in UNIVARIATE] + [MultiSLIIsolationForest],
                         ids=[*IDS, "MultiSLIIsolationForest"])
def test_init_stores_parameters_as_given_without_checking_them(cls):
    markers = {name: object() for name in cls._get_param_names()}
    estimator = cls(**markers)  # nonsense, but __init__ must not look at it
    assert all(estimator.get_params()[name] is marker for name, marker in markers.items())
    assert set(vars(estimator)) == set(markers)


@pytest.mark.parametrize("estimator", UNIVARIATE, ids=IDS)
def test_unfitted_use_raises_not_fitted(estimator, history):
    estimator = clone(estimator)
    for call in (lambda: estimator.score(history), lambda: estimator.predict_bands(history.index),
                 lambda: estimator.bands(history)):
        with pytest.raises(NotFittedError) as info:
            call()
        assert isinstance(info.value, BaselineError) and "fit" in str(info.value)


def test_multi_sli_forest_unfitted_and_fitted(slis_frame):
    forest = MultiSLIIsolationForest(n_estimators=20)
    with pytest.raises(NotFittedError):
        forest.score(slis_frame)
    assert forest.fit(slis_frame) is forest
    check_is_fitted(forest)
    scores = forest.score(slis_frame)
    assert scores.index.equals(slis_frame.index) and scores.between(0, 1).all()


@pytest.mark.parametrize("estimator", UNIVARIATE, ids=IDS)
def test_fit_returns_self_with_learned_attributes(estimator, history):
    estimator = clone(estimator)
    assert estimator.fit(history) is estimator
    check_is_fitted(estimator)
    learned = [k for k in vars(estimator) if k.endswith("_") and not k.startswith("_")]
    assert learned
    assert set(estimator.get_params()) <= set(vars(estimator))  # params untouched by fit


@pytest.mark.parametrize("name", IDS)
def test_predict_bands_are_ordered_frames_on_the_given_index(fitted, history, name):
    index = history.index[-96:]
    bands = fitted[name].predict_bands(index)
    assert list(bands.columns) == ["lower", "centre", "upper"] and bands.index.equals(index)
    assert (bands["lower"] <= bands["centre"]).all() and (bands["centre"] <= bands["upper"]).all()
    wider = fitted[name].predict_bands(index, sensitivity=6)
    assert (wider["upper"] - wider["lower"] > bands["upper"] - bands["lower"]).all()


@pytest.mark.parametrize("name", IDS)
def test_scores_are_in_unit_interval_and_causal(fitted, history, name):
    model = fitted[name]
    whole = model.score(history)
    assert whole.index.equals(history.index) and whole.between(0, 1).all()
    for cut in (100, 700, len(history) - 5):
        prefix = model.score(history.iloc[:cut])
        pd.testing.assert_series_equal(prefix, whole.iloc[:cut])


@pytest.mark.parametrize("name", IDS)
def test_a_spike_scores_above_the_default_threshold(fitted, history, name):
    model = fitted[name]
    spiked = history.copy()
    spiked.iloc[-20:] *= 5
    scores = model.score(spiked)
    assert scores.iloc[-20] > model.default_threshold
    # A short-window centre catches up with a lasting change; the others keep flagging it.
    onset = len(scores) - 20
    held = 1 if name == "AdaptiveBand" else 20
    assert scores.iloc[onset:onset + held].min() > model.default_threshold
    assert scores.iloc[-300:-30].quantile(0.95) < model.default_threshold


def test_multi_sli_forest_is_causal_and_sees_joint_changes(slis_frame):
    forest = MultiSLIIsolationForest(n_estimators=50).fit(slis_frame)
    whole = forest.score(slis_frame)
    pd.testing.assert_series_equal(forest.score(slis_frame.iloc[:900]), whole.iloc[:900])
    broken = slis_frame.copy()
    broken.iloc[-12:, 0] *= 0.5  # traffic halves while
    broken.iloc[-12:, 1] *= 3  # latency triples
    assert forest.score(broken).iloc[-12:].min() > forest.default_threshold
    assert whole.iloc[-300:].median() < 0.2


def test_multi_sli_forest_sees_one_sli_far_out(slis_frame):
    """A goroutine leak or an error burst moves one SLI only, but far."""
    forest = MultiSLIIsolationForest().fit(slis_frame)
    for column in range(slis_frame.shape[1]):
        broken = slis_frame.copy()
        broken.iloc[-12:, column] *= 4
        assert forest.score(broken).iloc[-12:].min() > forest.default_threshold, column


def test_direction_keeps_only_the_bad_side(history):
    up = SeasonalProfile(direction="upper").fit(history)
    down = clone(up).set_params(direction="lower").fit(history)
    dropped = history.copy()
    dropped.iloc[-10:] *= 0.3
    assert up.score(dropped).iloc[-10:].max() == 0
    assert down.score(dropped).iloc[-10:].min() > 0.5
    assert (up.signed_score(dropped).iloc[-10:] < -0.5).all()


# ------------------------------------------------------------- bands follow a rhythm


@pytest.mark.parametrize("cls", [SeasonalProfile, STLBands, QuantileGBM])
def test_bands_follow_a_daily_rhythm(cls):
    series = rhythm(10, step="10min", noise=0.03)
    model = cls().fit(series)
    nxt = pd.date_range(series.index[-1] + pd.Timedelta("10min"), periods=144, freq="10min",
                        tz="UTC")
    bands = model.predict_bands(nxt)
    expected = truth(nxt)
    # The centre tracks the rhythm (range 600..2600) to within a few percent ...
    assert np.abs(bands["centre"] - expected).max() < 0.06 * expected.max()
    # ... and a fresh day of the same process stays inside the band.
    fresh = rhythm(11, step="10min", noise=0.03, seed=5).iloc[-144:]
    inside = (fresh.to_numpy() >= bands["lower"].to_numpy()) & (
        fresh.to_numpy() <= bands["upper"].to_numpy())
    assert inside.mean() > 0.97


def test_weekly_profile_sees_weekends_and_is_robust_to_one_bad_week():
    series = rhythm(28, step="15min", weekly=True, noise=0.02)
    broken = series.copy()
    week2 = (broken.index >= START + pd.Timedelta(days=7)) & (
        broken.index < START + pd.Timedelta(days=14))
    broken[week2] *= 3  # one abnormal week out of four
    model = SeasonalProfile(trend=False).fit(broken)
    assert model.season_ == "week"
    saturday = pd.date_range(START + pd.Timedelta(days=33), periods=96, freq="15min", tz="UTC")
    centre = model.predict_bands(saturday)["centre"].to_numpy()
    np.testing.assert_allclose(centre, 0.6 * truth(saturday), rtol=0.05)


def test_short_history_falls_back_to_daily_slots():
    assert SeasonalProfile().fit(rhythm(9)).season_ == "day"
    assert SeasonalProfile().fit(rhythm(15)).season_ == "day"  # two weeks: one bad one rules
    assert SeasonalProfile().fit(rhythm(22)).season_ == "week"
    assert SeasonalProfile(season="week").fit(rhythm(15)).season_ == "week"  # when asked


def test_trend_is_followed():
    series = rhythm(21, step="15min", noise=0.01)
    grown = series * np.linspace(1, 1.3, len(series))  # +30 % over three weeks
    model = SeasonalProfile(adapt=None).fit(grown)
    nxt = pd.date_range(grown.index[-1] + pd.Timedelta("15min"), periods=96, freq="15min",
                        tz="UTC")
    centre = model.predict_bands(nxt)["centre"].to_numpy()
    np.testing.assert_allclose(centre, 1.3 * truth(nxt), rtol=0.04)


def test_many_series_fit_at_once_match_single_fits():
    frame = pd.DataFrame({f"s{i}": rhythm(15, seed=i) * (i + 1) for i in range(3)})
    many = SeasonalProfile().fit(frame)
    index = frame.index[-50:]
    bands = many.predict_bands(index)
    assert bands.columns.names == ["series", "band"]
    scores = many.score(frame)
    assert list(scores.columns) == list(frame.columns)
    for column in frame.columns:
        one = SeasonalProfile().fit(frame[column])
        np.testing.assert_allclose(bands[column].to_numpy(),
                                   one.predict_bands(index).to_numpy(), rtol=1e-9)
        np.testing.assert_allclose(scores[column].to_numpy(),
                                   one.score(frame[column]).to_numpy(), rtol=1e-9, atol=1e-12)


# -------------------------------------------------------------------- data quality


def test_raw_counters_are_refused_with_advice_to_rate_them():
    counter = rhythm(3).cumsum()
    counter.iloc[500:] -= counter.iloc[499]  # a process restart resets it
    with pytest.raises(CounterInputError, match=r"rate\("):
        SeasonalProfile().fit(counter)
    with pytest.raises(CounterInputError):
        auto(counter.sample(frac=1, random_state=0))  # shuffled rows: still a counter


def test_inputs_need_a_tz_aware_time_index():
    series = rhythm(3)
    with pytest.raises(BaselineInputError, match="tz-aware"):
        SeasonalProfile().fit(series.tz_localize(None))
    with pytest.raises(BaselineInputError, match="DatetimeIndex"):
        SeasonalProfile().fit(series.reset_index(drop=True))
    with pytest.raises(BaselineInputError, match="numeric"):
        SeasonalProfile().fit(pd.Series(["a"] * len(series), index=series.index))
    assert issubclass(BaselineInputError, ImanalyticsError)


def test_short_histories_say_what_they_need():
    with pytest.raises(ShortHistoryError, match="two weeks"):
        SeasonalProfile(season="week").fit(rhythm(5))
    with pytest.raises(ShortHistoryError, match="at least 7 days 02:00:00|at least 7 days"):
        WeekOverWeekZScore().fit(rhythm(5))
    with pytest.raises(ShortHistoryError, match="10 finite values"):
        auto(rhythm(3).iloc[:5])


def test_constant_series_warn_and_never_divide_by_zero():
    flat = pd.Series(5.0, index=rhythm(3).index)
    with pytest.warns(ConstantSeriesWarning, match="constant"):
        model = SeasonalProfile().fit(flat)
    scores = model.score(flat)
    assert np.isfinite(scores).all() and scores.max() == 0
    moved = flat.copy()
    moved.iloc[-5:] = 7.5  # far beyond the floor (5 % of the level per spread)
    assert model.score(moved).iloc[-5:].min() > 0.8


def test_nan_is_ignored_in_fit_and_scores_zero_inf_scores_one():
    series = rhythm(4)
    holed = series.copy()
    holed.iloc[::7] = np.nan
    holed.iloc[3] = np.inf
    with pytest.warns(NonFiniteWarning, match="Inf"):
        model = SeasonalProfile().fit(holed)
    scores = model.score(holed)
    assert (scores[holed.isna()] == 0).all()
    assert scores.iloc[3] == 1.0
    assert np.isfinite(model.predict_bands(series.index).to_numpy()).all()


def test_gaps_and_irregular_sampling_warn_by_name():
    series = rhythm(4)
    gapped = series.drop(series.index[300:500])
    with pytest.warns(GapWarning, match="gaps longer than"):
        SeasonalProfile().fit(gapped)
    rng = np.random.default_rng(0)
    irregular = series.iloc[np.sort(rng.choice(len(series), 600, replace=False))]
    with pytest.warns(IrregularSamplingWarning, match="irregular"):
        SeasonalProfile().fit(irregular)


def test_bad_parameters_fail_at_fit_with_a_named_message(history):
    with pytest.raises(BaselineInputError, match="direction"):
        SeasonalProfile(direction="sideways").fit(history)
    with pytest.raises(BaselineInputError, match="slot"):
        SeasonalProfile(slot="11m").fit(history)
    with pytest.raises(BaselineInputError, match="sensitivity"):
        AdaptiveBand(sensitivity=-1).fit(history)


# --------------------------------------------------------------------- persistence


TRUSTED = ("QuantileGBM", "MultiSLIIsolationForest")  # sklearn models: pickles inside


@pytest.fixture(scope="module")
def every_fitted(fitted, history, slis_frame):
    """Every estimator of the package, fitted, plus the many-series and `auto` shapes."""
    return {**fitted,
            "MultiSLIIsolationForest": MultiSLIIsolationForest(n_estimators=20).fit(slis_frame),
            "SeasonalProfile-frame": SeasonalProfile().fit(slis_frame),
            "auto": auto(history),
            "unfitted": STLBands(period="1d")}


@pytest.mark.parametrize("name", [*IDS, "MultiSLIIsolationForest", "SeasonalProfile-frame",
                                  "auto", "unfitted"])
def test_save_load_round_trip(every_fitted, history, slis_frame, tmp_path, name):
    model = every_fitted[name]
    path = save(model, tmp_path / "model.baseline")
    loaded = load(path, trusted=type(model).__name__ in TRUSTED)
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    if name == "unfitted":
        assert not any(k.endswith("_") for k in vars(loaded))
        return
    data = slis_frame if name in ("MultiSLIIsolationForest", "SeasonalProfile-frame") else history
    pd.testing.assert_frame_equal(loaded.predict_bands(data.index[:500]),
                                  model.predict_bands(data.index[:500]))
    score = loaded.score(data)
    assert score.equals(model.score(data)) and score.notna().all().all()


@pytest.mark.parametrize("name", TRUSTED)
def test_pickled_models_need_trust(every_fitted, tmp_path, name):
    path = save(every_fitted[name], tmp_path / "model.baseline")
    with pytest.raises(PersistenceError, match=rf"{path}.*{name}.*trusted=True.*refit"):
        load(path)


def _malicious(marker):
    class RunsCode:
        def __reduce__(self):
            return (marker.write_text, ("the file ran code",))
    return RunsCode()


def _rewrite(path, out_path, changes: dict):
    """A copy of the baseline file at `path` with some members' bytes changed."""
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(out_path, "w") as out:
        for item in source.infolist():
            data = source.read(item.filename)
            out.writestr(item, changes.get(item.filename, lambda d: d)(data))
    return out_path


def test_files_from_others_never_run_code(every_fitted, tmp_path):
    import joblib

    marker = tmp_path / "ran"
    joblib.dump({"format": "imanalytics.baselines", "version": 2,
                 "estimator": _malicious(marker)}, tmp_path / "old.joblib")
    with pytest.raises(PersistenceError, match="old pickle format.*refit.*trusted=True"):
        load(tmp_path / "old.joblib")
    path = save(every_fitted["QuantileGBM"], tmp_path / "gbm.baseline")
    crafted = _rewrite(path, tmp_path / "crafted.baseline", {
        "trusted.pickle": lambda data: pickle.dumps([_malicious(marker)])})
    with pytest.raises(PersistenceError, match="trusted=True"):
        load(crafted)
    header = json.loads(zipfile.ZipFile(path).read("baseline.json"))
    for bad in ({**header, "trusted": False, "estimator": {**header["estimator"],
                                                           "class": "Popen"}},
                {**header, "trusted": False}):
        with zipfile.ZipFile(tmp_path / "named.baseline", "w") as out:
            out.writestr("baseline.json", json.dumps(bad))
        with pytest.raises(PersistenceError, match="named.baseline"):
            load(tmp_path / "named.baseline")
    assert not marker.exists()


def test_load_refuses_foreign_newer_and_huge_files(tmp_path, every_fitted):
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as out:
        out.writestr("hello.txt", "hi")
    with pytest.raises(PersistenceError, match="not an imanalytics baseline"):
        load(tmp_path / "other.zip")
    with zipfile.ZipFile(tmp_path / "new.baseline", "w") as out:
        out.writestr("baseline.json", json.dumps({"format": "imanalytics.baselines",
                                                  "version": 99}))
    with pytest.raises(PersistenceError, match="upgrade"):
        load(tmp_path / "new.baseline")
    (tmp_path / "junk.baseline").write_text("not a baseline")
    with pytest.raises(PersistenceError, match="not a baseline file"):
        load(tmp_path / "junk.baseline")
    with pytest.raises(PersistenceError, match="does not exist"):
        load(tmp_path / "missing.baseline")
    path = save(every_fitted["SeasonalProfile"], tmp_path / "model.baseline")
    huge = _rewrite(path, tmp_path / "huge.baseline", {  # a header claiming 10**12 elements
        "arrays/0.npy": lambda data: data.replace(data[data.index(b"("):data.index(b")") + 1],
                                                  b"(1000000000000, 1)")})
    with pytest.raises(PersistenceError, match="huge.baseline"):
        load(huge)


def test_trusted_old_files_still_load_or_ask_to_refit(tmp_path, history):
    import joblib

    model = QuantileGBM(max_iter=5).fit(history)
    old = {"format": "imanalytics.baselines", "version": 1, "estimator": model}
    joblib.dump(old, tmp_path / "gbm-v1.joblib", compress=3)
    with pytest.raises(PersistenceError, match="QuantileGBM in baseline format 1.*fit it again"):
        load(tmp_path / "gbm-v1.joblib", trusted=True)
    joblib.dump({**old, "estimator": SeasonalProfile()}, tmp_path / "profile-v1.joblib")
    assert isinstance(load(tmp_path / "profile-v1.joblib", trusted=True), SeasonalProfile)


def test_fits_are_reproducible_for_a_seed(history, slis_frame):
    a = QuantileGBM(max_iter=20, random_state=3).fit(history).score(history)
    b = QuantileGBM(max_iter=20, random_state=3).fit(history).score(history)
    pd.testing.assert_series_equal(a, b)
    f1 = MultiSLIIsolationForest(n_estimators=30, random_state=4).fit(slis_frame)
    f2 = MultiSLIIsolationForest(n_estimators=30, random_state=4).fit(slis_frame)
    pd.testing.assert_series_equal(f1.score(slis_frame), f2.score(slis_frame))


# -------------------------------------------------------------------------- auto


def test_auto_detects_seasonality():
    assert choose(rhythm(10)).season == "day"
    assert choose(rhythm(21, step="15min", weekly=True)).season == "week"
    rng = np.random.default_rng(0)
    index = rhythm(10).index
    noise = pd.Series(rng.standard_normal(len(index)) + 5, index=index)
    assert choose(noise).season == "none"


def test_auto_sees_a_weekly_cycle_through_a_slow_drift():
    """A room's temperature: 5 degrees cooler at weekends, drifting 16 over the seasons."""
    index = pd.date_range(START, periods=10 * 7 * 24, freq="1h", tz="UTC")
    days = (index - START) / pd.Timedelta("1D")
    drift = 8 * np.sin(2 * np.pi * days / 70)
    weekend = (index.day_of_week >= 5).astype(float)
    noise = np.random.default_rng(0).normal(0, 0.7, len(index))
    choice = choose(pd.Series(70 + drift - 5 * weekend + noise, index=index))
    assert choice.season == "week" and choice.shift is None


def test_auto_adds_the_shift_score_only_without_a_rhythm():
    assert choose(rhythm(10)).shift is None
    assert auto(rhythm(10)).shift is None
    rng = np.random.default_rng(0)
    flat = pd.Series(rng.standard_normal(len(rhythm(10))) + 5, index=rhythm(10).index)
    assert choose(flat).shift == "12h" and auto(flat).shift_scale_ > 0


def test_auto_catches_a_sustained_small_shift_without_a_rhythm():
    """Half a day 0.45 band half-widths up: no single value leaves the band."""
    rng = np.random.default_rng(1)
    index = rhythm(16).index
    values = pd.Series(rng.standard_normal(len(index)) + 50, index=index)
    history = values.iloc[:-2 * 288]
    model = auto(history)
    live = values.copy()
    shifted = slice(len(live) - 2 * 288, len(live) - 2 * 288 + 144)
    half_width = (model.bands(live)["upper"] - model.bands(live)["centre"]).iloc[shifted]
    live.iloc[shifted] += 0.45 * half_width
    plain = choose(history).estimator().set_params(shift=None).fit(history)
    policy = AlertPolicy()
    assert policy.alerts(plain.score(live).iloc[shifted]).empty
    assert not policy.alerts(model.score(live).iloc[shifted]).empty
    assert policy.alerts(model.score(values).iloc[-2 * 288:]).empty  # quiet without it
    nudged = values.copy()  # a shift too small to page about, however steady
    nudged.iloc[shifted] += 0.15 * half_width
    assert policy.alerts(model.score(nudged).iloc[-2 * 288:]).empty


def test_auto_is_quiet_on_a_mostly_zero_ratio():
    """Sparse errors: the median is 0, so every window's mean deviation sits above it."""
    rng = np.random.default_rng(3)
    index = rhythm(16).index
    ratio = pd.Series(rng.binomial(40, 0.002, len(index)) / 40, index=index)
    model = auto(ratio.iloc[:-2 * 288])
    assert model.shift is not None and model.shift_centre_ > 0
    assert model.score(ratio).iloc[-2 * 288:].quantile(0.99) < 0.5


def test_shift_score_ends_with_the_incident_it_did_not_cause():
    """Values outside the band are the value score's: an hour far out must not hold the
    window's mean up for the twelve hours after it."""
    rng = np.random.default_rng(4)
    index = rhythm(16).index
    values = pd.Series(rng.standard_normal(len(index)) + 50, index=index)
    model = auto(values.iloc[:-2 * 288])
    hit = values.copy()
    start = len(hit) - 2 * 288
    hit.iloc[start:start + 12] += 40  # an hour far outside the band
    scores = model.score(hit)
    assert scores.iloc[start + 6] > 0.9
    assert scores.iloc[start + 24:].max() < 0.5


def test_auto_aligns_scores_with_irregular_duplicated_shuffled_rows():
    series = rhythm(6)
    rng = np.random.default_rng(2)
    jitter = pd.to_timedelta(rng.integers(0, 240, len(series)), unit="s")
    messy = pd.Series(series.to_numpy(), index=series.index + jitter)
    messy = pd.concat([messy, messy.iloc[100:130] * 1.001])  # duplicated timestamps
    messy = messy.iloc[rng.permutation(len(messy))]  # out of order
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = auto(messy)
    scores = model.score(messy)
    assert scores.index.equals(messy.index)  # same rows, same order
    ordered = model.score(messy.sort_index(kind="stable"))
    pd.testing.assert_series_equal(scores.sort_index(kind="stable"), ordered)
    assert scores.between(0, 1).all() and scores.median() < 0.2


def test_auto_handles_short_histories():
    short = rhythm(0.25, step="1min")  # six hours
    model = auto(short)
    assert model.season_ == "none"
    spiked = short.copy()
    spiked.iloc[-10:] *= 8  # its spread includes six hours of the daily rhythm
    assert model.score(spiked).iloc[-10:].min() > model.default_threshold


def test_auto_stops_alerting_after_a_level_shift():
    series = rhythm(12)
    shifted = series.copy()
    shifted.iloc[-4 * 288:] *= 1.5  # a lasting change four days before the end
    model = auto(series.iloc[:-4 * 288])
    scores = model.score(shifted)
    assert scores.iloc[-4 * 288:-4 * 288 + 12].mean() > 0.5  # seen when it happens
    assert scores.iloc[-2 * 288:].quantile(0.9) < model.default_threshold  # then absorbed


def test_auto_learns_the_noise_of_a_mostly_zero_count():
    """Error counts and queue depths are mostly 0: a 1 or 2 is their noise, a burst is not."""
    rng = np.random.default_rng(3)
    index = pd.date_range(START, periods=14 * 1440, freq="1min", tz="UTC")
    counts = pd.Series(rng.poisson(0.3, len(index)).astype(float), index=index)
    model = auto(counts)
    assert (model.score(counts) >= model.default_threshold).mean() < 0.001
    burst = counts.copy()
    burst.iloc[-60:] += 20
    assert model.score(burst).iloc[-60:].min() > model.default_threshold


def test_incidents_in_a_short_history_do_not_widen_its_band():
    """Three spiked hours of 72 are past the 0.99 quantile; they must not become the tail."""
    rng = np.random.default_rng(4)
    index = pd.date_range(START, periods=72, freq="1h", tz="UTC")
    values = 50 + 3 * rng.standard_normal(72)
    values[60:63] += 30
    series = pd.Series(values, index=index)
    scores = auto(series).score(series)
    assert scores.iloc[60:63].min() > 0.5
    assert (scores.drop(index[60:63]) > 0.5).sum() <= 1


def test_auto_prefers_a_weekly_profile_when_weekends_differ_less_than_days():
    """A weekend dip a third of the daily swing leaves acf(1w) ~ acf(1d); the held-out
    spreads still show the weekly profile is the better forecast."""
    index = pd.date_range(START, periods=35 * 48, freq="30min", tz="UTC")
    hours = (index.hour + index.minute / 60).to_numpy()
    weekend = np.where(index.day_of_week >= 5, -3000.0, 0.0)
    rng = np.random.default_rng(5)
    values = 15000 + 10000 * np.sin(2 * np.pi * (hours - 8) / 24) + weekend
    series = pd.Series(values + 800 * rng.standard_normal(len(index)), index=index)
    choice = choose(series)
    assert choice.acf["1w"] < choice.acf["1d"] + 0.05  # the autocorrelations alone say "day"
    assert choice.season == "week"
    model = auto(series)
    assert (model.score(series) >= model.default_threshold).mean() < 0.005


def test_quantile_gbm_spread_follows_the_quiet_night():
    """Multiplicative noise: the night's spread is a fraction of the evening peak's."""
    series = rhythm(14, step="1min", noise=0.05)
    model = QuantileGBM().fit(series)
    day = pd.date_range(START + pd.Timedelta(days=14), periods=24, freq="1h", tz="UTC")
    bands = model.predict_bands(day)
    width = (bands["upper"] - bands["centre"]).to_numpy()
    sigma = 0.05 * truth(day)  # 30 at the 09:00 trough, 130 at the 21:00 peak
    quiet, peak = width[9], width[21]
    assert quiet < 0.5 * peak
    assert quiet < 2 * 4 * sigma[9]  # sensitivity 4, and at most doubled by tail widening


@pytest.mark.parametrize("cls", [QuantileGBM, STLBands])
def test_the_noise_of_a_sparse_ratio_is_learned(cls):
    """Errors per path: most minutes 0, some a small ratio; a lasting burst is the anomaly."""
    rng = np.random.default_rng(6)
    index = pd.date_range(START, periods=14 * 1440, freq="1min", tz="UTC")
    ratio = np.where(rng.random(len(index)) < 0.5, 0.0, rng.uniform(0, 0.004, len(index)))
    series = pd.Series(ratio, index=index)
    model = cls(direction="upper").fit(series)
    assert (model.score(series) >= model.default_threshold).mean() < 0.002
    burst = series.copy()
    burst.iloc[-30:] += 0.05
    assert model.score(burst).iloc[-30:].min() > model.default_threshold


def test_slot_spreads_never_fall_below_their_share_of_the_overall_one():
    """Quiet slots of a sparse series (all 0 but the odd error) get a floor, before the
    tails are measured: else the odd error is a tail of thousands of spreads."""
    rng = np.random.default_rng(8)
    slots = np.tile(np.arange(288), 14)
    busy = slots >= 144  # the day half is noisy, the night half mostly 0
    residual = np.where(busy, rng.normal(0, 1.0, slots.size),
                        np.where(rng.random(slots.size) < 0.1, 0.5, 0.0))
    sigma, overall, _, upper = slot_spread(slots, residual, 288, 6, 0.99)
    assert overall == robust_sigma(residual)
    assert sigma.min() >= GLOBAL_SPREAD_SHARE * overall
    assert upper < 3  # the night's odd 0.5 is not a tail of many spreads


def test_slots_never_seen_get_the_overall_spread():
    """A profile slot with no history (a daily maintenance gap) has no spread of its own:
    it gets the overall one, not the floor meant for quiet slots."""
    series = rhythm(14, noise=0.05)
    gapped = series[(series.index.hour < 2) | (series.index.hour >= 5)]
    with pytest.warns(GapWarning, match="14 gaps"):
        model = SeasonalProfile(season="day", trend=False, adapt=None, tail=None).fit(gapped)
    at = pd.date_range(START + pd.Timedelta(days=14, hours=3, minutes=30), periods=1,
                       freq="5min", tz="UTC")
    band = model.predict_bands(at, sensitivity=1.0)
    spread = float(band["upper"].iloc[0] - band["centre"].iloc[0])
    assert spread >= 0.99 * model.global_spread_[0]


def test_shift_score_catches_a_sustained_small_deviation_then_settles():
    series = rhythm(12)
    history, live = series.iloc[:-4 * 288], series.copy()
    plain = SeasonalProfile(season="day").fit(history)
    shift = SeasonalProfile(season="day", shift="6h").fit(history)
    assert plain.get_params()["shift"] is None and shift.shift_scale_ > 0
    bands = shift.bands(live)
    nudge = slice(len(live) - 4 * 288, len(live) - 4 * 288 + 96)  # 8 hours, 1.5 spreads up
    live.iloc[nudge] += 1.5 * (bands["upper"] - bands["centre"]).iloc[nudge] / shift.sensitivity
    assert plain.score(live).iloc[nudge].max() < 0.5  # no single value leaves the band
    assert shift.score(live).iloc[nudge].max() > 0.5
    assert shift.score(live).iloc[-4 * 288 - 288:-4 * 288].max() < 0.5  # quiet before it
    grown = series.copy()
    grown.iloc[-4 * 288:] *= 1.5
    scores = shift.score(grown)
    assert scores.iloc[-4 * 288:-4 * 288 + 12].mean() > 0.5
    assert scores.iloc[-2 * 288:].quantile(0.9) < 0.5  # a lasting change stops alerting
