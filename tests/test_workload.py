"""The IM workload simulator: shape, consistency, realism and labelled incidents."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from imanalytics.catalog import default_catalog
from imanalytics.sandbox.incidents import (
    INCIDENT_KINDS,
    Incident,
    read_incidents,
    write_incidents,
)
from imanalytics.sandbox.workload import JITTER_MS, go_float, simulate

END = "2026-03-02T00:00:00Z"  # a Monday: two days cover a weekend, four reach Thursday
# Series that only go up between restarts: counters and histogram/summary _bucket/_sum/_count.
COUNTERS = {
    name
    for spec in default_catalog()
    for name in spec.series_names()
    if spec.type == "counter" or (spec.type in ("histogram", "summary") and name != spec.name)
}


@pytest.fixture(scope="module")
def wl():
    return simulate(instances=2, days=2, seed=7, end=END)


@pytest.fixture(scope="module")
def every_kind():
    """Each incident kind once, in two days."""
    return simulate(instances=2, days=2, seed=3, end=END, incidents=INCIDENT_KINDS)


@pytest.fixture(scope="module")
def four_days():
    return simulate(instances=2, days=4, seed=1, end=END, scrape_interval="1m")


# -- helpers


def one(wl, name, **labels):
    found = wl.select(name, **labels)
    assert len(found) == 1, (name, labels, found)
    return found[0]


def ms(ts) -> int:
    return pd.Timestamp(ts).value // 1_000_000


def increase(series, start, end) -> float:
    """Prometheus-style increase over [start, end), from the last sample before start."""
    t = series.t
    lo = max(np.searchsorted(t, ms(start)) - 1, 0)
    hi = np.searchsorted(t, ms(end))
    v = series.v[lo:hi]
    step = np.diff(v)
    return float(np.where(step < 0, v[1:], step).sum())


def values(series, start, end) -> np.ndarray:
    return series.v[(series.t >= ms(start)) & (series.t < ms(end))]


def quantile(buckets, start, end, q: float) -> float:
    """histogram_quantile over the bucket increases in [start, end)."""
    ordered = sorted(buckets, key=lambda s: float(s.labels["le"]))
    bounds = [float(s.labels["le"]) for s in ordered]
    counts = np.array([increase(s, start, end) for s in ordered])
    rank = q * counts[-1]
    i = int(np.searchsorted(counts, rank))
    if i == len(bounds) - 1:
        return bounds[-2]
    low, below = (0.0, 0.0) if i == 0 else (bounds[i - 1], counts[i - 1])
    return low + (bounds[i] - low) * (rank - below) / (counts[i] - below)


def by_instance(wl):
    out = {}
    for s in wl.series:
        out.setdefault(s.labels["instance"], []).append(s)
    return out


def is_counter(series) -> bool:
    return series.name in COUNTERS


# -- determinism and shape


def test_same_seed_gives_identical_arrays_and_seeds_differ():
    a = simulate(instances=2, days=1, seed=5, end=END)
    b = simulate(instances=2, days=1, seed=5, end=END)
    c = simulate(instances=2, days=1, seed=6, end=END)
    assert [s.labels for s in a.series] == [s.labels for s in b.series]
    for x, y in zip(a.series, b.series, strict=True):
        np.testing.assert_array_equal(x.t, y.t)
        np.testing.assert_array_equal(x.v, y.v)
    assert a.restarts == b.restarts and a.incidents == b.incidents
    labels = {"instance": "im-0:9100", "tenant": "acme", "user_type": "user"}
    sent_a, sent_c = (one(w, "im_messages_sent_total", **labels) for w in (a, c))
    assert not np.array_equal(sent_a.v[:100], sent_c.v[:100])
    assert sent_a.t[0] != sent_c.t[0]


def expected_series(spec, tenants) -> set[tuple]:
    """(name, *sorted label items) for every series `spec` should produce on an instance."""
    domains = {
        "tenant": tenants,
        "user_type": ("user", "bot", "system"),
        "path": ("/api/v1/messages", "/api/v1/conversations", "/api/v1/login",
                 "/api/v1/contacts"),
        "status": ("200", "400", "500"),
        "group_size": ("small", "medium", "large"),
        "reason": ("offline_timeout", "push_error") if spec.key == "delivery_failures"
        else ("normal", "timeout", "error", "kicked"),
    }
    combos = [{}]
    for label in spec.labels:
        combos = [{**c, label: v} for c in combos for v in domains[label]]
    out = set()
    for combo in combos:
        for name in spec.series_names():
            extra = [{}]
            if name.endswith("_bucket"):
                extra = [{"le": le} for le in [*map(go_float, spec.buckets), "+Inf"]]
            elif spec.type == "summary" and name == spec.name:
                extra = [{"quantile": go_float(q)} for q in spec.quantiles]
            out.update((name, *sorted({**combo, **e}.items())) for e in extra)
    return out


def test_series_and_labels_follow_the_catalog(wl):
    expected = set()
    for spec in default_catalog():
        expected |= expected_series(spec, ("acme", "globex"))
    for instance, series in by_instance(wl).items():
        got = set()
        for s in series:
            assert s.labels["job"] == "im-server" and s.labels["instance"] == instance
            rest = {k: v for k, v in s.labels.items() if k not in ("__name__", "job", "instance")}
            got.add((s.name, *sorted(rest.items())))
        assert len(series) == len(got) == 120
        assert got == expected
    assert wl.instances == ["im-0:9100", "im-1:9100"]
    assert wl.n_samples == sum(len(s) for s in wl.series)


def test_le_and_quantile_labels_use_go_float_formatting():
    assert [go_float(x) for x in (0.05, 1.0, 2.5, 0.0, 1e6, 100000.0, 1e-5)] == [
        "0.05", "1", "2.5", "0", "1e+06", "100000", "1e-05"]
    assert go_float(float("inf")) == "+Inf"


def test_end_defaults_to_the_hour_three_hours_ago():
    before = (pd.Timestamp.now(tz="UTC") - pd.Timedelta(hours=3)).floor("1h")
    wl = simulate(instances=1, days=0.05, incidents=False)
    after = (pd.Timestamp.now(tz="UTC") - pd.Timedelta(hours=3)).floor("1h")
    assert wl.end in (before, after)
    assert wl.start == wl.end - pd.Timedelta(days=0.05)
    assert str(wl.end.tz) == "UTC"


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="scrape_interval"):
        simulate(days=1, end=END, scrape_interval="500ms")
    with pytest.raises(ValueError, match="instances"):
        simulate(instances=0, days=1, end=END)
    with pytest.raises(ValueError, match="tenants"):
        simulate(days=1, end=END, tenants=("a", "a"))
    with pytest.raises(ValueError, match="unknown incident kind 'disk_full'"):
        simulate(days=2, end=END, incidents=["disk_full"])


# -- scrape timing


def test_timestamps_sit_on_a_jittered_grid_shared_by_the_instance(wl):
    step = wl.scrape_interval // pd.Timedelta("1ms")
    start, end = ms(wl.start), ms(wl.end)
    offsets = set()
    for series in by_instance(wl).values():
        t = series[0].t
        assert t.dtype == np.int64 and np.all(np.diff(t) > 0)
        assert start <= t[0] and t[-1] <= end
        assert all(s.t is t for s in series)
        phase = (t - start) % step
        offset = int(np.median(phase))
        assert np.abs(phase - offset).max() <= JITTER_MS
        assert np.abs(phase - offset).max() > 0  # jitter exists
        offsets.add(offset)
    assert len(offsets) == 2


def test_scrapes_go_missing_around_restarts_and_now_and_then(wl):
    assert wl.restarts
    step = wl.scrape_interval // pd.Timedelta("1ms")
    for r in wl.restarts:
        t = one(wl, "go_goroutines", instance=r.instance).t
        assert not ((t >= ms(r.stopped)) & (t < ms(r.started))).any()
    gaps = [np.diff(s.t) for s in wl.select("go_goroutines")]
    missed = sum(int(((g > 1.5 * step) & (g < 2.5 * step)).sum()) for g in gaps)
    assert missed > 0


def test_four_days_bring_longer_scrape_gaps():
    wl = simulate(instances=3, days=4, seed=2, end=END, scrape_interval="1m", incidents=False)
    gaps = np.concatenate([np.diff(s.t) for s in wl.select("go_goroutines")])
    assert (gaps >= 3 * 60_000).any()


# -- counters and histograms


def test_counters_are_integer_and_only_drop_at_restarts(wl):
    for instance, series in by_instance(wl).items():
        starts = [ms(r.started) for r in wl.restarts if r.instance == instance]
        assert starts
        for s in filter(is_counter, series):
            down = np.flatnonzero(np.diff(s.v) < 0) + 1
            for k in down:
                assert any(s.t[k - 1] < x <= s.t[k] for x in starts), (s, s.t[k])
            if not s.name.endswith("_sum"):
                assert np.array_equal(s.v, np.round(s.v))
            assert s.v.min() >= 0


def around_restarts(wl, name: str):
    """(before, after) values of `name` around each restart on its instance."""
    assert wl.restarts
    for r in wl.restarts:
        s = one(wl, name, instance=r.instance)
        k = np.searchsorted(s.t, ms(r.started))
        if 0 < k < len(s):
            yield s.v[k - 1], s.v[k]


def test_every_restart_resets_the_message_counters(wl):
    for before, after in around_restarts(wl, "im_message_processing_duration_seconds_count"):
        assert after < before


def count_series(wl, kind: str):
    """(spec, _count series, its labels) for every series of the catalog's `kind` metrics."""
    for spec in default_catalog():
        if spec.type == kind:
            for count in wl.select(f"{spec.name}_count"):
                yield spec, count, {k: v for k, v in count.labels.items() if k != "__name__"}


