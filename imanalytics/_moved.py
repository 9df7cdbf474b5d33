"""Old import paths of moved modules: importing one warns, and its names are read from the
new home (the old paths go in the next release)."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable


def alias(old: str, *homes: str, renamed: dict[str, str] | None = None) -> Callable:
    """Warn that module `old` moved; return its `__getattr__`, reading names from `homes`
    in order (`renamed` maps an old name to its new one)."""
    # Level 3 is the importing code: warnings skips the import machinery's frames itself.
    warnings.warn(f"{old} moved to {homes[0]}; import from there", DeprecationWarning,
                  stacklevel=3)
    modules = [importlib.import_module(home) for home in homes]
    renamed = renamed or {}

    def __getattr__(name: str):
        for module in modules:
            if hasattr(module, renamed.get(name, name)):
                return getattr(module, renamed.get(name, name))
        raise AttributeError(f"module {old!r} has no attribute {name!r}")

    return __getattr__

