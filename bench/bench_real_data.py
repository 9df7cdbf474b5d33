"""Detection quality of the default detector on real labelled data: NAB's scorer and rules.

Protocol (causal walk-forward, as on live data): in each file the probationary rows (the
first ``min(15 %, 750)``) are history only; after that `walk_forward` fits `auto()` on
every row seen so far and scores the next block of 5 % of the file, block by block, so no
row is scored by a model that saw it. The scores go through the default `AlertPolicy()`
at its documented threshold (0.5, never fitted on this data); each alert's firing time is
one detection. Scored with `imanalytics.baselines.nab` (standard, reward-low-FP and
reward-low-FN profiles), beside the published detectors' standard scores from the data
folder's ``reference_scores.csv`` (their thresholds were optimised on the whole NAB corpus).

Data: a NAB-layout folder, ``$IMANALYTICS_NAB_DIR`` or ``../shared/nab-tune`` beside the
repository; it is not part of the repository. Run:
``.venv/bin/python bench/bench_real_data.py [--jobs 2] [--shift 6h] [--sensitivity 3.5]``
(the options score a variant of `auto`'s choice instead of the default). Not a test.
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imanalytics.baselines import AlertPolicy, auto, choose, nab  # noqa: E402
from imanalytics.baselines.online import walk_forward  # noqa: E402

BLOCK_SHARE = 0.05
PUBLISHED = {"ARTime": "ARTime", "numenta": "Numenta HTM", "contextOSE": "CAD OSE",
             "knncad": "KNN CAD", "earthgeckoSkyline": "Skyline",
             "windowedGaussian": "Windowed Gaussian"}
OURS = "auto + AlertPolicy()"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=nab.data_root(),
                        help="NAB-layout data folder")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument("--shift", help="SeasonalProfile shift window for auto's choice")
    parser.add_argument("--sensitivity", type=float, help="band half-width in spreads")
    args = parser.parse_args()
    params = {k: v for k, v in (("shift", args.shift), ("sensitivity", args.sensitivity))
              if v is not None}
    if not (args.data / "windows.json").is_file():
        print(f"NAB data folder not found: {args.data} (set ${nab.ENV_VAR} or place it at "
              "../shared/nab-tune beside the repository); nothing measured", file=sys.stderr)
        return 1
    windows = nab.read_windows(args.data)
    files = sorted(windows)
    began = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        jobs = pool.map(functools.partial(detect, params=params), [args.data] * len(files),
                        files)
        detected = dict(zip(files, tqdm(jobs, total=len(files), desc="walk-forward",
                                        unit="file"), strict=True))
    elapsed = time.perf_counter() - began
    ours = {name: {f: nab.score_file(*detected[f], windows[f], profile) for f in files}
            for name, profile in nab.PROFILES.items()}
    reference = pd.read_csv(args.data / "reference_scores.csv")
    print_tables(files, ours, reference)
    print(f"\nwalk-forward scoring of {len(files)} files: {elapsed:.1f} s with {args.jobs} "
          "processes (wall clock, shared and loaded machine)")
    return 0


def detect(root: Path, name: str, params: dict):
    """Timestamps and detections (alert firing rows) of one file, walked forward."""
    series = nab.read_series(root / "data" / name)
    rows = len(series)
    fit = functools.partial(_variant, params=params) if params else auto
    scores = walk_forward(series, refit_every=max(1, math.ceil(BLOCK_SHARE * rows)),
                          warmup=nab.probation_rows(rows), fit=fit)
    events = AlertPolicy().alerts(scores)
    detected = np.zeros(rows, dtype=bool)
    # The first row at each firing time (a few files repeat timestamps).
    detected[series.index.searchsorted(pd.DatetimeIndex(events["start"]), side="left")] = True
    return series.index, detected


def _variant(history, params: dict):
    return choose(history).estimator().set_params(**params).fit(history)


def print_tables(files, ours, reference: pd.DataFrame) -> None:
    published = {d: {r.file: nab.FileScore(r.raw_standard_score, r.TP, r.FP, r.FN,
                                           ours["standard"][r.file].windows)
                     for r in reference[reference.detector == d].itertuples()}
                 for d in PUBLISHED if d in set(reference.detector)}
    groups = [("all 18 files", files)] + [
        (c, [f for f in files if nab.category(f) == c])
        for c in sorted({nab.category(f) for f in files})]
    print("NAB normalised scores (100 = every window at its start, 0 = no detections):\n")
    head = ["files", "windows", f"{OURS} standard", "low FP", "low FN",
            *(f"{PUBLISHED[d]} standard" for d in published)]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for label, group in groups:
        n = sum(ours["standard"][f].windows for f in group)
        cells = [label, str(n)]
        for profile in nab.PROFILES:
            cells.append(_norm([ours[profile][f] for f in group], profile))
        cells += [_norm([published[d][f] for f in group], "standard") for d in published]
        print("| " + " | ".join(cells) + " |")
    print("\nPer file (raw standard score; windows hit/total, false-positive alerts):\n")
    head = ["file", OURS, "hit", "FP alerts", *(PUBLISHED[d] for d in published)]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for f in files:
        s = ours["standard"][f]
        cells = [f, f"{s.raw:.3f}", f"{s.hit}/{s.windows}", str(s.fp)]
        cells += [f"{published[d][f].raw:.3f}" for d in published]
        print("| " + " | ".join(cells) + " |")


def _norm(scores, profile: str) -> str:
    value = nab.normalised(scores, nab.PROFILES[profile])
    return "-" if np.isnan(value) else f"{value:.1f}"


if __name__ == "__main__":
    sys.exit(main())