def test_histogram_buckets_are_cumulative_and_end_in_count(wl):
    for spec, count, labels in count_series(wl, "histogram"):
        buckets = sorted(wl.select(f"{spec.name}_bucket", **labels),
                         key=lambda s: float(s.labels["le"]))
        assert [b.labels["le"] for b in buckets] == [*map(go_float, spec.buckets), "+Inf"]
        stack = np.array([b.v for b in buckets])
        assert np.all(np.diff(stack, axis=0) >= 0)
        np.testing.assert_array_equal(stack[-1], count.v)
        assert stack[0].max() > 0 and stack[-1].max() > stack[0].max()


def test_message_counts_agree_across_metrics(wl):
    for instance in wl.instances:
        sent = sum(s.v for s in wl.select("im_messages_sent_total", instance=instance))
        delivered = sum(s.v for s in wl.select("im_messages_delivered_total", instance=instance))
        failed = sum(s.v for s in wl.select("im_message_delivery_failures_total",
                                            instance=instance))
        processed = one(wl, "im_message_processing_duration_seconds_count", instance=instance)
        arrived = one(wl, "im_message_e2e_latency_seconds_count", instance=instance)
        np.testing.assert_array_equal(processed.v, sent)
        np.testing.assert_array_equal(arrived.v, delivered)
        in_flight = sent - delivered - failed
        assert in_flight.min() >= 0
        assert np.median(in_flight) < 0.1 * np.median(np.diff(sent)[np.diff(sent) > 0])


