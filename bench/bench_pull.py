"""Speed and peak memory of a range pull: PromSource vs prometheus-api-client vs the floor.

Pulls 100 series x 11,000 points (1.1 M samples) at a 15 s step from a sandbox Prometheus:

- ``api-client``: ``MetricRangeDataFrame(prom.custom_query_range(...))``, one request;
- ``api-client-raw``: the same with ``Accept-Encoding: identity``, as PromSource asks on
  loopback (Prometheus spends seconds gzipping 30 MB): the comparison without that edge;
- ``PromSource``: ``PromSource(url).range(...)`` into a wide frame;
- ``floor``: PromSource's exact HTTP requests (same chunks, same thread pool, same headers),
  each reply read whole and given to a plain ``json.loads`` (with the GC paused, its fastest
  form), and no arrays or frame built. PromSource itself parses replies as they stream in
  and never parses the sample lists as JSON objects (see `source.stream`), which is how it
  can come in under this floor.

Each measurement runs in a fresh subprocess and reads ``ru_maxrss``: tracemalloc sees only
allocations made through Python's allocator and misses what C code (JSON parsers, numpy,
Arrow, the socket buffers) takes from malloc directly, while the resident-set peak counts
everything the process really needed. The import baseline is read before the pull, so the
table shows both the process peak and the pull's increment over the baseline. Sides run
interleaved, several repetitions each; the table shows medians.

The fan-out table (``--table fanout``) pulls 120, 1,080, 3,240 and 9,720 series x 1 day at
1 m (1,441 points each) from one sandbox and compares, in the same run, ``PromSource.range``
with the server's own ``query_range`` answered without gzip and read by ``json.loads``
(``server+json``): the time ratio at each size, the growth exponent of time against samples
(least squares on log-log), and each side's pull memory (RSS increment, a subprocess per
measurement) against the finished frame's size. Each side first pulls one minute of the
same expression, so first-use costs (lazy imports, thread pool, connection) stay out of
both measurements.

The raw table (``--table raw``) pulls the same 1.1 M samples with ``PromSource.raw`` twice
in one run: replies streamed into per-series arrays (as shipped), and each reply read whole
and parsed at once (`frames.parse_reply`); pull memory against the result's arrays.

The re-spaced table (``--table spaced``) takes the pull table's reply (one request, 1.1 M
samples, as Prometheus writes it), re-spaces it as a proxy would (``json.dumps`` defaults;
``indent=1``) and parses each form from memory into a range canvas: streamed in 64 KiB
reads (as shipped), and, for the re-spaced forms, read whole by `frames.parse_reply` (how
they were read before they streamed). Pull memory is the peak over the reply's bytes, which
are loaded before it.

Run: ``.venv/bin/python bench/bench_pull.py [--reps 5] [--table pull|fanout|raw|spaced|both]``.
Not a test.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SERIES = 100
POINTS = 11_000
STEP_S = 15
START_S = 1_700_000_000
END_S = START_S + (POINTS - 1) * STEP_S
EXPR = "bench_metric"
SIDES = ("api-client", "api-client-raw", "PromSource", "floor")
FANOUT = (120, 1_080, 3_240, 9_720)
FAN_POINTS = 1_441
FAN_EXPR = "fan_metric"
FAN_SIDES = ("PromSource", "server+json")
RAW_SIDES = ("raw streamed", "raw whole")
SPACED_FORMS = {"compact": None, "spaced": {}, "indent=1": {"indent": 1}}
SPACED_SIDES = ("compact streamed", "spaced streamed", "indent=1 streamed", "spaced whole",
                "indent=1 whole")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--table", choices=("pull", "fanout", "raw", "spaced", "both"),
                        default="both")
    parser.add_argument("--side", choices=SIDES + FAN_SIDES + RAW_SIDES + SPACED_SIDES,
                        help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--series", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        print(json.dumps(measure(args.side, args.url, args.series)))
        return
    if args.table in ("pull", "both"):
        run_all(args.reps)
    if args.table in ("fanout", "both"):
        run_fanout(args.reps)
    if args.table == "raw":
        run_raw(args.reps)
    if args.table == "spaced":
        run_spaced(args.reps)


def run_all(reps: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from imanalytics.sandbox import PrometheusSandbox

    print(f"backfilling {SERIES} series x {POINTS:,} points ...", file=sys.stderr)
    with PrometheusSandbox(workload()) as prom:
        run_side("PromSource", prom.url)  # warm the server's page cache and block index
        results: dict[str, list[dict]] = {side: [] for side in SIDES}
        for rep in range(reps):
            # Rotate the order: a side run right after the api-client meets a server still
            # busy collecting the garbage of its big gzip reply.
            for side in SIDES[rep % len(SIDES):] + SIDES[:rep % len(SIDES)]:
                results[side].append(run_side(side, prom.url))
            print(f"repetition {rep + 1}/{reps} done", file=sys.stderr)
    print_table(results, reps)


def workload():
    from imanalytics.samples import Series

    rng = np.random.default_rng(7)
    t = (START_S + STEP_S * np.arange(POINTS, dtype=np.int64)) * 1000
    out = []
    for i in range(SERIES):
        # Half counters (integers), half gauges at full float64 precision (the slow case).
        if i % 2:
            v = np.cumsum(rng.integers(0, 50, POINTS)).astype(np.float64)
        else:
            v = rng.gamma(2.0, 150.0, POINTS)
        labels = {"__name__": EXPR, "instance": f"im-{i // 10}", "shard": str(i % 10)}
        out.append(Series(labels, t, v))
    return out


def run_side(side: str, url: str, series: int | None = None) -> dict:
    extra = ["--series", str(series)] if series else []
    done = subprocess.run([sys.executable, __file__, "--side", side, "--url", url, *extra],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def measure(side: str, url: str, series: int | None = None) -> dict:
    """Import everything, note the RSS peak, pull once, note the time and the new peak."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    if series:
        run = {"PromSource": fan_source, "server+json": fan_server}[side](url, series)
    elif side in SPACED_SIDES:
        run = parse_form(url, *side.split())
    else:
        run = {"api-client": pull_api_client, "api-client-raw": pull_api_client_raw,
               "PromSource": pull_source, "floor": pull_floor,
               "raw streamed": pull_raw, "raw whole": pull_raw_whole}[side](url)
    before = peak_mb()
    resident = reset_peak()
    began = time.perf_counter()
    size = run()
    seconds = time.perf_counter() - began
    pull_peak = status_mb("VmHWM")
    if isinstance(size, list):  # raw series: their arrays
        size = sum(s.t.nbytes + s.v.nbytes for s in size) / 2**20
    elif not isinstance(size, int):  # a frame: its size is measured after the pull's peak
        size = size.memory_usage(deep=True).sum() / 2**20
    return {"seconds": seconds, "peak_mb": peak_mb(), "baseline_mb": before, "size": size,
            "rss_mb": resident, "pull_peak_mb": pull_peak}


