"""Save and load fitted baselines in a file that cannot run code when read.

A baseline file is a zip archive:

- ``baseline.json``: format name and version, the estimator class, the library versions
  that wrote it, the parameters and the fitted state (numbers, strings, lists, dicts,
  pandas Index, nested baselines), with arrays named by reference;
- ``arrays/<n>.npy``: the arrays, read with ``allow_pickle=False``;
- ``trusted.pickle``: only for `QuantileGBM` and `MultiSLIIsolationForest`, whose
  scikit-learn models (gradient-boosted trees, an isolation forest) exist only as pickles.

`load` builds estimators only from the classes of this package, so a file from anyone is
safe to load, except a file holding ``trusted.pickle``: **unpickling runs whatever code
the file's author put there**, so `load` refuses it unless called with ``trusted=True``.
Pass that only for files you (or your own pipeline) wrote. Files from before this format
(joblib pickles) are refused the same way.
"""

from __future__ import annotations

import io
import json
import math
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn

from .. import __version__
from .checks import BaselineError

FORMAT = "imanalytics.baselines"
FORMAT_VERSION = 3  # 3: JSON + npy in a zip; 1 and 2 were joblib pickles
# Fitted state whose meaning changed: files older than the version given must be refitted
# (format 2: QuantileGBM's outer models predict residuals, not values).
REFIT_BEFORE = {"QuantileGBM": 2}
# A file is refused past this many bytes unpacked (a zip bomb stops here, not in memory).
MAX_UNPACKED_BYTES = 2 << 30
_HEADER, _PICKLES = "baseline.json", "trusted.pickle"
_PICKLE_MAGIC = (b"\x80", b"\x78")  # a pickle, or joblib's zlib-compressed one


class PersistenceError(BaselineError):
    """A baseline file could not be written or is not one `load` can read."""


def save(estimator, path: str | Path) -> Path:
    """Write `estimator` (fitted or not) to `path`; returns the path."""
    name = type(estimator).__name__
    if _classes().get(name) is not type(estimator):
        raise PersistenceError(f"not an imanalytics baseline: {name}")
    path = Path(path)
    writer = _Writer()
    header = {"format": FORMAT, "version": FORMAT_VERSION, "class": name,
              "imanalytics": __version__, "sklearn": sklearn.__version__,
              "estimator": writer.estimator(estimator)}
    header["trusted"] = bool(writer.pickles)
    try:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(_HEADER, json.dumps(header))
            for key, array in writer.arrays.items():
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, array, allow_pickle=False)
                archive.writestr(f"arrays/{key}.npy", buffer.getvalue())
            if writer.pickles:
                archive.writestr(_PICKLES, pickle.dumps(writer.pickles, protocol=5))
    except OSError as exc:
        raise PersistenceError(f"cannot write baseline file {path}: {exc.strerror}") from None
    return path


def load(path: str | Path, trusted: bool = False):
    """Read a baseline written by `save`.

    trusted: also unpickle the scikit-learn models of a `QuantileGBM` or
        `MultiSLIIsolationForest` (and read files of the old pickle format). **Unpickling
        runs code chosen by whoever wrote the file: pass True only for files you wrote.**
    """
    path = Path(path)
    if not path.exists():
        raise PersistenceError(f"baseline file {path} does not exist")
    if not zipfile.is_zipfile(path):
        return _load_old(path, trusted)
    try:
        with zipfile.ZipFile(path) as archive:
            return _read(archive, path, trusted)
    except PersistenceError:
        raise
    except Exception as exc:  # a damaged or crafted archive: many types, none trusted
        raise PersistenceError(f"{path} is not a readable baseline file "
                               f"({type(exc).__name__})") from None


def _read(archive: zipfile.ZipFile, path: Path, trusted: bool):
    unpacked = sum(info.file_size for info in archive.infolist())
    if unpacked > MAX_UNPACKED_BYTES:
        raise PersistenceError(f"{path} unpacks to {unpacked:,} bytes, more than "
                               f"{MAX_UNPACKED_BYTES:,}: not a baseline file")
    if _HEADER not in archive.namelist():
        raise PersistenceError(f"{path} is not an imanalytics baseline file")
    header = json.loads(archive.read(_HEADER))
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise PersistenceError(f"{path} is not an imanalytics baseline file")
    _check_version(header, path)
    pickles = []
    if header.get("trusted"):
        if not trusted:
            raise PersistenceError(
                f"{path} holds a {header.get('class')} whose fitted models are pickles, which "
                "run code when loaded: load it with trusted=True only if you wrote it, "
                "or refit it")
        pickles = pickle.loads(archive.read(_PICKLES))
    reader = _Reader(archive, pickles, path)
    estimator = reader.estimator(header["estimator"])
    _check_refit(type(estimator).__name__, header.get("version", 0), path)
    return estimator