def test_api_histogram_counts_every_status(wl):
    for count in wl.select("im_api_request_duration_seconds_count"):
        path, instance = count.labels["path"], count.labels["instance"]
        requests = wl.select("im_api_requests_total", path=path, instance=instance)
        assert len(requests) == 3
        np.testing.assert_array_equal(count.v, sum(s.v for s in requests))


def test_summaries_have_ordered_positive_quantiles(wl):
    for spec, count, labels in count_series(wl, "summary"):
        total = one(wl, f"{spec.name}_sum", **labels)
        assert total.v.max() > 0 and np.all(total.v[count.v == 0] == 0)
        quantiles = sorted(wl.select(spec.name, **labels),
                           key=lambda s: float(s.labels["quantile"]))
        assert len(quantiles) == len(spec.quantiles)
        if quantiles:
            stack = np.array([q.v for q in quantiles])
            assert np.all(stack > 0) and np.all(np.diff(stack, axis=0) >= 0)


# -- realism


def test_daily_and_weekly_rhythm_and_tenant_sizes(four_days):
    c = one(four_days, "im_connections_count", instance="im-0:9100")
    hour = pd.to_datetime(c.t, unit="ms", utc=True).hour
    by_hour = pd.Series(c.v).groupby(np.asarray(hour)).mean()
    assert by_hour.idxmin() in (3, 4, 5) and by_hour.idxmax() in (19, 20, 21, 22)
    assert by_hour.min() < 0.4 * by_hour.max()

    def weekend_ratio(tenant):
        s = one(four_days, "im_active_users_gauge", instance="im-0:9100", tenant=tenant)
        days = pd.to_datetime(s.t, unit="ms", utc=True)
        evening = np.asarray((days.hour >= 18) & (days.hour < 22))
        weekend = np.asarray(days.day_of_week >= 5)
        return s.v[evening & weekend].mean() / s.v[evening & ~weekend].mean()

    assert weekend_ratio("acme") > 1.5 * weekend_ratio("globex")
    acme = one(four_days, "im_active_users_gauge", instance="im-0:9100", tenant="acme")
    globex = one(four_days, "im_active_users_gauge", instance="im-0:9100", tenant="globex")
    assert acme.v.mean() > 1.5 * globex.v.mean()