def pull_api_client_raw(url: str):
    return pull_api_client(url, headers={"Accept-Encoding": "identity"})


def pull_api_client(url: str, headers: dict | None = None):
    from datetime import UTC, datetime

    from prometheus_api_client import MetricRangeDataFrame, PrometheusConnect

    prom = PrometheusConnect(url=url, disable_ssl=True, headers=headers)
    start, end = (datetime.fromtimestamp(s, UTC) for s in (START_S, END_S))

    def run():
        frame = MetricRangeDataFrame(prom.custom_query_range(EXPR, start, end, f"{STEP_S}s"))
        return len(frame)
    return run


def pull_source(url: str):
    from imanalytics.source import PromSource

    source = PromSource(url, progress=False)

    def run():
        frame = source.range(EXPR, START_S, END_S, f"{STEP_S}s")
        return int(frame.notna().to_numpy().sum())
    return run


def pull_floor(url: str):
    from imanalytics.source import PromSource, canvas, chunking, http

    # Same requests, same pool, every reply read whole and through json.loads; no arrays,
    # no frame.
    read_body = http.read_body
    http.read_body = lambda reply, overdue, sink=None: read_body(reply, overdue)
    http.parse_reply = json.loads
    chunking._result = lambda data, expr, *kinds: (data["resultType"], data["result"])
    canvas.Canvas.place = lambda self, result, chunk: None
    canvas.Canvas.frame = lambda self: None
    source = PromSource(url, progress=False)

    def run():
        source.range(EXPR, START_S, END_S, f"{STEP_S}s")
        return 0
    return run


