"""The baseline directory the exporter serves: fitted models plus an index naming what each
one serves.

    baselines/
      index.json                              which series each model serves
      <sli>/<series>.baseline                 one fitted model (`imanalytics.baselines.save`)

``index.json`` holds ``{"format": "imanalytics.baseline-exporter", "version": 1,
"series": [...]}``, one entry per served SLI series::

    {"sli": "e2e_latency_p95", "labels": {"job": "im", "instance": "im-0:9100"},
     "strategy": "seasonal", "sensitivity": 3.0, "direction": "upper",
     "model": "SeasonalProfile", "file": "e2e_latency_p95/im_im-0_9100.baseline",
     "column": null, "query": "job_instance:im_message_e2e_latency_seconds:p95_rate5m"}

`labels` are the SLI series' own labels (its recording rule's ``by``); `sensitivity` is
the band half-width in spreads; `column` picks one column of a model fitted on several
series (a wide `SeasonalProfile`, a `MultiSLIIsolationForest`), null for one series;
`query` (optional) is the PromQL giving the SLI's recent values, which the exporter asks
Prometheus for when it runs with ``--prometheus`` so bands follow the SLI's level;
`fitted_until` (optional) is when the model's history ends.
Several entries may share a file. Model files are read and written only through
`imanalytics.baselines.load`/`save`.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from .. import baselines
from ..errors import ImanalyticsError

INDEX_FILE = "index.json"
FORMAT = "imanalytics.baseline-exporter"
FORMAT_VERSION = 1
MODEL_SUFFIX = ".baseline"
DIRECTIONS = ("upper", "lower", "both")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class ExporterError(ImanalyticsError):
    """The baseline directory cannot be served."""


@dataclass(frozen=True)
class ServedSeries:
    """One SLI series whose band the exporter serves, and the model that predicts it."""

    sli: str
    labels: dict[str, str]
    strategy: str
    sensitivity: float
    direction: str
    model: str = ""  # class name, for people reading the index
    file: str = ""  # model file, relative to the directory
    column: str | None = None  # the model's column for this series, if it has several
    query: str = ""  # PromQL for the SLI's recent values (its recorded series), for `live`
    fitted_until: str = ""  # ISO time of the last sample the model was fitted on

    @property
    def key(self) -> tuple:
        return self.sli, tuple(sorted(self.labels.items()))

    def describe(self) -> str:
        where = ",".join(f"{k}={v}" for k, v in sorted(self.labels.items()))
        return f"{self.sli}{{{where}}}"


@dataclass
class Store:
    """A loaded baseline directory: the served series and their fitted models by file."""

    directory: Path
    series: list[ServedSeries]
    models: dict[str, object] = field(default_factory=dict)


def save_baselines(directory: str | Path, served: Sequence[tuple[ServedSeries, object]]
                   ) -> Path:
    """Write the models and the index to `directory`, replacing what it held; returns it.

    `served` pairs each series with its fitted estimator; series of one estimator object
    share a file. The directory is written beside its final place and swapped in whole,
    so a reader never sees half of it.
    """
    directory = Path(directory)
    if not served:
        raise ExporterError("no baselines to save")
    _unique(s for s, _ in served)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        entries = _write_models(staging, served)
        index = {"format": FORMAT, "version": FORMAT_VERSION,
                 "series": [asdict(s) for s in entries]}
        (staging / INDEX_FILE).write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
        _swap_in(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory


def _write_models(staging: Path, served) -> list[ServedSeries]:
    files: dict[int, str] = {}
    entries = []
    for series, estimator in served:
        if id(estimator) not in files:
            name = _file_name(series, set(files.values()))
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            baselines.save(estimator, staging / name)
            files[id(estimator)] = name
        entries.append(ServedSeries(**{**asdict(series), "file": files[id(estimator)],
                                       "model": type(estimator).__name__}))
    return entries


def _file_name(series: ServedSeries, taken: set[str]) -> str:
    stem = "_".join(v for _, v in sorted(series.labels.items())) or "series"
    stem = _UNSAFE.sub("_", stem).strip("._") or "series"
    name, n = f"{_UNSAFE.sub('_', series.sli)}/{stem}{MODEL_SUFFIX}", 1
    while name in taken:
        n += 1
        name = f"{_UNSAFE.sub('_', series.sli)}/{stem}-{n}{MODEL_SUFFIX}"
    return name


def _swap_in(staging: Path, directory: Path) -> None:
    old = None
    if directory.exists():
        old = directory.with_name(f".{directory.name}-old")
        shutil.rmtree(old, ignore_errors=True)
        directory.rename(old)
    staging.rename(directory)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def load_baselines(directory: str | Path, trusted: bool = False) -> Store:
    """Read the index and every model it names; any fault is an `ExporterError` naming it.

    trusted: also load models whose scikit-learn parts are pickles (`QuantileGBM`,
        `MultiSLIIsolationForest`); unpickling runs code, so only for directories you wrote.
    """
    directory = Path(directory)
    series = read_index(directory)
    models = {}
    for s in series:
        if s.file not in models:
            models[s.file] = _load_model(directory, s, trusted)
        _check_column(directory, s, models[s.file])
    return Store(directory, series, models)


def read_index(directory: Path) -> list[ServedSeries]:
    index = directory / INDEX_FILE
    if not directory.exists():
        raise ExporterError(f"baseline directory {directory} does not exist")
    if not directory.is_dir():
        raise ExporterError(f"{directory} is not a directory")
    if not index.exists():
        what = "is empty" if not any(directory.iterdir()) else f"has no {INDEX_FILE}"
        raise ExporterError(f"baseline directory {directory} {what}: write it with "
                            "`python -m imanalytics review-thresholds` (its baselines/ folder)")
    try:
        doc = json.loads(index.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ExporterError(f"{index} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ExporterError(f"{index} is not a baseline exporter index (format {FORMAT!r})")
    if not isinstance(doc.get("version"), int) or doc["version"] > FORMAT_VERSION:
        raise ExporterError(f"{index} has index version {doc.get('version')!r}; this "
                            f"imanalytics reads version {FORMAT_VERSION}")
    entries = doc.get("series")
    if not isinstance(entries, list) or not entries:
        raise ExporterError(f"{index} names no baselines (its 'series' list is empty)")
    series = [_entry(index, n, e) for n, e in enumerate(entries)]
    _unique(series, index)
    return series


def _entry(index: Path, n: int, entry) -> ServedSeries:
    where = f"{index}: series {n}"
    if not isinstance(entry, dict):
        raise ExporterError(f"{where} is not an object")
    for name, kind in (("sli", str), ("labels", dict), ("strategy", str), ("direction", str),
                       ("file", str), ("sensitivity", (int, float))):
        if not isinstance(entry.get(name), kind) or isinstance(entry.get(name), bool):
            raise ExporterError(f"{where}: field {name!r} is missing or not a "
                                f"{_kind_name(kind)}")
    labels = entry["labels"]
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise ExporterError(f"{where}: 'labels' must map label names to strings")
    if entry["direction"] not in DIRECTIONS:
        raise ExporterError(f"{where}: direction must be one of {', '.join(DIRECTIONS)} "
                            f"(got {entry['direction']!r})")
    if not entry["sensitivity"] > 0:
        raise ExporterError(f"{where}: sensitivity must be positive "
                            f"(got {entry['sensitivity']!r})")
    file = Path(entry["file"])
    if file.is_absolute() or ".." in file.parts:
        raise ExporterError(f"{where}: file {entry['file']!r} must be a path inside "
                            f"{index.parent}")
    column, query = entry.get("column"), entry.get("query", "")
    if column is not None and not isinstance(column, str):
        raise ExporterError(f"{where}: column must be a string or null")
    if not isinstance(query, str):
        raise ExporterError(f"{where}: query must be a PromQL string")
    return ServedSeries(entry["sli"], dict(labels), entry["strategy"],
                        float(entry["sensitivity"]), entry["direction"],
                        str(entry.get("model", "")), entry["file"], column, query,
                        _fitted_until(where, entry.get("fitted_until", "")))


def _fitted_until(where: str, text) -> str:
    if text == "":
        return ""
    try:
        return pd.Timestamp(text).tz_convert("UTC").isoformat()
    except (TypeError, ValueError):
        raise ExporterError(f"{where}: fitted_until must be an ISO time with a zone "
                            f"(got {text!r})") from None


def _kind_name(kind) -> str:
    return "number" if isinstance(kind, tuple) else {str: "string", dict: "object"}[kind]


def _unique(series, index: Path | None = None) -> None:
    seen = set()
    for s in series:
        if s.key in seen:
            where = f"{index}: " if index else ""
            raise ExporterError(f"{where}{s.describe()} is served twice")
        seen.add(s.key)


def _load_model(directory: Path, series: ServedSeries, trusted: bool):
    path = directory / series.file
    try:
        model = baselines.load(path, trusted=trusted)
    except baselines.PersistenceError as exc:
        hint = " (serve-baselines --trusted)" if "trusted=True" in str(exc) else ""
        raise ExporterError(f"model for {series.describe()}: {exc}{hint}") from None
    if not hasattr(model, "predict_bands") or not model.__sklearn_is_fitted__():
        raise ExporterError(f"model for {series.describe()}: {path} holds an unfitted "
                            f"{type(model).__name__}")
    return model


def _check_column(directory: Path, series: ServedSeries, model) -> None:
    columns = getattr(model, "columns_", None)
    if series.column is None and columns is not None:
        raise ExporterError(f"{directory / series.file} predicts several series: the index "
                            f"entry for {series.describe()} must name its column")
    if series.column is not None and (columns is None or series.column not in columns):
        raise ExporterError(f"{directory / series.file} has no column {series.column!r} "
                            f"(for {series.describe()})")
