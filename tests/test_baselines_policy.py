"""AlertPolicy on crafted score series, and the event-matching quality metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from imanalytics.baselines import AlertPolicy, BaselineInputError, quality
from imanalytics.sandbox.incidents import Incident
from imanalytics.slis import slis

T0 = pd.Timestamp("2026-03-01T00:00:00Z")


def scores(*segments: tuple[int, int, float], minutes: int = 240) -> pd.Series:
    """Minute scores, 0 except `value` on minutes [start, end) of each segment."""
    values = np.zeros(minutes)
    for start, end, value in segments:
        values[start:end] = value
    index = pd.date_range(T0, periods=minutes, freq="1min", tz="UTC", name="timestamp")
    return pd.Series(values, index=index)


def at(minute: int) -> pd.Timestamp:
    return T0 + pd.Timedelta(minutes=minute)


def test_for_needs_the_condition_to_hold_that_long():
    policy = AlertPolicy(for_="5m", suppress="0s")
    assert policy.alerts(scores((10, 14, 0.9))).empty  # 4 minutes: pending, never fires
    events = policy.alerts(scores((10, 20, 0.9)))
    assert len(events) == 1
    event = events.iloc[0]
    assert event["since"] == at(10) and event["start"] == at(15) and event["end"] == at(20)
    assert event["peak"] == 0.9 and event["resolved"]


def test_hysteresis_holds_until_the_lower_clear_level():
    policy = AlertPolicy(threshold=0.5, clear=0.3, for_="0s", suppress="0s")
    wavering = scores((10, 20, 0.9), (20, 30, 0.4), (30, 40, 0.8))  # dips, not below clear
    assert len(policy.alerts(wavering)) == 1
    cleared = scores((10, 20, 0.9), (20, 30, 0.2), (30, 40, 0.8))  # dips below clear
    assert len(policy.alerts(cleared)) == 2
    no_hysteresis = AlertPolicy(threshold=0.5, clear=0.5, for_="0s", suppress="0s")
    assert len(no_hysteresis.alerts(wavering)) == 2


def test_long_incidents_are_one_edge_triggered_alert_with_suppression():
    flapping = scores((10, 30, 0.9), (40, 60, 0.9), (70, 200, 0.9))
    one = AlertPolicy(for_="5m", suppress="30m").alerts(flapping)
    assert len(one) == 1
    assert one.iloc[0]["start"] == at(15) and one.iloc[0]["end"] == at(200)
    many = AlertPolicy(for_="5m", suppress="0s").alerts(flapping)
    assert len(many) == 3
    spaced = scores((10, 30, 0.9), (100, 130, 0.9))  # 70 minutes apart: two alerts
    assert len(AlertPolicy(for_="5m", suppress="30m").alerts(spaced)) == 2


def test_an_alert_firing_at_the_end_is_unresolved():
    events = AlertPolicy(for_="5m").alerts(scores((200, 240, 0.7)))
    assert len(events) == 1 and not events.iloc[0]["resolved"]
    assert events.iloc[0]["end"] == at(239)


def test_direction_picks_the_side_of_signed_scores():
    signed = scores((10, 30, -0.9), (100, 120, 0.9))
    lower = AlertPolicy(direction="lower", for_="5m").alerts(signed)
    upper = AlertPolicy(direction="upper", for_="5m").alerts(signed)
    both = AlertPolicy(direction="both", for_="5m", suppress="30m").alerts(signed)
    assert list(lower["since"]) == [at(10)] and list(upper["since"]) == [at(100)]
    assert list(both["since"]) == [at(10), at(100)]


def test_traffic_floor_silences_low_volume():
    s = scores((10, 30, 0.9), (100, 130, 0.9))
    volume = pd.Series(10.0, index=s.index)
    volume.iloc[:60] = 0.01  # a quiet night
    events = AlertPolicy(volume_floor=0.1).alerts(s, volume)
    assert list(events["since"]) == [at(100)]
    assert len(AlertPolicy(suppress="30m").alerts(s, volume)) == 2  # no floor: both
    assert len(AlertPolicy().alerts(s, volume)) == 1  # 12h suppression: one incident
    missing = volume.iloc[60:]  # unknown volume counts as below the floor
    assert list(AlertPolicy(volume_floor=0.1).alerts(s, missing)["since"]) == [at(100)]


def test_missing_scores_count_as_zero_and_frames_give_a_series_column():
    s = scores((10, 30, 0.9))
    s.iloc[20] = np.nan
    events = AlertPolicy(for_="5m", suppress="0s").alerts(s)
    assert list(events["since"]) == [at(10), at(21)]
    frame = pd.DataFrame({"a": scores((10, 30, 0.9)), "b": scores()})
    table = AlertPolicy().alerts(frame)
    assert list(table.columns) == ["series", "start", "end", "since", "peak", "resolved"]
    assert list(table["series"]) == ["a"]


def test_policy_from_an_sli_and_its_validation():
    sli = next(s for s in slis() if s.key == "connections")
    policy = AlertPolicy.for_sli(sli, volume_floor=1.0)
    assert policy.direction == "lower" and policy.for_ == sli.static_for
    with pytest.raises(BaselineInputError, match="direction"):
        AlertPolicy(direction="up")
    with pytest.raises(BaselineInputError, match="clear"):
        AlertPolicy(threshold=0.5, clear=0.7)
    with pytest.raises(BaselineInputError, match="for_"):
        AlertPolicy(for_="five minutes")


# ------------------------------------------------------------------------- quality


def incident(start: int, end: int, kind: str = "latency_regression", **labels) -> Incident:
    return Incident(at(start), at(end), kind, {"instance": "im-0:9100", **labels})


def events(*rows: tuple[int, int, str]) -> pd.DataFrame:
    return pd.DataFrame({"series": [r[2] for r in rows],
                         "start": [at(r[0]) for r in rows], "end": [at(r[1]) for r in rows]})


IM0 = '{instance="im-0:9100",job="im-server"}'
IM1 = '{instance="im-1:9100",job="im-server"}'


def test_matching_needs_overlap_kind_and_labels():
    incidents = [incident(100, 130), incident(300, 320, "message_loss", tenant="acme")]
    alerts = events((105, 140, IM0),  # overlaps the first
                    (140, 150, IM0),  # within the 15m grace after it
                    (105, 140, IM1),  # other instance
                    (310, 330, IM0),  # message_loss: tenant label not on the alert, fine
                    (500, 510, IM0))  # nothing there
    m = quality.match(alerts, incidents, kinds=("latency_regression", "message_loss"))
    assert list(m.alerts["matched"]) == [True, True, False, True, False]
    assert list(m.incidents["detected"]) == [True, True]
    assert list(m.incidents["ttd"]) == [pd.Timedelta("5min"), pd.Timedelta("10min")]
    q = quality.summary(m)
    assert (q.alerts, q.true_alerts, q.incidents, q.detected) == (5, 3, 2, 2)
    assert q.precision == pytest.approx(0.6) and q.recall == 1.0
    assert q.f1 == pytest.approx(0.75) and q.mean_ttd == pd.Timedelta("7.5min")
    only_latency = quality.match(alerts, incidents, kinds=("latency_regression",))
    assert quality.summary(only_latency).incidents == 1
    assert not only_latency.alerts["matched"].iloc[3]


def test_alerts_before_an_incident_or_beyond_the_grace_do_not_match():
    m = quality.match(events((50, 99, IM0), (146, 160, IM0)), [incident(100, 130)])
    assert not m.alerts["matched"].any() and not m.incidents["detected"].any()
    q = quality.summary(m)
    assert q.precision == 0 and q.recall == 0 and q.f1 == 0 and q.mean_ttd is None


def test_merge_counts_an_incident_once_and_by_kind_reports_recall():
    incidents = [incident(100, 130), incident(300, 330, "mq_backlog")]
    p99 = quality.match(events((110, 120, IM0)), incidents, kinds=("latency_regression",))
    e2e = quality.match(events((104, 120, IM0), (305, 320, IM0)), incidents,
                        kinds=("latency_regression", "mq_backlog"))
    merged = quality.merge([p99, e2e])
    q = quality.summary(merged)
    assert (q.incidents, q.detected, q.alerts, q.true_alerts) == (2, 2, 3, 3)
    assert q.mean_ttd == pd.Timedelta("4.5min")  # earliest alert per incident: 4m and 5m
    table = quality.by_kind(merged).set_index("kind")
    assert table.loc["mq_backlog", "recall"] == 1.0 and table.loc["mq_backlog", "incidents"] == 1
    empty = quality.summary(quality.match(events(), []))
    assert np.isnan(empty.precision) and np.isnan(empty.recall)