def _load_old(path: Path, trusted: bool):
    """Formats 1 and 2: joblib pickles, read only when trusted."""
    with open(path, "rb") as handle:
        magic = handle.read(1)
    if magic not in _PICKLE_MAGIC:
        raise PersistenceError(f"{path} is not a baseline file")
    if not trusted:
        raise PersistenceError(
            f"{path} is a baseline file in the old pickle format, which runs code when "
            "loaded: refit it and save it again, or load it with trusted=True if you wrote it")
    import joblib

    try:
        payload = joblib.load(path)
    except Exception as exc:  # joblib/pickle raise many types for foreign files
        raise PersistenceError(f"{path} is not a baseline file ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise PersistenceError(f"{path} is not an imanalytics baseline file")
    _check_version(payload, path)
    estimator = payload.get("estimator")
    if _classes().get(type(estimator).__name__) is not type(estimator):
        raise PersistenceError(f"{path} holds no imanalytics baseline")
    _check_refit(type(estimator).__name__, payload.get("version", 0), path)
    return estimator


def _check_version(header: dict, path: Path) -> None:
    if header.get("version", 0) > FORMAT_VERSION:
        raise PersistenceError(
            f"{path} uses baseline format {header['version']}, newer than this imanalytics "
            f"({__version__}) reads (up to {FORMAT_VERSION}); upgrade imanalytics")


def _check_refit(name: str, version: int, path: Path) -> None:
    if version < REFIT_BEFORE.get(name, 0):
        raise PersistenceError(
            f"{path} holds a {name} in baseline format {version}, whose fitted state this "
            f"imanalytics ({__version__}) reads differently; fit it again")


def _classes() -> dict[str, type]:
    """The only classes a file may name."""
    from .decomposition import STLBands
    from .models import MultiSLIIsolationForest, QuantileGBM
    from .promql_native import AdaptiveBand, WeekOverWeekZScore
    from .seasonal import SeasonalProfile

    return {c.__name__: c for c in (SeasonalProfile, STLBands, WeekOverWeekZScore,
                                    AdaptiveBand, QuantileGBM, MultiSLIIsolationForest)}


def _pickled_types() -> tuple[type, ...]:
    from sklearn.ensemble import HistGradientBoostingRegressor, IsolationForest

    return HistGradientBoostingRegressor, IsolationForest


class _Writer:
    """Turns an estimator into JSON-able values, collecting arrays and pickled models."""

    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}
        self.pickles: list = []

    def estimator(self, est) -> dict:
        params = est.get_params(deep=False)
        state = {k: v for k, v in vars(est).items() if k not in params}
        return {"class": type(est).__name__, "params": self.value(params),
                "state": self.value(state)}

    def value(self, v):
        if v is None or isinstance(v, bool | int | float | str) and not isinstance(v, np.generic):
            return v
        if isinstance(v, np.generic):
            return {"scalar": v.dtype.str, "value": v.item()}
        if isinstance(v, np.ndarray):
            if v.dtype.hasobject:
                raise PersistenceError(f"cannot store an array of {v.dtype} in a baseline file")
            key = str(len(self.arrays))
            self.arrays[key] = v
            return {"array": key}
        if isinstance(v, list | tuple):
            items = [self.value(x) for x in v]
            return items if isinstance(v, list) else {"tuple": items}
        if isinstance(v, dict):
            return {"dict": [[self.value(k), self.value(x)] for k, x in v.items()]}
        if isinstance(v, pd.Index) and not isinstance(v, pd.MultiIndex):
            return {"index": [self.value(x) for x in v.tolist()], "dtype": str(v.dtype),
                    "name": self.value(v.name)}
        if isinstance(v, pd.Timedelta):
            return {"timedelta_ns": v.value}
        if _classes().get(type(v).__name__) is type(v):
            return {"baseline": self.estimator(v)}
        if isinstance(v, _pickled_types()):
            self.pickles.append(v)
            return {"pickled": len(self.pickles) - 1}
        raise PersistenceError(f"cannot store a {type(v).__name__} in a baseline file")


class _Reader:
    """The inverse of `_Writer`; builds only this package's estimator classes."""

    def __init__(self, archive: zipfile.ZipFile, pickles: list, path: Path):
        self.archive, self.pickles, self.path = archive, pickles, path

    def estimator(self, spec: dict):
        cls = _classes().get(spec.get("class"))
        if cls is None:
            raise PersistenceError(f"{self.path} names an unknown baseline class "
                                   f"{str(spec.get('class'))[:80]!r}")
        est = cls(**self.value(spec["params"]))
        for key, value in self.value(spec["state"]).items():
            if not (isinstance(key, str) and key.isidentifier() and not key.startswith("__")):
                raise PersistenceError(f"{self.path}: not a state name: {str(key)[:80]!r}")
            setattr(est, key, value)
        return est

    def value(self, v):
        if not isinstance(v, dict | list):
            return v
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if "array" in v:
            return self.array(f"arrays/{v['array']}.npy")
        if "scalar" in v:
            dtype = np.dtype(v["scalar"])
            if dtype.kind not in "biufc":
                raise PersistenceError(f"{self.path}: not a number type: {dtype}")
            return dtype.type(v["value"])
        if "tuple" in v:
            return tuple(self.value(x) for x in v["tuple"])
        if "dict" in v:
            return {_hashable(self.value(k)): self.value(x) for k, x in v["dict"]}
        if "index" in v:
            return pd.Index([self.value(x) for x in v["index"]], dtype=v["dtype"],
                            name=self.value(v["name"]))
        if "timedelta_ns" in v:
            return pd.Timedelta(int(v["timedelta_ns"]), "ns")
        if "baseline" in v:
            return self.estimator(v["baseline"])
        if "pickled" in v:
            return self.pickles[int(v["pickled"])]
        raise PersistenceError(f"{self.path}: unknown value {json.dumps(v)[:80]}")


    def array(self, name: str) -> np.ndarray:
        """An npy member, its header checked against its size before anything is allocated."""
        size = self.archive.getinfo(name).file_size
        with self.archive.open(name) as handle:
            major, _ = np.lib.format.read_magic(handle)
            read_header = (np.lib.format.read_array_header_1_0 if major == 1
                           else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read_header(handle)
        if dtype.hasobject or math.prod(shape) * dtype.itemsize > size:
            raise PersistenceError(f"{self.path}: {name} is not a plain array of its size")
        with self.archive.open(name) as handle:
            return np.lib.format.read_array(handle, allow_pickle=False)


def _hashable(key):
    return tuple(key) if isinstance(key, list) else key
