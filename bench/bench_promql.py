"""Recording rules over the simulated fleet: the local PromQL evaluator vs Prometheus.

Every generated recording rule, inlined to raw data (what the rule computes), is evaluated
over the whole simulated span (default 6 instances x 28 days, 15 s scrapes) on one step grid:

- ``Prometheus``: the sandbox server's ``/api/v1/query_range``, one rule after the other, each
  cut into queries of at most 11,000 points (the server's limit per series), requested in
  sequence (one query engine each side; the local evaluator is single-threaded too), with
  ``Accept-Encoding: identity`` and the JSON replies decoded. That is the floor of any client:
  building frames from the replies would only add to it.
- ``evaluate``: the local evaluator, one ``evaluate`` call per rule over the whole span
  (no chunks: it has no point limit), each returning a wide pandas frame.
- ``evaluate_many``: the local evaluator, one ``evaluate_many`` call per rule kind, so rules
  of a kind share selections, window bounds and repeated subexpressions (p50/p90/p99 over the
  same bucket rates). A last row runs every rule in one batch, as a tuning review would.

The step defaults to 1m, Prometheus' default ``evaluation_interval`` and the usual one for
5m-window recording rules (``--step 15s`` evaluates at the scrape interval, 4x the points).
Local runs get fresh `Series` objects over the same arrays, so nothing derived from the
samples is carried over from an earlier repetition. Local peak RSS is the process's
resident high-water mark (``VmHWM``, reset through ``/proc/self/clear_refs`` before each
measurement), which counts what numpy and pandas take from malloc as well; the resident
size with the data loaded is printed above the table.

Each measurement repeats ``--reps`` times, server and local interleaved; the table shows
medians. Both sides must return the same number of series for every rule (else the run
stops), so they did the same work. The load average is printed: on a shared machine other
processes slow both sides. Simulation and backfill times are printed apart: they are not part of the
comparison. Run: ``.venv/bin/python bench/bench_promql.py [--instances 6 --days 28]``.
Not a test.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imanalytics.promql import evaluate, evaluate_many  # noqa: E402
from imanalytics.promql.timegrid import duration_ms  # noqa: E402
from imanalytics.rules import inline, recording_rules  # noqa: E402
from imanalytics.samples import Series  # noqa: E402
from imanalytics.sandbox import PrometheusSandbox  # noqa: E402
from imanalytics.sandbox.workload import simulate  # noqa: E402

MAX_POINTS = 11_000
KINDS = ("counter rates", "histogram quantiles", "ratios", "gauges")
ALL = "all rules, one batch"


def fleet_arguments(description: str) -> argparse.Namespace:
    """The simulated fleet, grid and repetitions, as every PromQL bench takes them."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--instances", type=int, default=6)
    parser.add_argument("--days", type=float, default=28)
    parser.add_argument("--step", default="1m")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--end", default="2026-03-02T00:00:00Z")
    return parser.parse_args()


def main() -> None:
    run(fleet_arguments(__doc__.splitlines()[0]))


def run(args) -> None:
    started = time.perf_counter()
    workload = simulate(args.instances, args.days, args.seed, args.end)
    simulated = time.perf_counter() - started
    step_ms = duration_ms(args.step)
    grid = _grid(workload, step_ms)
    kinds = rule_kinds()
    log(f"simulated {workload!r} in {simulated:.1f} s; backfilling ...")
    started = time.perf_counter()
    with PrometheusSandbox(workload.series) as prom:
        backfilled = time.perf_counter() - started
        log(f"backfill and start: {backfilled:.1f} s")
        baseline = resident_bytes()
        load = os.getloadavg()[0]
        times = measure(prom.url, workload.series, kinds, grid, args.reps)
        load = (load, os.getloadavg()[0])
    print_report(args, workload, grid, kinds, times, simulated, backfilled, baseline, load)


def _grid(workload, step_ms: int) -> tuple[int, int, int]:
    start = workload.start.value // 1_000_000
    end = workload.end.value // 1_000_000
    start += -start % step_ms  # aligned to the step, as Grafana and rule evaluation align
    return start, end - end % step_ms, step_ms


def rule_kinds() -> dict[str, list[str]]:
    """Inlined expressions of every recording rule, by what the rule computes."""
    rules = recording_rules()
    kinds: dict[str, list[str]] = {kind: [] for kind in KINDS}
    for rule in rules:
        kinds[kind_of(rule.expr)].append(inline(rule.expr, rules))
    return kinds


def kind_of(expr: str) -> str:
    if "histogram_quantile(" in expr:
        return "histogram quantiles"
    if " / " in expr or "clamp_min(" in expr:
        return "ratios"  # ratios of recorded rates, means (sum / count), lost = sent - delivered
    return "counter rates" if "rate(" in expr else "gauges"


def measure(url: str, series: list[Series], kinds: dict[str, list[str]], grid,
            reps: int) -> dict[tuple[str, str], list[tuple[float, int]]]:
    """(side, kind) -> [(seconds, peak RSS bytes)] per repetition; checks that both sides
    return the same number of series for every rule, so they did the same work."""
    sides: dict[str, Callable] = {
        "server": lambda exprs: server_side(url, exprs, grid),
        "evaluate": lambda exprs: local_side(exprs, series, grid, batch=False),
        "evaluate_many": lambda exprs: local_side(exprs, series, grid, batch=True),
    }
    times: dict[tuple[str, str], list] = {}
    expected: dict[str, int] = {}
    everything = [e for exprs in kinds.values() for e in exprs]
    for rep in range(reps):
        for side, fn in sides.items():
            for kind, exprs in kinds.items():
                seconds, peak, counts = fn(exprs)
                _check_counts(side, kind, exprs, counts, expected)
                times.setdefault((side, kind), []).append((seconds, peak))
        seconds, peak, _ = sides["evaluate_many"](everything)
        times.setdefault(("evaluate_many", ALL), []).append((seconds, peak))
        log(f"repetition {rep + 1}/{reps} done")
    return times


