"""Subqueries over the simulated fleet: the local PromQL evaluator vs Prometheus.

Each expression is a subquery of the kind alert rules use (a maximum over the last hour of
every series, SLO-style ratios averaged over an hour, a rate smoothed over 30 minutes),
evaluated over the whole simulated span on one step grid, by the sandbox server's
``/api/v1/query_range`` (cut into queries of at most 11,000 points, as in
``bench_promql.py``) and by one local ``evaluate`` call. Both sides must return the same
number of series. Each measurement repeats ``--reps`` times, server and local interleaved;
the table shows medians and the load average (other processes on a shared machine slow both
sides). Run: ``.venv/bin/python bench/bench_promql_subqueries.py [--instances 6 --days 28]``.
Not a test.
"""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_promql import _grid, fleet_arguments, local_side, log, server_side  # noqa: E402

from imanalytics.promql.timegrid import duration_ms  # noqa: E402
from imanalytics.sandbox import PrometheusSandbox  # noqa: E402
from imanalytics.sandbox.workload import simulate  # noqa: E402

EXPRESSIONS = [
    'max_over_time(label_replace({__name__=~".+"}, "metric", "$1", "__name__", "(.+)")'
    '[1h:1m])',
    'avg_over_time(label_replace(rate({__name__=~".+_total"}[5m]), "metric", "$1", '
    '"__name__", "(.+)")[30m:1m])',
    "max_over_time((sum by (job) (rate(im_api_request_duration_seconds_count[5m])) / "
    "sum by (job) (rate(im_messages_sent_total[5m])))[1h:1m])",
    "min_over_time(deriv(im_connections_count[10m])[1h:5m])",
]


def main() -> None:
    args = fleet_arguments(__doc__.splitlines()[0])
    workload = simulate(args.instances, args.days, args.seed, args.end)
    grid = _grid(workload, duration_ms(args.step))
    log(f"simulated {workload!r}; backfilling ...")
    times: dict[tuple[str, str], list[float]] = {}
    with PrometheusSandbox(workload.series) as prom:
        load = os.getloadavg()[0]
        for rep in range(args.reps):
            for expr in EXPRESSIONS:
                served, _, server_counts = server_side(prom.url, [expr], grid)
                local, _, local_counts = local_side([expr], workload.series, grid, batch=False)
                if server_counts != local_counts:
                    raise RuntimeError(f"{expr}: server {server_counts} series, local "
                                       f"{local_counts}")
                times.setdefault(("server", expr), []).append(served)
                times.setdefault(("local", expr), []).append(local)
            log(f"repetition {rep + 1}/{args.reps} done")
        load = (load, os.getloadavg()[0])
    report(args, workload, grid, times, load)


def report(args, workload, grid, times, load) -> None:
    points = (grid[1] - grid[0]) // grid[2] + 1
    print(f"Fleet: {args.instances} instances x {args.days:g} days, {len(workload.series)} "
          f"series; step {args.step}, {points:,} steps; medians of {args.reps} runs. Load "
          f"average (1 min) before / after: {load[0]:.1f} / {load[1]:.1f} on "
          f"{os.cpu_count()} CPUs.\n")
    print("| subquery | Prometheus s | `evaluate` s | local / Prometheus |")
    print("| --- | ---: | ---: | ---: |")
    for expr in EXPRESSIONS:
        server = statistics.median(times[("server", expr)])
        local = statistics.median(times[("local", expr)])
        shown = expr.replace("|", "\\|")
        print(f"| `{shown}` | {server:.2f} | {local:.2f} | {local / server:.2f} |")


if __name__ == "__main__":
    main()
