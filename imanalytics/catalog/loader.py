"""Reading catalogs: mapping files over the default, and the default itself.

The default catalog is `default.yaml` beside this module, in the same mapping-file
format a user writes, read by the same strict YAML loader and validation. A mapping
file applies over it: entries replace or add metrics, ``null`` removes one.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from collections.abc import Hashable, Iterable, Mapping
from importlib import resources
from typing import Any

import yaml

from .model import (
    HIGH_CARDINALITY,
    TARGET_LABELS,
    Catalog,
    CatalogError,
    MetricSpec,
    _check_label,
    _check_unique_series,
    _error,
    _global_label_map,
    _kind,
    _show,
    _suggest,
)

MAX_MAPPING_BYTES = 4 << 20
DEFAULT_FILE = "default.yaml"
_TOP_KEYS = ("name", "selectors", "labels", "high_cardinality", "metrics")
_FIELDS = ("name", "type", "unit", "help", "layer", "labels", "buckets", "quantiles", "label_map")
_REQUIRED = ("name", "type", "unit", "help", "layer")


def from_data(data: Any, source: str, base: Iterable[MetricSpec] | None = None) -> Catalog:
    """Mapping-file data applied over ``base`` (default: the default catalog's metrics)."""
    if base is None:
        base = _default().metrics.values()
    try:
        return _apply(data, source, base)
    except CatalogError as exc:
        raise CatalogError(f"{source}: {exc}") from None


def _fold(spec: MetricSpec, renames: Mapping[str, str], global_map: Mapping[str, str]):
    """``spec`` with its label_map resolved: global mapping, then per-metric renames."""
    label_map = {
        name: renames.get(name, global_map.get(name, name)) for name in TARGET_LABELS + spec.labels
    }
    return dataclasses.replace(spec, label_map=label_map)


def _apply(data: Any, source: str, base: Iterable[MetricSpec]) -> Catalog:
    """The ``base`` metrics with mapping-file data applied over them."""
    if data is None:  # an empty file: nothing to change
        data = {}
    if not isinstance(data, Mapping):
        raise _error(
            "top level", f"must be a mapping with keys {', '.join(_TOP_KEYS)} (got {_kind(data)})"
        )
    for key in data:
        if key not in _TOP_KEYS:
            raise _error(
                str(key),
                f"unknown top-level key{_suggest(key, _TOP_KEYS)}; expected {', '.join(_TOP_KEYS)}",
            )
    global_map = _global_label_map(data.get("labels", {}))
    entries = data.get("metrics", {})
    if not isinstance(entries, Mapping):
        raise _error("metrics", f"must be a mapping of metric key to fields (got {_kind(entries)})")
    specs = _apply_metrics(entries, global_map, base)
    _check_unique_series(specs.values(), blame=entries)
    return Catalog(
        specs,
        selectors=data.get("selectors", ()),
        label_map=global_map,
        high_cardinality=data.get("high_cardinality", HIGH_CARDINALITY),
        source=source,
        name=data.get("name", ""),
    )


def _apply_metrics(
    entries: Mapping, global_map: dict, base: Iterable[MetricSpec]
) -> dict[str, MetricSpec]:
    # Default metrics make no renames of their own: the global mapping is all they get.
    specs = {spec.key: _fold(spec, {}, global_map) for spec in base}
    for key, entry in entries.items():
        loc = f"metrics.{key}"
        _check_label(key, "metric key", loc)
        if entry is None:
            if key not in specs:
                raise _error(loc, f"no such metric to remove{_suggest(key, specs)}")
            del specs[key]
        else:
            specs[key] = _entry(specs.get(key), key, entry, global_map, known=specs)
    return specs


def _entry(
    base: MetricSpec | None, key: str, entry: Any, global_map: dict, known: Iterable[str]
) -> MetricSpec:
    loc = f"metrics.{key}"
    if not isinstance(entry, Mapping):
        raise _error(
            loc, f"must be a mapping of fields, or null to remove the metric (got {_kind(entry)})"
        )
    for name in entry:
        if name not in _FIELDS:
            raise _error(
                f"{loc}.{name}",
                f"unknown field{_suggest(name, _FIELDS)}; fields: {', '.join(_FIELDS)}",
            )
    fields = dict(entry)
    renames, renames_field = _pop_renames(fields, loc, new=base is None)
    if base is None:
        missing = [name for name in _REQUIRED if name not in fields]
        if missing:
            raise _error(
                f"{loc}.{missing[0]}",
                f"required for a new metric (missing: {', '.join(missing)}){_suggest(key, known)}",
            )
    else:
        fields = _inherit(base, fields)
    spec = MetricSpec(key=key, **fields)
    own = TARGET_LABELS + spec.labels
    for name in renames:
        if name not in own:
            raise _error(
                f"{loc}.{renames_field}.{name}", f"not a label of this metric ({', '.join(own)})"
            )
    return _fold(spec, renames, global_map)


def _pop_renames(fields: dict, loc: str, new: bool) -> tuple[dict[str, str], str]:
    """Take label renames out of an entry: ``labels`` in mapping form, or ``label_map``.

    For a new metric the mapping form also declares the label list.
    """
    if isinstance(fields.get("labels"), Mapping) and "label_map" in fields:
        raise _error(
            f"{loc}.label_map", "give renames in labels (mapping form) or in label_map, not both"
        )
    source = "labels" if isinstance(fields.get("labels"), Mapping) else "label_map"
    renames = fields.pop(source, None) if source in fields else {}
    if not isinstance(renames, Mapping):
        raise _error(
            f"{loc}.{source}",
            f"must be a mapping of catalog label to service label (got {_kind(renames)})",
        )
    for name, mapped in renames.items():
        _check_label(name, "label name", f"{loc}.{source}")
        _check_label(mapped, "label name", f"{loc}.{source}.{name}")
    if source == "labels" and new:
        fields["labels"] = list(renames)
    return dict(renames), source


def _inherit(base: MetricSpec, fields: dict) -> dict:
    merged = {name: getattr(base, name) for name in _FIELDS if name != "label_map"}
    if fields.get("type", base.type) != base.type:
        # A new type invalidates the old shape; buckets/quantiles must come from the file.
        merged["buckets"] = merged["quantiles"] = ()
    merged.update(fields)
    return merged


class _StrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """A SafeLoader (libyaml's when installed: many times faster) that refuses duplicate
    keys (PyYAML silently keeps the last one)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False):
    seen: set = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, Hashable):
            continue  # construct_mapping reports unhashable keys itself
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {_show(key)}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
# PyYAML follows YAML 1.1, where 1e-3 and 1.0e3 are text; read them as numbers (YAML 1.2).
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+.0123456789"),
)


def _read_yaml(source: str, max_bytes: int = MAX_MAPPING_BYTES) -> Any:
    try:
        size = os.stat(source).st_size
        if size > max_bytes:
            raise _too_big(source, size, max_bytes)
        # A device or a growing file may still hold more than it said: read a bound.
        with open(source, "rb") as f:
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise CatalogError(f"{source}: no such file") from None
    except OSError as exc:
        raise CatalogError(f"{source}: cannot read: {exc.strerror or exc}") from None
    return _parse_yaml(data, source, max_bytes)


def _too_big(source: str, size: int, max_bytes: int) -> CatalogError:
    return CatalogError(
        f"{source}: {size:,} bytes, more than a mapping file may hold ({max_bytes:,}; "
        "load_catalog(path, max_bytes=...) raises the limit)")


def _parse_yaml(data: bytes, source: str, max_bytes: int = MAX_MAPPING_BYTES) -> Any:
    """Safe-load YAML bytes; every failure is a one-line `CatalogError` naming ``source``."""
    if len(data) > max_bytes:
        raise _too_big(source, len(data), max_bytes)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CatalogError(f"{source}: not UTF-8 text (byte {exc.start})") from None
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).replace("\n", " ")
        raise CatalogError(f"{source}: {where}invalid YAML: {problem}") from None


def load_catalog(path: str | os.PathLike | None = None,
                 max_bytes: int = MAX_MAPPING_BYTES) -> Catalog:
    """The default catalog, with the YAML mapping file at ``path`` applied over it.

    Files over `max_bytes` (default 4 MiB; real mapping files are a few kB) are refused
    before they are read."""
    if path is None:
        return default_catalog()
    source = os.fsdecode(path)
    return from_data(_read_yaml(source, max_bytes), source)


# ------------------------------------------------------------------------------ default


def default_catalog() -> Catalog:
    """The catalog of the reference IM service (a fresh copy: callers may modify it)."""
    return _default().copy()


def default_keys() -> tuple[str, ...]:
    """The default catalog's metric keys, in declared order."""
    return tuple(_default().metrics)


@functools.cache
def _default() -> Catalog:
    # Parsed once per process: the CLI, rules and dashboards ask for it many times.
    # Callers get copies (`default_catalog`); the specs they share are frozen.
    data, source = read_packaged(__package__, DEFAULT_FILE)
    catalog = from_data(data, source, base=())
    catalog.source = "<default>"
    return catalog


def read_packaged(package: str, name: str) -> tuple[Any, str]:
    """A YAML file shipped in ``package``, read like a mapping file; and its path for errors."""
    resource = resources.files(package).joinpath(name)
    source = str(resource)
    return _parse_yaml(resource.read_bytes(), source), source