def _check_counts(side, kind, exprs, counts, expected: dict[str, int]) -> None:
    for expr, count in zip(exprs, counts, strict=True):
        if expected.setdefault(expr, count) != count:
            raise RuntimeError(f"{side} returned {count} series for {expr}, "
                               f"the other side {expected[expr]}")


def server_side(url: str, exprs: list[str], grid) -> tuple[float, int, list[int]]:
    session = requests.Session()
    session.headers["Accept-Encoding"] = "identity"  # gzip on loopback only costs time
    replies = []
    started = time.perf_counter()
    for expr in exprs:
        replies.append([query_range(session, url, expr, s, e, grid[2]) for s, e in chunks(*grid)])
    seconds = time.perf_counter() - started
    counts = [len({_key(item["metric"]) for reply in parts for item in reply}) for parts in replies]
    return seconds, 0, counts


def _key(labels: dict) -> tuple:
    return tuple(sorted(labels.items()))


def chunks(start_ms: int, end_ms: int, step_ms: int) -> list[tuple[int, int]]:
    """Consecutive sub-ranges of the grid with at most MAX_POINTS steps each."""
    out, span = [], (MAX_POINTS - 1) * step_ms
    while start_ms <= end_ms:
        out.append((start_ms, min(start_ms + span, end_ms)))
        start_ms += span + step_ms
    return out


def query_range(session, url: str, expr: str, start: int, end: int, step: int) -> list:
    reply = session.get(f"{url}/api/v1/query_range", timeout=600, params={
        "query": expr, "start": start / 1000, "end": end / 1000, "step": step / 1000})
    body = json.loads(reply.content)
    if body.get("status") != "success":
        raise RuntimeError(f"{expr}: {body.get('error')}")
    return body["data"]["result"]


def local_side(exprs: list[str], series: list[Series], grid,
               batch: bool) -> tuple[float, int, list[int]]:
    fresh = [Series(s.labels, s.t, s.v) for s in series]
    start, end, step = (ms / 1000 for ms in grid)  # epoch seconds, as the HTTP API takes them
    gc.collect()
    reset_peak()
    started = time.perf_counter()
    if batch:
        counts = [len(f.columns) for f in evaluate_many(exprs, fresh, start, end, step)]
    else:
        counts = [len(evaluate(expr, fresh, start, end, step).columns) for expr in exprs]
    return time.perf_counter() - started, peak_bytes(), counts


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def resident_bytes() -> int:
    gc.collect()
    return _status("VmRSS")


def reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS


def peak_bytes() -> int:
    return _status("VmHWM")


def print_report(args, workload, grid, kinds, times, simulated, backfilled, baseline,
                 load) -> None:
    points = (grid[1] - grid[0]) // grid[2] + 1
    print(f"Fleet: {args.instances} instances x {args.days:g} days, "
          f"{len(workload.series)} series, {workload.n_samples / 1e6:.1f} M samples "
          f"(15 s scrapes); step {args.step}, {points:,} points per series per rule; "
          f"medians of {args.reps} runs.")
    print(f"Simulation {simulated:.1f} s, backfill + server start {backfilled:.1f} s "
          "(not compared). Process RSS with the data loaded: "
          f"{baseline / 2**30:.2f} GiB. Load average (1 min) before / after the runs: "
          f"{load[0]:.1f} / {load[1]:.1f} on {os.cpu_count()} CPUs.\n")
    print("| rule kind | rules | Prometheus s | `evaluate` s | speed-up | `evaluate_many` s "
          "| speed-up | local peak RSS GiB (`evaluate` / `_many`) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    rows = [(kind, len(kinds[kind])) for kind in KINDS]
    totals = {side: 0.0 for side in ("server", "evaluate", "evaluate_many")}
    for kind, count in rows:
        cells = {side: _median(times[(side, kind)]) for side in totals}
        for side, (seconds, _) in cells.items():
            totals[side] += seconds
        print(_row(kind, count, cells))
    server, single, many = totals["server"], totals["evaluate"], totals["evaluate_many"]
    count = sum(c for _, c in rows)
    print(f"| **total** | {count} | {_secs(server)} | {_secs(single)} | {_ratio(server, single)} "
          f"| {_secs(many)} | {_ratio(server, many)} | |")
    seconds, peak = _median(times[("evaluate_many", ALL)])
    print(f"| {ALL} | {count} | {_secs(server)} | | | {_secs(seconds)} | "
          f"{_ratio(server, seconds)} | {peak / 2**30:.2f} |")


def _row(kind: str, count: int, cells: dict) -> str:
    server, single, many = cells["server"][0], cells["evaluate"], cells["evaluate_many"]
    return (f"| {kind} | {count} | {_secs(server)} | {_secs(single[0])} | "
            f"{_ratio(server, single[0])} | {_secs(many[0])} | {_ratio(server, many[0])} | "
            f"{single[1] / 2**30:.2f} / {many[1] / 2**30:.2f} |")


def _secs(seconds: float) -> str:
    return f"{seconds:.2f}" if seconds < 10 else f"{seconds:.1f}"


def _median(runs: list[tuple[float, int]]) -> tuple[float, int]:
    return statistics.median(s for s, _ in runs), int(statistics.median(p for _, p in runs))


def _ratio(server: float, local: float) -> str:
    return f"{server / local:.1f}x" if local > 0 else "-"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
