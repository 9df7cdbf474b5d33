"""Save and load fitted baselines: a joblib file holding the estimator and a format header.

The header names the format, its version, the estimator class and the library versions
that wrote it; `load` refuses other files, newer format versions and fitted state whose
meaning changed since it was written, with a clear message.
joblib files are pickles: load only files you trust (ones your own pipeline wrote).
"""

from __future__ import annotations

from pathlib import Path

import joblib
import sklearn

from .. import __version__
from .checks import BaselineError

FORMAT = "imanalytics.baselines"
FORMAT_VERSION = 2
# Fitted state whose meaning changed: files older than the version given must be refitted
# (format 2: QuantileGBM's outer models predict residuals, not values).
REFIT_BEFORE = {"QuantileGBM": 2}


class PersistenceError(BaselineError):
    """A baseline file could not be written or is not one `load` can read."""


def save(estimator, path: str | Path) -> Path:
    """Write `estimator` (fitted or not) to `path`; returns the path."""
    if not _is_baseline(estimator):
        raise PersistenceError(f"not an imanalytics baseline: {type(estimator).__name__}")
    path = Path(path)
    payload = {
        "format": FORMAT, "version": FORMAT_VERSION,
        "class": f"{type(estimator).__module__}.{type(estimator).__qualname__}",
        "imanalytics": __version__, "sklearn": sklearn.__version__,
        "estimator": estimator,
    }
    try:
        joblib.dump(payload, path, compress=3)
    except OSError as exc:
        raise PersistenceError(f"cannot write baseline file {path}: {exc.strerror}") from None
    return path


def load(path: str | Path):
    """Read a baseline written by `save`."""
    path = Path(path)
    try:
        payload = joblib.load(path)
    except FileNotFoundError:
        raise PersistenceError(f"baseline file {path} does not exist") from None
    except Exception as exc:  # joblib/pickle raise many types for foreign files
        raise PersistenceError(f"{path} is not a baseline file ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise PersistenceError(f"{path} is not an imanalytics baseline file")
    if payload.get("version", 0) > FORMAT_VERSION:
        raise PersistenceError(
            f"{path} uses baseline format {payload['version']}, newer than this imanalytics "
            f"({__version__}) reads (up to {FORMAT_VERSION}); upgrade imanalytics")
    estimator = payload.get("estimator")
    if not _is_baseline(estimator):
        raise PersistenceError(f"{path} holds no imanalytics baseline")
    name = type(estimator).__name__
    if payload.get("version", 0) < REFIT_BEFORE.get(name, 0):
        raise PersistenceError(
            f"{path} holds a {name} in baseline format {payload.get('version', 0)}, whose "
            f"fitted state this imanalytics ({__version__}) reads differently; fit it again")
    return estimator


def _is_baseline(obj) -> bool:
    return type(obj).__module__.startswith("imanalytics.baselines.")
