"""Fitting SeasonalProfile baselines for a fleet of 100,000 series with dask.distributed.

Each task makes (stands in for pulling) one shard of series, fits one multi-series
`SeasonalProfile` on it and keeps the fitted model on its worker; only a few numbers come
back. The same run first fits a few shards in this process, one after the other, so the
table compares both on one machine under the same load.

Data: synthetic SLI-like series (daily rhythm, weekend dip, growth, noise) at 5 m.
``--address tcp://scheduler:8786`` runs the same code on a real cluster instead of a
LocalCluster of ``--workers`` single-threaded workers.

Needs the ``fleet`` extra: ``.venv/bin/pip install 'imanalytics[fleet]'`` (dask, distributed).
Run: ``.venv/bin/python bench/bench_fleet.py [--series 100000] [--shard 2500] [--days 7]``.
Not a test.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_baselines  # noqa: E402
import cloudpickle  # noqa: E402
from bench_baselines import synthetic  # noqa: E402

from imanalytics.baselines import SeasonalProfile  # noqa: E402

# Workers get the data maker by value: they need not find the bench folder.
cloudpickle.register_pickle_by_value(bench_baselines)


def shard(index: int, size: int, days: int) -> pd.DataFrame:
    """Series ``index * size ...`` of the synthetic fleet, the same wherever it is made."""
    frame = synthetic(size, seed=index, points=days * 288)
    frame.columns = [f"s{index * size + i}" for i in range(size)]
    return frame


def fit_shard(index: int, size: int, days: int) -> dict:
    """Make and fit one shard; the model stays here, its size and timing go back."""
    began = time.perf_counter()
    frame = shard(index, size, days)
    made = time.perf_counter()
    model = SeasonalProfile(season="day", history=f"{days}d").fit(frame)
    done = time.perf_counter()
    state = sum(np.asarray(getattr(model, name)).nbytes
                for name in ("profile_", "spread_", "level_", "slope_"))
    return {"series": size, "make_s": made - began, "fit_s": done - made, "state_bytes": state}


def serial(shards: int, size: int, days: int) -> tuple[float, int]:
    began = time.perf_counter()
    for i in range(shards):
        fit_shard(i, size, days)
    return time.perf_counter() - began, shards * size


def distributed_fit(address: str | None, workers: int, shards: int, size: int,
                    days: int) -> tuple[float, list[dict], str]:
    from dask.distributed import Client, LocalCluster, as_completed
    from tqdm import tqdm

    cluster = None if address else LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
        memory_limit="6GiB")
    with Client(address or cluster) as client:
        where = address or f"LocalCluster({workers} workers x 1 thread)"
        client.run(lambda: None)  # workers up before the clock starts
        began = time.perf_counter()
        futures = [client.submit(fit_shard, i, size, days, pure=False) for i in range(shards)]
        results = [f.result() for f in tqdm(as_completed(futures), total=shards,
                                            desc="fit", unit="shard")]
        seconds = time.perf_counter() - began
    if cluster is not None:
        cluster.close()
    return seconds, results, where


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, default=100_000)
    parser.add_argument("--shard", type=int, default=2500, help="series per task")
    parser.add_argument("--days", type=int, default=7, help="history per series")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--serial-shards", type=int, default=4,
                        help="shards fitted in this process first, for comparison")
    parser.add_argument("--address", help="a dask scheduler (default: a LocalCluster)")
    args = parser.parse_args()
    shards = -(-args.series // args.shard)
    serial_s, serial_n = serial(args.serial_shards, args.shard, args.days)
    dist_s, results, where = distributed_fit(args.address, args.workers, shards, args.shard,
                                             args.days)
    fitted = sum(r["series"] for r in results)
    state = sum(r["state_bytes"] for r in results)
    fit_cpu = sum(r["fit_s"] for r in results)
    make_cpu = sum(r["make_s"] for r in results)
    rows = [
        ("in-process, one after another", serial_n, serial_s, serial_n / serial_s),
        (where, fitted, dist_s, fitted / dist_s),
    ]
    print(f"\nSeasonalProfile(season='day') fits, {args.days} days at 5m "
          f"({args.days * 288} points) per series, shards of {args.shard}")
    print(f"{'how':<40} {'series':>8} {'wall s':>8} {'series/s':>9}")
    for how, n, s, rate in rows:
        print(f"{how:<40} {n:>8,} {s:>8.1f} {rate:>9,.0f}")
    print(f"\nspeed-up over in-process: {rows[1][3] / rows[0][3]:.2f}x; task CPU: "
          f"fit {fit_cpu:.1f} s, data {make_cpu:.1f} s; fitted state kept on the workers: "
          f"{state / 2**20:,.0f} MiB ({state / fitted:,.0f} B/series)")


if __name__ == "__main__":
    main()