def test_bots_send_in_hourly_bursts(four_days):
    bots = one(four_days, "im_messages_sent_total", instance="im-1:9100", tenant="acme",
               user_type="bot")
    minute = pd.to_datetime(bots.t[1:], unit="ms", utc=True).minute
    step = np.diff(bots.v)
    ok = step >= 0
    burst = step[ok & np.asarray(minute < 3)].mean()
    rest = step[ok & np.asarray((minute > 5) & (minute < 55))].mean()
    assert burst > 2.5 * rest


def test_gauges_fall_back_after_a_restart(wl):
    for before, after in around_restarts(wl, "go_goroutines"):
        assert after < 0.6 * before


def test_a_clean_workload_has_no_incidents_or_excursions():
    wl = simulate(instances=2, days=2, seed=3, end=END, incidents=False)
    assert wl.incidents == []
    lag = np.concatenate([s.v for s in wl.select("im_mq_consumer_lag_seconds")])
    assert lag.max() < 5
    for instance in wl.instances:
        failed = sum(s.v[-1] for s in wl.select("im_message_delivery_failures_total",
                                                instance=instance))
        sent = sum(s.v[-1] for s in wl.select("im_messages_sent_total", instance=instance))
        assert failed < 0.01 * sent


# -- incidents


def test_incident_schedule_rules(four_days):
    incidents = simulate(instances=6, days=14, seed=0, end=END, scrape_interval="1h").incidents
    assert {i.kind for i in four_days.incidents} == set(INCIDENT_KINDS)
    assert 13 <= len(incidents) <= 2 * 13 + 1
    for wl_incidents, start in ((incidents, pd.Timestamp(END) - pd.Timedelta(days=14)),
                                (four_days.incidents, four_days.start)):
        assert wl_incidents == sorted(wl_incidents, key=lambda i: i.start)
        for i in wl_incidents:
            assert i.start >= start + pd.Timedelta(days=1)
            assert pd.Timedelta("10min") <= i.end - i.start <= pd.Timedelta("120min")
            assert i.labels["instance"].startswith("im-")
            assert ("tenant" in i.labels) == (i.kind == "message_loss")
            assert ("path" in i.labels) == (i.kind == "api_5xx_burst")
        by_instance_ = {}
        for i in wl_incidents:
            by_instance_.setdefault(i.instance, []).append(i)
        for same in by_instance_.values():
            for a, b in zip(same, same[1:], strict=False):
                assert a.end <= b.start


def test_every_kind_is_placed_when_asked(every_kind):
    assert sorted(i.kind for i in every_kind.incidents) == sorted(INCIDENT_KINDS)


def window(every_kind, kind):
    (incident,) = [i for i in every_kind.incidents if i.kind == kind]
    before = (incident.start - pd.Timedelta("30min"), incident.start)
    return incident, incident.instance, before