def run_raw(reps: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from imanalytics.sandbox import PrometheusSandbox

    print(f"backfilling {SERIES} series x {POINTS:,} points ...", file=sys.stderr)
    with PrometheusSandbox(workload()) as prom:
        run_side("raw streamed", prom.url)  # warm the server's caches
        results = {side: [] for side in RAW_SIDES}
        for rep in range(reps):
            for side in RAW_SIDES[rep % 2:] + RAW_SIDES[:rep % 2]:
                results[side].append(run_side(side, prom.url))
    print(f"\nraw: {SERIES} series x {POINTS:,} samples; medians of {reps} runs, one fresh "
          "process per run\n")
    print(f"{'side':<14}{'seconds':>8}{'pull MB':>9}{'result MB':>11}{'pull/result':>13}")
    for side, runs in results.items():
        m = {k: statistics.median(r[k] for r in runs)
             for k in ("seconds", "pull_peak_mb", "rss_mb", "size")}
        pull = m["pull_peak_mb"] - m["rss_mb"]
        print(f"{side:<14}{m['seconds']:>8.3f}{pull:>9.0f}{m['size']:>11.0f}"
              f"{pull / m['size']:>12.2f}x")


def pull_raw(url: str):
    from imanalytics.source import PromSource

    source = PromSource(url, progress=False)
    source.raw(EXPR, START_S, START_S + 60)  # warm-up: lazy imports, pool, version

    def run():
        got = source.raw(EXPR, START_S, END_S)
        assert sum(len(s.t) for s in got) == SERIES * POINTS
        return got
    return run


def pull_raw_whole(url: str):
    from imanalytics.source import http

    read_body = http.read_body
    http.read_body = lambda reply, overdue, sink=None: read_body(reply, overdue)
    return pull_raw(url)


def reset_peak() -> float:
    """Reset the kernel's peak-RSS mark (VmHWM) to the resident set now, and return that.

    ru_maxrss cannot be reset, and the import of pandas and pyarrow peaks above what stays
    resident, which would hide a small pull under the imports' peak.
    """
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    return status_mb("VmRSS")


def status_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        line = next(x for x in status if x.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def print_table(results: dict[str, list[dict]], reps: int) -> None:
    med = {side: {k: statistics.median(r[k] for r in runs) for k in ("seconds", "peak_mb",
                                                                       "baseline_mb")}
           for side, runs in results.items()}
    for m in med.values():
        m["pull_mb"] = m["peak_mb"] - m["baseline_mb"]
    print(f"\n{SERIES} series x {POINTS:,} points = {SERIES * POINTS:,} samples; "
          f"medians of {reps} runs, one fresh process per run\n")
    print(f"{'side':<15}{'seconds':>8}{'peak MB':>9}{'pull MB':>9}{'faster':>8}"
          f"{'peak smaller':>14}{'pull smaller':>14}{'vs floor':>10}")
    base, floor = med["api-client"], med["floor"]
    for side in SIDES:
        m = med[side]
        print(f"{side:<15}{m['seconds']:>8.3f}{m['peak_mb']:>9.0f}{m['pull_mb']:>9.0f}"
              f"{base['seconds'] / m['seconds']:>7.1f}x{base['peak_mb'] / m['peak_mb']:>13.1f}x"
              f"{base['pull_mb'] / m['pull_mb']:>13.1f}x{m['seconds'] / floor['seconds']:>9.2f}x")
    print("\nfaster / smaller: relative to api-client; peak = process peak RSS; pull = peak RSS "
          "minus the RSS after imports")

# -- fan-out ------------------------------------------------------------------------------

def run_fanout(reps: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from imanalytics.sandbox import PrometheusSandbox

    print(f"backfilling {FANOUT[-1]:,} series x {FAN_POINTS:,} points ...", file=sys.stderr)
    with PrometheusSandbox(fan_workload()) as prom:
        results = {(n, side): [] for n in FANOUT for side in FAN_SIDES}
        for n in FANOUT:
            run_side("server+json", prom.url, n)  # warm the server's caches for this size
            for rep in range(reps):
                for side in FAN_SIDES[rep % 2:] + FAN_SIDES[:rep % 2]:
                    results[n, side].append(run_side(side, prom.url, n))
            print(f"{n:,} series done", file=sys.stderr)
    print_fanout(results, reps)


def fan_workload():
    """`FANOUT[-1]` series, each tagged with the smallest fan-out size that includes it."""
    from imanalytics.samples import Series

    rng = np.random.default_rng(11)
    t = (START_S + 60 * np.arange(FAN_POINTS, dtype=np.int64)) * 1000
    for i in range(FANOUT[-1]):
        size = next(k for k, n in enumerate(FANOUT) if i < n)
        labels = {"__name__": FAN_EXPR, "job": "im-server", "instance": f"im-{i // 30}",
                  "shard": str(i % 30), "size": str(size)}
        yield Series(labels, t, np.round(rng.gamma(2.0, 150.0, FAN_POINTS), 3))


def fan_expr(series: int) -> str:
    sizes = "|".join(str(k) for k, n in enumerate(FANOUT) if n <= series)
    return f'{FAN_EXPR}{{size=~"{sizes}"}}'


def fan_source(url: str, series: int):
    from imanalytics.source import PromSource

    source = PromSource(url, progress=False)
    source.range(fan_expr(series), START_S, START_S + 60, "60s")  # warm-up: lazy imports, pool

    def run():
        frame = source.range(fan_expr(series), START_S, START_S + 86_400, "60s")
        assert frame.shape == (FAN_POINTS, series), frame.shape
        return frame
    return run


def fan_server(url: str, series: int):
    import requests

    session = requests.Session()
    params = {"query": fan_expr(series), "start": START_S, "end": START_S + 86_400, "step": 60}
    session.get(f"{url}/api/v1/query_range", params={**params, "end": START_S + 60},
                headers={"Accept-Encoding": "identity"}, timeout=600)  # the same warm-up

    def run():
        reply = session.get(f"{url}/api/v1/query_range", params=params,
                            headers={"Accept-Encoding": "identity"}, timeout=600)
        result = json.loads(reply.content)["data"]["result"]
        assert len(result) == series
        return 0
    return run


def print_fanout(results: dict, reps: int) -> None:
    med = {key: {k: statistics.median(r[k] for r in runs) for k in ("seconds", "peak_mb",
                                                                      "rss_mb", "size",
                                                                      "pull_peak_mb")}
           for key, runs in results.items()}
    print(f"\nfan-out: series x {FAN_POINTS:,} points (1 day @1m); medians of {reps} runs, "
          "one fresh process per run\n")
    print(f"{'series':>7}{'samples':>12}{'PromSource s':>14}{'server+json s':>15}{'ratio':>7}"
          f"{'pull MB':>9}{'frame MB':>10}{'pull/frame':>12}{'server MB':>11}")
    for n in FANOUT:
        ours, theirs = med[n, "PromSource"], med[n, "server+json"]
        pull = ours["pull_peak_mb"] - ours["rss_mb"]
        print(f"{n:>7,}{n * FAN_POINTS:>12,}{ours['seconds']:>14.2f}{theirs['seconds']:>15.2f}"
              f"{ours['seconds'] / theirs['seconds']:>6.2f}x{pull:>9.0f}{ours['size']:>10.0f}"
              f"{pull / ours['size']:>11.2f}x{theirs['pull_peak_mb'] - theirs['rss_mb']:>11.0f}")
    samples = np.log([n * FAN_POINTS for n in FANOUT])
    for side in FAN_SIDES:
        slope = np.polyfit(samples, np.log([med[n, side]["seconds"] for n in FANOUT]), 1)[0]
        print(f"growth exponent of time vs samples, {side}: {slope:.2f}")
    print("ratio = PromSource / server+json time; pull MB = peak RSS during the pull "
          "(VmHWM, reset before it) minus the RSS before it; frame MB = the frame's memory")

# -- re-spaced replies --------------------------------------------------------------------

def run_spaced(reps: int) -> None:
    import tempfile

    import requests

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from imanalytics.sandbox import PrometheusSandbox

    print(f"backfilling {SERIES} series x {POINTS:,} points ...", file=sys.stderr)
    with PrometheusSandbox(workload()) as prom:
        body = requests.get(f"{prom.url}/api/v1/query_range", timeout=600,
                            headers={"Accept-Encoding": "identity"},
                            params={"query": EXPR, "start": START_S, "end": END_S,
                                    "step": STEP_S}).content
    with tempfile.TemporaryDirectory() as tmp:
        sizes = {}
        for form, options in SPACED_FORMS.items():
            text = body if options is None else json.dumps(json.loads(body), **options).encode()
            Path(tmp, form).write_bytes(text)
            sizes[form] = len(text) / 2**20
        del body
        results = {side: [] for side in SPACED_SIDES}
        for rep in range(reps):
            order = SPACED_SIDES[rep % len(SPACED_SIDES):] + SPACED_SIDES[:rep % len(SPACED_SIDES)]
            for side in order:
                results[side].append(run_side(side, tmp))
    print(f"\nre-spaced replies: one reply of {SERIES} series x {POINTS:,} points parsed from "
          f"memory into a range canvas; medians of {reps} runs, one fresh process per run\n")
    print(f"{'reply':<11}{'reply MB':>9}{'read':>10}{'seconds':>9}{'pull MB':>9}{'frame MB':>10}")
    for side in SPACED_SIDES:
        form, how = side.split()
        m = {k: statistics.median(r[k] for r in results[side])
             for k in ("seconds", "pull_peak_mb", "rss_mb", "size")}
        print(f"{form:<11}{sizes[form]:>9.0f}{how:>10}{m['seconds']:>9.3f}"
              f"{m['pull_peak_mb'] - m['rss_mb']:>9.0f}{m['size']:>10.0f}")


def parse_form(directory: str, form: str, how: str):
    from imanalytics.frames import Grid, parse_reply
    from imanalytics.source.canvas import Canvas
    from imanalytics.source.stream import MatrixStream, block_size

    body = Path(directory, form).read_bytes()
    grid = Grid(START_S * 1000, STEP_S * 1000, POINTS)

    def run():
        canvas = Canvas(grid, width=SERIES)
        if how == "whole":
            canvas.place(parse_reply(body)["data"]["result"], grid)
        else:
            stream = MatrixStream(canvas.region(grid), block_size(SERIES * POINTS))
            view = memoryview(body)
            for at in range(0, len(body), 1 << 16):  # `read_body`'s reads
                stream.feed(view[at:at + (1 << 16)])
            stream.finish()
        assert len(canvas) == SERIES
        return canvas.frame()
    return run


if __name__ == "__main__":
    main()
