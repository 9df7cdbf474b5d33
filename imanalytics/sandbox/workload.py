"""IM workload simulator: a fleet of IM servers as Prometheus scraped them, with incidents.

`simulate` produces, for every instance, each series of every metric in the default
catalog, sampled on a jittered scrape grid. The numbers follow one traffic model:
online users per tenant (diurnal and weekly rhythm, growth, autocorrelated noise) drive
connections, messages, API calls and the Go runtime, so the counters agree with each
other the way a real server's do (processing ``_count`` == messages sent, e2e
``_count`` == delivered, sent - delivered - failures == in flight). Process restarts
reset every counter; labelled incidents (`imanalytics.sandbox.incidents`) bend the
model inside their windows.

Everything is drawn from ``numpy.random.default_rng(seed)``, vectorised per instance:
the same parameters give identical arrays.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.signal import lfilter
from scipy.special import ndtr, ndtri

from ..catalog import MetricSpec, default_catalog
from ..samples import NAME, Series
from .incidents import Incident, plan_incidents, to_utc

USER_TYPES = ("user", "bot", "system")
CLOSE_REASONS = ("normal", "timeout", "error", "kicked")
FAILURE_REASONS = ("offline_timeout", "push_error")
API_PATHS = ("/api/v1/messages", "/api/v1/conversations", "/api/v1/login", "/api/v1/contacts")
API_STATUSES = ("200", "400", "500")
GROUP_SIZES = ("small", "medium", "large")
PORT = 9100

# Traffic model, per instance. Rates are per second.
PEAK_USERS = 6000.0  # online users at the daily peak, all tenants
TROUGH = 0.22  # 04:00 UTC load relative to the 21:00 peak
GROWTH_PER_DAY = 0.01
WEEKEND_FACTORS = (1.12, 0.55)  # consumer-like and business-like tenants alternate
DEVICES_PER_USER = 1.3
CONNECTION_LIFETIME_S = 1200.0
CLOSE_SHARES = (0.72, 0.2, 0.05, 0.03)  # by CLOSE_REASONS
MESSAGES_PER_USER = 0.015
BOT_RATE = 2.5  # bot messages per second, all tenants, between cron bursts
SYSTEM_PER_USER = 0.0015
FAILURE_P = 0.0015
PUSH_SHARE = 0.25  # of failures outside incidents
GROUP_SHARES = (0.2, 0.06, 0.01)  # fraction of user messages fanned out, by GROUP_SIZES
GROUP_MEDIANS = (0.004, 0.02, 0.12)
API_SHARES = {  # path: (driver, requests per driver unit, 4xx share, median seconds)
    "/api/v1/messages": ("messages", 0.2, 0.01, 0.035),
    "/api/v1/conversations": ("users", 0.003, 0.008, 0.06),
    "/api/v1/login": ("handshakes", 0.6, 0.04, 0.15),
    "/api/v1/contacts": ("users", 0.0008, 0.01, 0.08),
}
API_5XX_P = 0.0008
PROCESSING_MEDIAN = 0.012
E2E_NETWORK_MEDIAN = 0.08
MISSED_SCRAPE_P = 0.0007
GAPS_PER_DAY = 0.25  # longer scrape gaps per instance
CRASHES_PER_DAY = 0.05  # unplanned restarts per instance
DEPLOY_EVERY_DAYS = 3.0  # rolling restarts of the whole fleet
JITTER_MS = 5
RECONNECT_S = 45.0  # clients come back after a restart with this time constant


class Restart(NamedTuple):
    instance: str
    stopped: pd.Timestamp
    started: pd.Timestamp  # counters start again from zero here


@dataclass(repr=False)
class Workload:
    series: list[Series]
    incidents: list[Incident]
    restarts: list[Restart]
    start: pd.Timestamp
    end: pd.Timestamp
    scrape_interval: pd.Timedelta

    @property
    def n_samples(self) -> int:
        return sum(len(s) for s in self.series)

    @property
    def instances(self) -> list[str]:
        return list(dict.fromkeys(s.labels["instance"] for s in self.series))

    def select(self, name: str, **labels: str) -> list[Series]:
        """Series named `name` whose labels equal every given value."""
        return [
            s
            for s in self.series
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        ]

    def __repr__(self) -> str:
        return (
            f"Workload({len(self.instances)} instances, {len(self.series)} series, "
            f"{self.n_samples} samples, {self.start.isoformat()} .. {self.end.isoformat()}, "
            f"{len(self.incidents)} incidents, {len(self.restarts)} restarts)"
        )


def simulate(
    instances: int = 6,
    days: float = 14,
    seed: int = 0,
    end: str | datetime | pd.Timestamp | None = None,
    scrape_interval: str | pd.Timedelta = "15s",
    tenants: Sequence[str] = ("acme", "globex"),
    job: str = "im-server",
    incidents: bool | Iterable[str] = True,
) -> Workload:
    """Simulate `instances` IM servers over `days` ending at `end`.

    ``end=None`` is the current hour three hours ago (a backfill must stay clear of
    Prometheus's live head block). ``incidents`` is True for a random schedule, False
    for a clean workload, or a list of kinds to place once each.
    """
    clock = _Clock.make(end, days, scrape_interval)
    tenants = _check(instances, tenants, job)
    names = [f"im-{i}:{PORT}" for i in range(instances)]
    plan_rng, fleet_rng, *rngs = np.random.default_rng(seed).spawn(instances + 2)
    planned = _plan(plan_rng, incidents, names, clock, tenants)
    restarts = _plan_restarts(fleet_rng, names, clock, planned)
    fleet = _Fleet.make(fleet_rng, clock, len(tenants))
    catalog = default_catalog()
    series: list[Series] = []
    for name, rng in zip(names, rngs, strict=True):
        own = [i for i in planned if i.instance == name]
        stops = [r for r in restarts if r.instance == name]
        inst = _Instance(rng, clock, {"job": job, "instance": name}, tenants, own, stops)
        series += inst.generate(fleet, catalog)
    return Workload(series, planned, restarts, clock.start, clock.end, clock.step)


def _check(instances: int, tenants: Sequence[str], job: str) -> tuple[str, ...]:
    if int(instances) != instances or instances < 1:
        raise ValueError(f"instances must be a positive integer (got {instances!r})")
    tenants = tuple(tenants)
    if not tenants or len(set(tenants)) != len(tenants) or not all(tenants):
        raise ValueError(f"tenants must be distinct non-empty names (got {tenants!r})")
    if not job:
        raise ValueError("job must be a non-empty name")
    return tenants


# ------------------------------------------------------------------------ time grid


@dataclass(frozen=True)
class _Clock:
    start: pd.Timestamp
    end: pd.Timestamp
    step: pd.Timedelta

    @classmethod
    def make(cls, end, days: float, interval) -> _Clock:
        if end is None:
            end = (pd.Timestamp.now(tz="UTC") - pd.Timedelta(hours=3)).floor("1h")
        try:
            end, step = to_utc(end), pd.Timedelta(interval)
        except ValueError as exc:
            raise ValueError(f"simulate: bad end or scrape_interval: {exc}") from None
        if step < pd.Timedelta("1s") or step % pd.Timedelta("1ms"):
            raise ValueError(f"scrape_interval must be whole milliseconds, >= 1s (got {interval})")
        if not days > 0:
            raise ValueError(f"days must be positive (got {days!r})")
        start = end - pd.Timedelta(days=days)
        if (end - start) < 2 * step:
            raise ValueError(f"{days} days hold fewer than two scrapes of {interval}")
        return cls(start, end, step)

    @property
    def step_s(self) -> float:
        return self.step / pd.Timedelta("1s")

    @property
    def n(self) -> int:
        """Scrape slots; slot k is scraped within ``[start + k*step, start + (k+1)*step)``."""
        return int((self.end - self.start) // self.step)

    @property
    def days(self) -> float:
        return (self.end - self.start) / pd.Timedelta(days=1)

    def slot_times(self) -> np.ndarray:
        return self.start.value / 1e9 + np.arange(self.n) * self.step_s

    def steps(self, duration: str) -> float:
        return pd.Timedelta(duration) / self.step


# --------------------------------------------------------------------- fleet traffic


@dataclass(frozen=True)
class _Fleet:
    users: np.ndarray  # (tenants, slots): online users of a typical instance
    share: np.ndarray  # (tenants,)
    growth: np.ndarray  # (slots,)

    @classmethod
    def make(cls, rng: np.random.Generator, clock: _Clock, n_tenants: int) -> _Fleet:
        t = clock.slot_times()
        growth = 1 + GROWTH_PER_DAY * (t - t[0]) / 86400
        share = 1 / np.arange(1, n_tenants + 1) ** 1.3
        share /= share.sum()
        base = PEAK_USERS * diurnal((t % 86400) / 3600) * growth
        weekend = weekend_weight(t)
        rows = []
        for j in range(n_tenants):
            weekly = 1 + (WEEKEND_FACTORS[j % 2] - 1) * weekend
            # Tenant-wide swings (news, campaigns) that every instance sees.
            noise = np.exp(ar1(rng, clock.n, clock.steps("3h"), 0.05))
            rows.append(share[j] * base * weekly * noise)
        return cls(np.array(rows), share, growth)


def diurnal(hour: np.ndarray) -> np.ndarray:
    """Relative load by UTC hour: TROUGH at 04:00, 1 at 21:00; slow rise, fast fall."""
    since_low = (hour - 4) % 24
    phase = np.where(since_low < 17, since_low / 17, 1 + (since_low - 17) / 7) * np.pi
    return TROUGH + (1 - TROUGH) * (0.5 - 0.5 * np.cos(phase))


def weekend_weight(t: np.ndarray) -> np.ndarray:
    """1 on Saturday and Sunday (UTC), 0 on weekdays, with 3-hour ramps at the edges."""
    day = (t / 86400 + 3) % 7  # 0 = Monday 00:00 (1970-01-01 was a Thursday)
    ramp = 0.125
    return np.clip((day - 5) / ramp, 0, 1) * np.clip((7 - day) / ramp, 0, 1)


def ar1(rng: np.random.Generator, n: int, tau: float, sd: float) -> np.ndarray:
    """Stationary AR(1) noise with correlation time `tau` samples and deviation `sd`."""
    phi = math.exp(-1 / max(tau, 1e-6))
    shocks = rng.standard_normal(n) * sd * math.sqrt(1 - phi * phi)
    first = rng.standard_normal() * sd
    out, _ = lfilter([1.0], [1.0, -phi], shocks, zi=[phi * first])
    return out


# ------------------------------------------------------------------ restarts, plans


def _plan(rng, incidents, names, clock: _Clock, tenants) -> list[Incident]:
    if isinstance(incidents, (bool, np.bool_)):
        kinds = None if incidents else []
    else:
        kinds = [incidents] if isinstance(incidents, str) else list(incidents)
    return plan_incidents(
        rng, names, clock.start, clock.end, tenants=tenants, paths=API_PATHS, kinds=kinds
    )


def _plan_restarts(rng, names, clock: _Clock, incidents: list[Incident]) -> list[Restart]:
    """Rolling deploys, rare crashes and the OOM kill that ends every goroutine leak."""
    wanted = []
    for day in _deploy_days(rng, clock):
        wanted += _rollout(rng, names, clock, day)
    for name in names:
        for _ in range(rng.poisson(clock.days * CRASHES_PER_DAY)):
            at = clock.start + (clock.end - clock.start) * rng.uniform(0.02, 0.98)
            wanted.append(_restart(name, at, rng.uniform(20, 90)))
    kept = [r for r in (_clear_of(r, incidents, clock) for r in wanted) if r is not None]
    kept += [
        _restart(i.instance, i.end, rng.uniform(30, 120))
        for i in incidents
        if i.kind == "goroutine_leak"
    ]
    return _spaced(sorted(kept, key=lambda r: (r.started, r.instance)))


def _deploy_days(rng, clock: _Clock) -> list[pd.Timestamp]:
    """At least one deploy, on distinct days, weekdays when there are any."""
    days = pd.date_range(clock.start.floor("1D"), clock.end - pd.Timedelta("1ns"), freq="1D")
    weekdays = [d for d in days if d.day_of_week < 5] or list(days)
    wanted = max(1, rng.poisson(clock.days / DEPLOY_EVERY_DAYS))
    picked = rng.choice(len(weekdays), min(wanted, len(weekdays)), replace=False)
    return [weekdays[k] for k in sorted(picked)]


def _rollout(rng, names, clock: _Clock, day: pd.Timestamp) -> list[Restart]:
    """Restart every instance in turn, a few minutes apart, in office hours if they fit."""
    pause = [pd.Timedelta(seconds=rng.uniform(120, 300)) for _ in names]
    span = sum(pause, pd.Timedelta(0))
    lo, hi = clock.start + pd.Timedelta("5min"), clock.end - span - pd.Timedelta("5min")
    if hi <= lo:
        return []
    at = day + pd.Timedelta(hours=9 + 7 * rng.uniform())
    if not lo <= at <= hi:
        at = lo + (hi - lo) * rng.uniform()
    out = []
    for name, wait in zip(names, pause, strict=True):
        out.append(_restart(name, at, rng.uniform(15, 60)))
        at += wait
    return out


def _restart(name: str, at: pd.Timestamp, down_s: float) -> Restart:
    at = at.round("1ms")
    return Restart(name, at, at + pd.Timedelta(milliseconds=round(down_s * 1000)))


def _clear_of(r: Restart, incidents: list[Incident], clock: _Clock) -> Restart | None:
    """Move a planned restart out of the instance's incident windows (deploys wait)."""
    margin = pd.Timedelta("10min")
    for _ in range(len(incidents) + 1):
        hit = [
            i
            for i in incidents
            if i.instance == r.instance and i.overlaps(r.stopped - margin, r.started + margin)
        ]
        if not hit:
            return r if r.started < clock.end - pd.Timedelta("2min") else None
        r = _restart(r.instance, hit[0].end + 1.5 * margin, (r.started - r.stopped).total_seconds())
    return None


def _spaced(restarts: list[Restart]) -> list[Restart]:
    """Drop restarts that would land within 5 minutes of the previous one on that instance."""
    free_from: dict[str, pd.Timestamp] = {}
    out = []
    for r in restarts:
        if r.instance not in free_from or r.stopped >= free_from[r.instance]:
            out.append(r)
            free_from[r.instance] = r.started + pd.Timedelta("5min")
    return out


# ------------------------------------------------------------------ incident effects


class _Window(NamedTuple):
    incident: Incident
    inside: np.ndarray  # slots within [start, end)
    x: np.ndarray  # progress through the window, 0..1 (0 outside)
    seconds: float

    def ramp(self, seconds: float) -> np.ndarray:
        """0 at the start, 1 after `seconds`."""
        return np.clip(self.x * self.seconds / seconds, 0, 1)

    def put(self, current: np.ndarray, value) -> np.ndarray:
        return np.where(self.inside, value, current)


class _Effects:
    """How incidents bend one instance's traffic model, slot by slot."""

    def __init__(self, n: int, tenants: tuple[str, ...]):
        self.tenants = tenants
        self.drop = np.zeros(n)  # share of connections lost to a network fault
        self.fail = np.zeros((len(tenants), n))  # extra delivery failure probability
        self.push = np.full((len(tenants), n), PUSH_SHARE)  # push_error share of failures
        self.slow = np.ones(n)  # processing latency factor
        self.spread = np.zeros(n)  # extra log-sd of processing latency
        self.lag = np.zeros(n)  # message-queue consumer lag, seconds
        self.errors = np.zeros((len(API_PATHS), n))  # extra 5xx share per path
        self.leak = np.zeros(n)  # leaked goroutines

    def apply(self, incident: Incident, t: np.ndarray, rng: np.random.Generator) -> None:
        start, end = incident.start.value / 1e9, incident.end.value / 1e9
        inside = (t >= start) & (t < end)
        x = np.where(inside, (t - start) / (end - start), 0.0)
        _APPLY[incident.kind](self, _Window(incident, inside, x, end - start), rng)


def _message_loss(fx: _Effects, w: _Window, rng) -> None:
    j = fx.tenants.index(w.incident.labels["tenant"])
    fx.fail[j] = w.put(fx.fail[j], fx.fail[j] + rng.uniform(0.2, 0.6) * w.ramp(60))
    fx.push[j] = w.put(fx.push[j], 0.85)  # the push gateway is what broke


def _latency_regression(fx: _Effects, w: _Window, rng) -> None:
    factor = rng.uniform(10, 18)  # enough to push processing p99 past 1 s
    fx.slow = w.put(fx.slow, fx.slow * (1 + (factor - 1) * w.ramp(120)))
    fx.spread = w.put(fx.spread, fx.spread + 0.3 * w.ramp(120))


def _connection_drop(fx: _Effects, w: _Window, rng) -> None:
    depth, tau = rng.uniform(0.3, 0.6), 1 / 3
    # Exponential recovery, rescaled to reach exactly zero at the window's end.
    recovery = (np.exp(-w.x / tau) - math.exp(-1 / tau)) / (1 - math.exp(-1 / tau))
    fx.drop = w.put(fx.drop, np.maximum(fx.drop, depth * recovery))


def _mq_backlog(fx: _Effects, w: _Window, rng) -> None:
    peak_at = 0.7
    peak = min(rng.uniform(120, 600), 0.8 * peak_at * w.seconds)  # lag grows at most 1 s/s
    shape = np.where(w.x < peak_at, w.x / peak_at, (1 - w.x) / (1 - peak_at))
    fx.lag = w.put(fx.lag, np.maximum(fx.lag, peak * shape))


def _api_5xx_burst(fx: _Effects, w: _Window, rng) -> None:
    j = API_PATHS.index(w.incident.labels["path"])
    fx.errors[j] = w.put(fx.errors[j], fx.errors[j] + rng.uniform(0.1, 0.4) * w.ramp(30))


def _goroutine_leak(fx: _Effects, w: _Window, rng) -> None:
    fx.leak = w.put(fx.leak, fx.leak + rng.uniform(20_000, 50_000) * w.x)


_APPLY = {
    "message_loss": _message_loss,
    "latency_regression": _latency_regression,
    "connection_drop": _connection_drop,
    "mq_backlog": _mq_backlog,
    "api_5xx_burst": _api_5xx_burst,
    "goroutine_leak": _goroutine_leak,
}


# --------------------------------------------------------------------- one instance


class _Instance:
    """One IM server process history: scrape times, restarts, and its series."""

    def __init__(self, rng, clock: _Clock, target: dict, tenants, incidents, restarts):
        self.rng, self.clock, self.target, self.tenants = rng, clock, target, tenants
        self.n = clock.n
        # Seconds each slot's counter increments cover; the first slot also carries the
        # process's uptime before the window, so counters do not all start at zero.
        self.span = np.full(self.n, clock.step_s)
        self.span[0] += rng.uniform(0.2, 3) * 86400
        self.t_ms = self._scrape_times()
        self.t = self.t_ms / 1000
        self.resets = [int(np.searchsorted(self.t, r.started.value / 1e9)) for r in restarts]
        self.resets = sorted({k for k in self.resets if 0 < k < self.n})
        self.keep = self._scraped(incidents, restarts)
        self.times = self.t_ms[self.keep]
        self.times.flags.writeable = False  # shared by every series of the instance
        self.fx = _Effects(self.n, tenants)
        for incident in incidents:
            self.fx.apply(incident, self.t, rng)
        self.up = self._reconnected(restarts)
        self.out: list[Series] = []

    # -- scrapes and process lifetimes

    def _scrape_times(self) -> np.ndarray:
        step = self.clock.step // pd.Timedelta("1ms")
        offset = self.rng.integers(JITTER_MS, step - JITTER_MS)
        jitter = np.clip(np.rint(self.rng.normal(0, 1.5, self.n)), -JITTER_MS, JITTER_MS)
        start = self.clock.start.value // 1_000_000
        return start + np.arange(self.n, dtype=np.int64) * step + offset + jitter.astype(np.int64)

    def _scraped(self, incidents, restarts) -> np.ndarray:
        keep = self.rng.random(self.n) >= MISSED_SCRAPE_P
        for r in restarts:
            keep &= ~self._between(r.stopped, r.started)
        busy = [(i.start, i.end) for i in incidents] + [(r.stopped, r.started) for r in restarts]
        for _ in range(self.rng.poisson(self.clock.days * GAPS_PER_DAY)):
            span = self.clock.end - self.clock.start
            begin = self.clock.start + span * self.rng.uniform()
            gap = pd.Timedelta(seconds=self.rng.uniform(120, 720))
            margin = pd.Timedelta("15min")
            if not any(a - margin < begin + gap and begin < b + margin for a, b in busy):
                keep &= ~self._between(begin, begin + gap)
        return keep

    def _between(self, a: pd.Timestamp, b: pd.Timestamp) -> np.ndarray:
        return (self.t >= a.value / 1e9) & (self.t < b.value / 1e9)

    def _reconnected(self, restarts) -> np.ndarray:
        """Share of the instance's clients connected: zero after a restart, then back."""
        up = np.ones(self.n)
        for r in restarts:
            since = self.t - r.started.value / 1e9
            up *= np.where(since >= 0, -np.expm1(-np.maximum(since, 0) / RECONNECT_S), 1)
        return up

    def noise(self, tau: str, sd: float) -> np.ndarray:
        """AR(1) noise over the instance's slots with correlation time `tau`."""
        return ar1(self.rng, self.n, self.clock.steps(tau), sd)

    # -- counters and emission

    def counter(self, increments: np.ndarray) -> np.ndarray:
        """Cumulative sums along the last axis that restart from zero at each reset."""
        out = np.cumsum(increments, axis=-1, dtype=np.float64)
        for k in self.resets:
            out[..., k:] -= out[..., k - 1 : k]
        return out

    def increments(self, cumulative: np.ndarray) -> np.ndarray:
        out = np.diff(cumulative, axis=-1, prepend=0.0)
        for k in self.resets:
            out[..., k] = cumulative[..., k]
        return out

    def monotone(self, values: np.ndarray) -> np.ndarray:
        """Running maximum along the last axis within each process lifetime."""
        out = values.astype(np.float64, copy=True)
        bounds = [0, *self.resets, self.n]
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            out[..., a:b] = np.maximum.accumulate(out[..., a:b], axis=-1)
        return out

    def emit(self, name: str, labels: dict, values: np.ndarray) -> None:
        full = {NAME: name, **self.target, **labels}
        self.out.append(Series(full, self.times, np.ascontiguousarray(values[self.keep])))

    def family(self, spec: MetricSpec, dims: dict[str, Sequence[str]], values) -> None:
        """Emit a counter or gauge; `values` has one axis per label in `dims`, then time."""
        _check_labels(spec, dims)
        values = np.asarray(values, dtype=np.float64).reshape(-1, self.n)
        for combo, row in zip(_combos(dims), values, strict=True):
            self.emit(spec.name, combo, row)

    def histogram(self, spec: MetricSpec, labels: dict, count, median, sigma) -> None:
        _check_labels(spec, labels)
        bounds = np.array(spec.buckets)
        cdf = ndtr((np.log(bounds)[:, None] - np.log(median)) / sigma)
        cdf = np.broadcast_to(cdf, (len(bounds), self.n))
        below = _cumulative_draw(self.rng, count, cdf)
        for bound, row in zip(bounds, self.counter(below), strict=True):
            self.emit(f"{spec.name}_bucket", {**labels, "le": go_float(bound)}, row)
        total = self.counter(count)
        self.emit(f"{spec.name}_bucket", {**labels, "le": "+Inf"}, total)
        self._sum_count(spec, labels, count, median, sigma, total)

    def summary(self, spec: MetricSpec, labels: dict, count, median, sigma, noise: float):
        _check_labels(spec, labels)
        if spec.quantiles:
            # Quantiles over a sliding window: smooth noise, more of it in the tails.
            z = ndtri(np.clip(spec.quantiles, 0.003, 0.997))
            wobble = [self.noise("5min", noise * (1 + abs(q))) for q in z]
            values = np.sort(median * np.exp(np.outer(z, sigma) + np.array(wobble)), axis=0)
            for q, row in zip(spec.quantiles, values, strict=True):
                self.emit(spec.name, {**labels, "quantile": go_float(q)}, row)
        self._sum_count(spec, labels, count, median, sigma, self.counter(count))

    def _sum_count(self, spec, labels, count, median, sigma, total) -> None:
        sigma = np.asarray(sigma, dtype=np.float64)
        mean = median * np.exp(sigma**2 / 2)
        spread = np.sqrt(np.expm1(sigma**2)) / np.sqrt(np.maximum(count, 1))
        sums = count * mean * np.maximum(1 + spread * self.rng.standard_normal(self.n), 0.2)
        self.emit(f"{spec.name}_sum", labels, self.counter(sums))
        self.emit(f"{spec.name}_count", labels, total)

    # -- the traffic model

    def generate(self, fleet: _Fleet, catalog) -> list[Series]:
        imbalance = np.exp(self.rng.normal(0, 0.06))  # behind the load balancer
        noise = self.noise("40min", 0.04) + self.noise("2min", 0.02)
        natural = fleet.users * imbalance * np.exp(noise)
        online = natural * self.up  # before any network fault
        users = online * (1 - self.fx.drop)
        connections, handshakes = self._connections(catalog, users, online, natural)
        load = self._messages(catalog, fleet, users)
        self._broadcasts(catalog, load)
        self._status_sync(catalog, users, handshakes)
        self._queue(catalog, load)
        api = self._api(catalog, users, load, handshakes)
        self._runtime(catalog, connections, load, api)
        _check_coverage(catalog, self.out)
        return self.out

    def _connections(self, catalog, users, online, natural) -> tuple[np.ndarray, np.ndarray]:
        """Connection gauges, closes and handshakes; returns (connections, handshakes)."""
        rng = self.rng
        ideal = users.sum(axis=0) * DEVICES_PER_USER
        connections = np.rint(ideal * np.exp(self.noise("1min", 0.004)))
        self.family(catalog["connections"], {}, connections)
        self.family(catalog["online_users"], {"tenant": self.tenants}, np.rint(users))
        sessions = np.rint(connections * (0.965 + self.noise("5min", 0.004)))
        self.family(catalog["sessions"], {}, sessions)

        churn = ideal / CONNECTION_LIFETIME_S * self.span
        change = np.diff(ideal, prepend=ideal[0])
        opened = rng.poisson(churn + np.maximum(change, 0))
        closes = rng.poisson(np.outer(CLOSE_SHARES, churn))
        leaving = np.diff(natural.sum(axis=0) * DEVICES_PER_USER, prepend=0)
        closes[0] += rng.poisson(np.maximum(-leaving, 0))  # users signing off for the night
        cut = np.maximum(np.diff(self.fx.drop, prepend=0), 0) * online.sum(axis=0)
        closes[CLOSE_REASONS.index("error")] += rng.poisson(cut * DEVICES_PER_USER)
        self.family(catalog["connection_closes"], {"reason": CLOSE_REASONS}, self.counter(closes))

        # Reconnect storms (after restarts and network faults) slow the handshake down.
        storm = np.clip(np.maximum(change, 0) / (10 * churn + 1), 0, 1)
        self.histogram(catalog["handshake_duration"], {}, opened, 0.06 * (1 + 4 * storm), 0.5)
        return connections, opened

    def _message_rates(self, fleet: _Fleet, users) -> np.ndarray:
        """Messages per second by tenant and user type (people, bots, system notices)."""
        t = self.t
        cron = ((t % 3600) < 180).astype(float)  # bots run on the hour
        weekday = weekend_weight(t) < 0.5
        digest = weekday & ((t % 86400) >= 8 * 3600) & ((t % 86400) < 8 * 3600 + 600)
        bots = BOT_RATE * np.outer(fleet.share, fleet.growth * (1 + 3 * cron) * self.up)
        system = users * SYSTEM_PER_USER * (1 + 5 * digest)
        return np.stack([users * MESSAGES_PER_USER, bots, system], axis=1)

    def _messages(self, catalog, fleet: _Fleet, users) -> _Load:
        rng, fx = self.rng, self.fx
        rates = self._message_rates(fleet, users)
        sent = rng.poisson(rates * self.span)
        per_tenant = sent.sum(axis=1)
        p_fail = np.clip(FAILURE_P * np.exp(self.noise("10min", 0.3)) + fx.fail, 0, 1)
        failed = rng.binomial(per_tenant, p_fail)
        pushed = rng.binomial(failed, fx.push)
        failures = np.stack([failed - pushed, pushed], axis=1)  # by FAILURE_REASONS

        # In flight (Little's law) plus any backlog, split over tenants by traffic.
        total_rate = rates.sum(axis=(0, 1))
        in_flight = rng.poisson(total_rate * E2E_NETWORK_MEDIAN) + fx.lag * total_rate
        waiting = np.rint(in_flight * per_tenant / np.maximum(per_tenant.sum(axis=0), 1))
        sent_total, failed_total = self.counter(sent), self.counter(failures)
        delivered = self.monotone(sent_total.sum(axis=1) - failed_total.sum(axis=1) - waiting)
        delivered = np.maximum(delivered, 0)

        tenant_dims = {"tenant": self.tenants}
        self.family(catalog["messages_sent"], {**tenant_dims, "user_type": USER_TYPES}, sent_total)
        self.family(catalog["messages_delivered"], tenant_dims, delivered)
        self.family(
            catalog["delivery_failures"], {**tenant_dims, "reason": FAILURE_REASONS}, failed_total
        )
        busy = total_rate / (PEAK_USERS * MESSAGES_PER_USER)
        processing = PROCESSING_MEDIAN * (1 + 0.4 * busy) * fx.slow
        load = _Load(rates[:, 0].sum(axis=0), total_rate, processing)
        self._message_latency(catalog, sent.sum(axis=(0, 1)), delivered.sum(axis=0), load)
        return load

    def _message_latency(self, catalog, sent, delivered, load: _Load) -> None:
        fx = self.fx
        processing, spread = load.processing, 0.7 + fx.spread
        self.histogram(catalog["processing_duration"], {}, sent, processing, spread)
        # End to end = network + mean processing time + time queued behind a backlog.
        e2e = E2E_NETWORK_MEDIAN + processing * np.exp(spread**2 / 2) + fx.lag
        arrived = self.increments(delivered).astype(np.int64)
        self.histogram(catalog["e2e_latency"], {}, arrived, e2e, 0.55 + fx.spread)

    def _broadcasts(self, catalog, load: _Load) -> None:
        spec = catalog["broadcast_duration"]
        for size, share, median in zip(GROUP_SIZES, GROUP_SHARES, GROUP_MEDIANS, strict=True):
            count = self.rng.poisson(load.user_messages * share * self.span)
            scale = median * np.sqrt(load.processing / PROCESSING_MEDIAN)
            noise = 0.04 if size != "large" else 0.08  # fewer big groups, noisier quantiles
            self.summary(spec, {"group_size": size}, count, scale, 0.5, noise)

    def _status_sync(self, catalog, users, handshakes) -> None:
        spec = catalog["status_sync_duration"]
        count = self.rng.poisson(users.sum(axis=0) * 0.004 * self.span + handshakes)
        self.summary(spec, {}, count, 0.003 * np.sqrt(self.fx.slow), 0.6, 0.05)

    def _queue(self, catalog, load: _Load) -> None:
        rng, fx = self.rng, self.fx
        pending = rng.poisson(load.messages * load.processing * 2 + 2)
        pending = pending + np.rint(fx.lag * load.messages)
        self.family(catalog["mq_pending"], {}, pending)
        lag = 0.04 * np.exp(self.noise("5min", 0.3)) + load.processing + fx.lag
        self.family(catalog["mq_consumer_lag"], {}, lag)

    def _api(self, catalog, users, load: _Load, handshakes) -> np.ndarray:
        drivers = {
            "messages": load.user_messages,
            "users": users.sum(axis=0),
            "handshakes": handshakes / self.span,
        }
        counts = np.zeros((len(API_PATHS), len(API_STATUSES), self.n))
        for j, path in enumerate(API_PATHS):
            driver, per_unit, client_errors, median = API_SHARES[path]
            total = self.rng.poisson(drivers[driver] * per_unit * self.span)
            errors = self.fx.errors[j]
            server = self.rng.binomial(total, np.clip(API_5XX_P + errors, 0, 1))
            client = self.rng.binomial(total - server, client_errors)
            counts[j] = [total - server - client, client, server]
            slow = (1 + 2 * (errors > 0)) * (np.sqrt(self.fx.slow) if j == 0 else 1)
            self.histogram(
                catalog["api_request_duration"], {"path": path}, total, median * slow, 0.6
            )
        dims = {"path": API_PATHS, "status": API_STATUSES}
        self.family(catalog["api_requests"], dims, self.counter(counts))
        return counts.sum(axis=(0, 1)) / self.span

    def _runtime(self, catalog, connections, load: _Load, api_rate) -> None:
        rng, fx = self.rng, self.fx
        # Two goroutines per connection (read and write pumps) plus request handlers.
        busy = rng.poisson(5 + 0.3 * load.messages + 0.5 * api_rate)
        goroutines = 2 * connections + 180 + busy + np.rint(fx.leak)
        self.family(catalog["goroutines"], {}, goroutines)
        live = 45e6 + 24e3 * connections + 9e3 * fx.leak
        heap = np.rint(live * (1 + rng.uniform(0, 0.9, self.n)))  # anywhere in a GC cycle
        self.family(catalog["heap_alloc"], {}, heap)
        cycles = rng.poisson((0.02 + load.messages / 250) * self.span)
        pause = 60e-6 * (live / 150e6) ** 0.3
        self.summary(catalog["gc_pause"], {}, cycles, pause, 0.5, 0.1)


class _Load(NamedTuple):
    user_messages: np.ndarray  # messages per second from people
    messages: np.ndarray  # all messages per second
    processing: np.ndarray  # median processing seconds


def _cumulative_draw(rng, count, cdf) -> np.ndarray:
    """Per slot, how many of `count` observations fall at or below each bucket bound."""
    out = np.empty(cdf.shape, dtype=np.int64)
    done = np.zeros(cdf.shape[1], dtype=np.int64)
    below = np.zeros(cdf.shape[1])
    for j, row in enumerate(cdf):
        # Conditional binomials: the share of the still-unplaced observations in this bucket.
        rest = 1 - below
        p = np.divide(row - below, rest, out=np.ones_like(rest), where=rest > 1e-12)
        done = done + rng.binomial(count - done, np.clip(p, 0, 1))
        out[j], below = done, row
    return out


def _combos(dims: dict[str, Sequence[str]]) -> list[dict[str, str]]:
    combos: list[dict[str, str]] = [{}]
    for label, values in dims.items():
        combos = [{**c, label: v} for c in combos for v in values]
    return combos


def _check_coverage(catalog, series: list[Series]) -> None:
    """Refuse a catalog metric the simulator does not produce."""
    emitted = {s.name for s in series}
    missing = [spec.key for spec in catalog if not set(spec.series_names()) <= emitted]
    if missing:
        raise RuntimeError(f"the simulator produces no series for catalog metrics {missing}")


def _check_labels(spec: MetricSpec, dims: dict) -> None:
    if tuple(dims) != spec.labels:
        raise RuntimeError(
            f"catalog metric {spec.key} has labels {spec.labels}, "
            f"the simulator produces {tuple(dims)}"
        )


def go_float(x: float) -> str:
    """Format like Go's strconv.FormatFloat(x, 'g', -1, 64), as client_golang does for le."""
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if x == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(float(x))).normalize().as_tuple()
    text = "".join(map(str, digits))
    power = len(text) + exponent - 1
    if -4 <= power < 6:
        body = format(Decimal(repr(abs(float(x)))).normalize(), "f")
    else:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        body = f"{mantissa}e{'-' if power < 0 else '+'}{abs(power):02d}"
    return ("-" if sign else "") + body