def test_message_loss_raises_the_tenants_failure_ratio(every_kind):
    incident, instance, before = window(every_kind, "message_loss")
    tenant = incident.labels["tenant"]

    def ratios(a, b):
        sent = sum(increase(s, a, b) for s in every_kind.select(
            "im_messages_sent_total", instance=instance, tenant=tenant))
        failed = sum(increase(s, a, b) for s in every_kind.select(
            "im_message_delivery_failures_total", instance=instance, tenant=tenant))
        delivered = increase(one(every_kind, "im_messages_delivered_total", instance=instance,
                                 tenant=tenant), a, b)
        return failed / sent, delivered / sent

    fail_in, delivered_in = ratios(incident.start, incident.end)
    fail_out, delivered_out = ratios(*before)
    assert fail_in > 0.1 and fail_out < 0.01
    assert delivered_in < 0.9 < delivered_out


def test_latency_regression_pushes_processing_p99_past_one_second(every_kind):
    incident, instance, before = window(every_kind, "latency_regression")
    processing = every_kind.select("im_message_processing_duration_seconds_bucket",
                                   instance=instance)
    e2e = every_kind.select("im_message_e2e_latency_seconds_bucket", instance=instance)
    assert quantile(processing, incident.start, incident.end, 0.99) >= 1.0
    assert quantile(processing, *before, 0.99) < 0.2
    assert quantile(e2e, incident.start, incident.end, 0.99) > 2 * quantile(e2e, *before, 0.99)


def test_connection_drop_cuts_connections_then_recovers(every_kind):
    incident, instance, before = window(every_kind, "connection_drop")
    c = one(every_kind, "im_connections_count", instance=instance)
    level = values(c, incident.start - pd.Timedelta("5min"), incident.start).mean()
    inside = values(c, incident.start, incident.end)
    assert 0.35 * level < inside.min() < 0.75 * level
    # Recovered by the end: no jump up once the window closes.
    after = values(c, incident.end, incident.end + pd.Timedelta("5min")).mean()
    assert inside[-4:].mean() > 0.9 * after
    users = sum(values(s, incident.start, incident.start + pd.Timedelta("1min")).mean()
                for s in every_kind.select("im_active_users_gauge", instance=instance))
    users_before = sum(values(s, *before).mean()
                       for s in every_kind.select("im_active_users_gauge", instance=instance))
    assert users < 0.8 * users_before
    errors = one(every_kind, "im_connection_closes_total", instance=instance, reason="error")
    first_minute = increase(errors, incident.start, incident.start + pd.Timedelta("1min"))
    assert first_minute > 10 * increase(errors, *before) / 30


def test_mq_backlog_grows_pending_lag_and_e2e_latency(every_kind):
    incident, instance, before = window(every_kind, "mq_backlog")
    pending = one(every_kind, "im_mq_pending_messages", instance=instance)
    lag = one(every_kind, "im_mq_consumer_lag_seconds", instance=instance)
    assert values(pending, incident.start, incident.end).max() > 50 * values(
        pending, *before).mean()
    assert values(lag, incident.start, incident.end).max() >= 60
    assert values(lag, *before).max() < 5
    e2e = every_kind.select("im_message_e2e_latency_seconds_bucket", instance=instance)
    assert quantile(e2e, incident.start, incident.end, 0.99) > 2 * quantile(e2e, *before, 0.99)


def test_api_5xx_burst_hits_one_path(every_kind):
    incident, instance, before = window(every_kind, "api_5xx_burst")

    def share(path, a, b):
        by_status = {s.labels["status"]: increase(s, a, b) for s in every_kind.select(
            "im_api_requests_total", instance=instance, path=path)}
        return by_status["500"] / sum(by_status.values())

    hit = incident.labels["path"]
    assert 0.05 < share(hit, incident.start, incident.end) < 0.5
    assert share(hit, *before) < 0.01
    other = next(p for p in ("/api/v1/messages", "/api/v1/login") if p != hit)
    assert share(other, incident.start, incident.end) < 0.01


def test_goroutine_leak_grows_until_a_restart(every_kind):
    incident, instance, _ = window(every_kind, "goroutine_leak")
    g = one(every_kind, "go_goroutines", instance=instance)
    heap = one(every_kind, "go_memstats_heap_alloc_bytes", instance=instance)
    inside = values(g, incident.start, incident.end)
    assert inside[-4:].mean() > 1.6 * inside[:4].mean()
    heap_in = values(heap, incident.start, incident.end)
    assert heap_in[-20:].mean() > 1.5 * heap_in[:20].mean()
    assert any(r.instance == instance and r.stopped == incident.end
               for r in every_kind.restarts)
    after = values(g, incident.end, incident.end + pd.Timedelta("5min"))
    assert after[0] < 0.5 * inside[-1]


# -- incident files


def sample_incidents():
    return [
        Incident(pd.Timestamp("2026-03-01T10:00:00Z"), pd.Timestamp("2026-03-01T10:30:00Z"),
                 "message_loss", {"instance": "im-0:9100", "tenant": "acme"}),
        Incident("2026-03-01T08:00:00.250Z", "2026-03-01T09:00:00Z", "api_5xx_burst",
                 {"instance": "im-1:9100", "path": "/api/v1/login"}),
        Incident("2026-03-01T12:00:00", "2026-03-01T12:45:00", "goroutine_leak",
                 {"instance": "im-1:9100"}),
    ]


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".csv"])
def test_incident_files_round_trip(tmp_path, suffix, every_kind):
    for incidents in (sample_incidents(), every_kind.incidents, []):
        path = write_incidents(incidents, tmp_path / f"incidents{suffix}")
        back = read_incidents(path)
        assert back == sorted(incidents, key=lambda i: i.start)
        assert all(str(i.start.tz) == "UTC" for i in back)


def test_incident_to_dict_and_validation():
    incident = sample_incidents()[0]
    assert incident.to_dict() == {
        "start": "2026-03-01T10:00:00Z", "end": "2026-03-01T10:30:00Z",
        "kind": "message_loss", "labels": {"instance": "im-0:9100", "tenant": "acme"}}
    assert Incident.from_dict(incident.to_dict()) == incident
    assert len({incident, Incident.from_dict(incident.to_dict())}) == 1
    with pytest.raises(ValueError, match="not after start"):
        Incident("2026-03-01T10:00Z", "2026-03-01T10:00Z", "message_loss")
    with pytest.raises(ValueError, match="unknown incident kind"):
        Incident("2026-03-01T10:00Z", "2026-03-01T11:00Z", "disk_full")


@pytest.mark.parametrize(("name", "text", "field"), [
    ("bad.yaml", "- start: soon\n  end: 2026-03-01T10:00:00Z\n  kind: mq_backlog\n",
     "'start'"),
    ("bad.yaml", "- start: 2026-03-01T09:00:00Z\n  end: 2026-03-01T10:00:00Z\n"
     "  kind: mq_backlog\n  labels: [im-0]\n", "'labels'"),
    ("bad.yaml", "- start: 2026-03-01T09:00:00Z\n  kind: mq_backlog\n", "'end'"),
    ("bad.yaml", "- start: 2026-03-01T09:00:00Z\n  end: 2026-03-01T10:00:00Z\n"
     "  kind: mq_backlog\n  severity: high\n", "'severity'"),
    ("bad.csv", "start,end,kind,instance\n2026-03-01T09:00Z,2026-03-01T10:00Z,oops,im-0\n",
     "'kind'"),
    ("bad.csv", "start,end,kind\n2026-03-01T09:00Z,2026-03-01T08:00Z,mq_backlog\n", "'end'"),
])
def test_read_errors_name_the_file_and_field(tmp_path, name, text, field):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValueError) as err:
        read_incidents(path)
    message = str(err.value)
    assert str(path) in message and field in message
    assert ("incident 1" if name.endswith(".yaml") else "line 2") in message


@pytest.mark.parametrize(("name", "text", "problem"), [
    ("bad.yaml", "start: 2026-03-01\n", "expected a list"),
    ("bad.yaml", "- [1, 2\n", "not valid YAML"),
    ("bad.csv", "begin,end,kind\n", "header"),
    ("bad.csv", "start,end,kind\n2026-03-01T09:00Z,2026-03-01T10:00Z\n", "expected 3 fields"),
    ("bad.json", "[]", "unsupported incident file type"),
])
def test_malformed_incident_files_are_refused_by_name(tmp_path, name, text, problem):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValueError, match=problem) as err:
        read_incidents(path)
    assert str(path) in str(err.value)
