"""The catalog model: `MetricSpec`, `Catalog` and the validation of every field.

Catalog label names (``tenant``, ``user_type`` ...) are stable ids; `label()` turns
them into the names the service really uses, and everything that renders PromQL goes
through it. Reading mapping files and the default catalog is `loader`'s job.
"""

from __future__ import annotations

import difflib
import math
import numbers
import re
import reprlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from imanalytics.samples import escape_label_value

if TYPE_CHECKING:
    import pandas as pd

TYPES = ("counter", "gauge", "histogram", "summary")
LAYERS = ("connection", "message", "queue", "api", "runtime")
TARGET_LABELS = ("job", "instance")
HIGH_CARDINALITY = (
    "user_id",
    "room_id",
    "trace_id",
    "session_id",
    "conversation_id",
    "device_id",
    "message_id",
)

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_UNIT = re.compile(r"[a-z0-9_]*")
_STRING = r""""(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'"""
_MATCHER = re.compile(rf"\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*({_STRING})\s*")
_SERIES_SUFFIXES = ("_bucket", "_sum", "_count")
# The label each type adds to its own series; a catalog label of that name would clash.
_RESERVED = {"histogram": "le", "summary": "quantile"}


class CatalogError(ValueError):
    """A malformed catalog; the one-line message names the file, the entry and the field."""


def _error(loc: str, problem: str) -> CatalogError:
    return CatalogError(f"{loc}: {problem}")


# --------------------------------------------------------------------------- MetricSpec


@dataclass(frozen=True)
class MetricSpec:
    """One metric family an IM service exports.

    ``name`` is the exported family name: counters include ``_total``; histograms and
    summaries give the base name without ``_bucket``/``_sum``/``_count``. ``labels``
    excludes the target labels job/instance, which every metric carries. ``label_map``
    maps catalog label names to the service's names for this metric (identity
    entries are dropped). Construction validates every field.
    """

    key: str
    name: str
    type: str
    unit: str
    help: str
    layer: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()
    quantiles: tuple[float, ...] = ()
    # hash=False: a dict is unhashable, and the other fields identify the spec anyway.
    label_map: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self):
        for name, value in _checked_fields(self).items():
            object.__setattr__(self, name, value)

    def series_names(self) -> tuple[str, ...]:
        """The sample names this family exposes."""
        if self.type == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        if self.type == "summary":
            quantile_series = (self.name,) if self.quantiles else ()
            return (*quantile_series, f"{self.name}_sum", f"{self.name}_count")
        return (self.name,)

    def label(self, catalog_label: str) -> str:
        """The service's name for a catalog label on this metric."""
        return self.label_map.get(catalog_label, catalog_label)

    def mapped_labels(self) -> tuple[str, ...]:
        """``labels`` as the service names them."""
        return tuple(self.label(name) for name in self.labels)


def _checked_fields(spec: MetricSpec) -> dict[str, Any]:
    """Validate a spec; return the normalised values of its collection fields."""
    loc = f"metrics.{spec.key}"
    _check_label(spec.key, "metric key", loc)
    _check_choice(spec.type, TYPES, f"{loc}.type")
    _check_metric_name(spec.name, spec.type, f"{loc}.name")
    _check_unit(spec.unit, f"{loc}.unit")
    _check_help(spec.help, f"{loc}.help")
    _check_choice(spec.layer, LAYERS, f"{loc}.layer")
    labels = _metric_labels(spec.labels, spec.type, f"{loc}.labels")
    label_map = _metric_label_map(spec.label_map, labels, f"{loc}.label_map")
    _check_mapped_unique(labels, label_map, spec.type, f"{loc}.labels")
    return {
        "labels": labels,
        "buckets": _buckets(spec.buckets, spec.type, f"{loc}.buckets"),
        "quantiles": _quantiles(spec.quantiles, spec.type, f"{loc}.quantiles"),
        "label_map": label_map,
    }


def _check_choice(value: Any, choices: tuple[str, ...], loc: str) -> None:
    if value not in choices:
        raise _error(loc, f"must be one of {', '.join(choices)} (got {_show(value)})")


def _check_metric_name(name: Any, type_: str, loc: str) -> None:
    _check_text(name, loc)
    if not _METRIC_NAME.fullmatch(name) or name.startswith("__"):
        raise _error(loc, f"{_show(name)} is not a legal metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)")
    if type_ == "counter" and not name.endswith("_total"):
        raise _error(loc, f"counter names must end in _total (got {_show(name)})")
    if type_ in _RESERVED and name.endswith(_SERIES_SUFFIXES):
        raise _error(
            loc, f"give the {type_}'s base name, without _bucket/_sum/_count (got {_show(name)})"
        )


def _check_unit(unit: Any, loc: str) -> None:
    _check_text(unit, loc)
    if not _UNIT.fullmatch(unit):
        raise _error(loc,
                     f"must be lower-case like 'seconds' or 'bytes', or '' (got {_show(unit)})")


def _check_help(text: Any, loc: str) -> None:
    _check_text(text, loc)
    # Help ends up in dashboard panel descriptions and # HELP lines: one line, not blank.
    if not text.strip() or "\n" in text:
        raise _error(loc, f"must be one non-blank line (got {_show(text)})")


def _check_text(value: Any, loc: str) -> None:
    if not isinstance(value, str):
        raise _error(loc, f"must be text (got {_kind(value)} {_show(value)})")


def _check_label(value: Any, what: str, loc: str) -> None:
    if not isinstance(value, str):
        raise _error(loc, f"{what} must be text (got {_kind(value)} {_show(value)})")
    if not _LABEL_NAME.fullmatch(value):
        raise _error(loc, f"{_show(value)} is not a legal {what} ([a-zA-Z_][a-zA-Z0-9_]*)")
    if value.startswith("__"):
        raise _error(loc, f"{_show(value)}: names starting with __ are reserved by Prometheus")


def _metric_labels(labels: Any, type_: str, loc: str) -> tuple[str, ...]:
    _check_sequence(labels, "a list of label names", loc)
    for i, name in enumerate(labels):
        _check_label(name, "label name", f"{loc}[{i}]")
        if name in TARGET_LABELS:
            raise _error(
                f"{loc}[{i}]",
                f"{_show(name)} is implicit on every metric; "
                "rename it under the top-level labels instead",
            )
        if name == _RESERVED.get(type_):
            raise _error(f"{loc}[{i}]", f"{_show(name)} is reserved on a {type_}")
        if name in labels[:i]:
            raise _error(f"{loc}[{i}]", f"duplicate label {_show(name)}")
    return tuple(labels)


def _metric_label_map(label_map: Any, labels: tuple[str, ...], loc: str) -> dict[str, str]:
    if not isinstance(label_map, Mapping):
        raise _error(loc, f"must be a mapping of label renames (got {_kind(label_map)})")
    known = TARGET_LABELS + labels
    for name, mapped in label_map.items():
        _check_label(name, "label name", loc)
        if name not in known:
            raise _error(f"{loc}.{name}", f"not a label of this metric ({', '.join(known)})")
        _check_label(mapped, "label name", f"{loc}.{name}")
    return {k: label_map[k] for k in sorted(label_map) if label_map[k] != k}


def _check_mapped_unique(labels: tuple, label_map: dict, type_: str, loc: str) -> None:
    owner: dict[str, str] = {}
    for name in TARGET_LABELS + labels:
        mapped = label_map.get(name, name)
        if mapped in owner:
            raise _error(loc, f"{_show(owner[mapped])} and {_show(name)} both map to "
                         f"{_show(mapped)}")
        if mapped == _RESERVED.get(type_):
            raise _error(loc, f"{_show(name)} maps to {_show(mapped)}, which is reserved on a "
                         f"{type_}")
        owner[mapped] = name


def _buckets(values: Any, type_: str, loc: str) -> tuple[float, ...]:
    buckets = _ascending_numbers(values, loc)
    if type_ != "histogram" and buckets:
        raise _error(loc, f"only histograms have buckets (this metric is a {type_})")
    if type_ == "histogram" and not buckets:
        raise _error(loc, "a histogram needs at least one bucket upper bound")
    for i, bound in enumerate(buckets):
        if not (0 < bound < math.inf):
            # +Inf is implicit; negative bounds make no sense for IM durations and sizes.
            raise _error(
                f"{loc}[{i}]", f"must be positive and finite, +Inf is implicit (got {bound:g})"
            )
    return buckets


def _quantiles(values: Any, type_: str, loc: str) -> tuple[float, ...]:
    quantiles = _ascending_numbers(values, loc)
    if type_ != "summary" and quantiles:
        raise _error(loc, f"only summaries have quantiles (this metric is a {type_})")
    for i, q in enumerate(quantiles):
        if not 0 <= q <= 1:
            raise _error(f"{loc}[{i}]", f"must be within [0, 1] (got {q:g})")
    return quantiles


def _ascending_numbers(values: Any, loc: str) -> tuple[float, ...]:
    _check_sequence(values, "a list of numbers", loc)
    out: list[float] = []
    for i, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise _error(f"{loc}[{i}]", f"must be a number (got {_kind(value)} {_show(value)})")
        if out and not value > out[-1]:
            raise _error(f"{loc}[{i}]", f"must be ascending ({value:g} after {out[-1]:g})")
        out.append(float(value))
    return tuple(out)


def _check_sequence(value: Any, what: str, loc: str) -> None:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise _error(loc, f"must be {what} (got {_kind(value)} {_show(value)})")


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring, _REPR.maxother = 2, 4, 4, 120, 80
_REPR.maxtuple = _REPR.maxset = _REPR.maxfrozenset = _REPR.maxdeque = _REPR.maxarray = 4


def _show(value: Any) -> str:
    """A bounded repr: an alias bomb or a huge value never expands into a message."""
    return _REPR.repr(value)


def _kind(value: Any) -> str:
    """The YAML word for a value's type, for messages read by people who wrote YAML."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, numbers.Number):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, Mapping):
        return "mapping"
    return "list" if isinstance(value, list) else type(value).__name__


# ------------------------------------------------------------------------------ Catalog


class Catalog:
    """The metrics a service exports, its label names and the selectors that scope it.

    Iterating yields `MetricSpec` in declared order; ``key in catalog`` tests a key.
    """

    def __init__(
        self,
        metrics: Iterable[MetricSpec] | Mapping[str, MetricSpec],
        *,
        selectors: Iterable[str] = (),
        label_map: Mapping[str, str] | None = None,
        high_cardinality: Iterable[str] = HIGH_CARDINALITY,
        source: str = "<custom>",
        name: str = "",
    ):
        self.metrics: dict[str, MetricSpec] = _index(metrics)
        self.selectors: tuple[str, ...] = _matchers(selectors)
        self.label_map: dict[str, str] = _global_label_map(label_map or {})
        self._high_cardinality = _label_list(high_cardinality, "high_cardinality")
        self.source = source
        self.name = _service_name(name)  # the service, as dashboards name it ("" if unnamed)
        _check_unique_series(self.metrics.values())

    def copy(self) -> Catalog:
        """A new catalog with the same content; the frozen specs are shared."""
        return Catalog(
            self.metrics,
            selectors=self.selectors,
            label_map=self.label_map,
            high_cardinality=self._high_cardinality,
            source=self.source,
            name=self.name,
        )

    # -- mapping-like access

    def __getitem__(self, key: str) -> MetricSpec:
        try:
            return self.metrics[key]
        except KeyError:
            raise KeyError(
                f"no metric {_show(key)} in catalog {self.source}"
                f"{_suggest(key, self.metrics)}; known: "
                f"{', '.join(self.metrics)}"
            ) from None

    def __iter__(self) -> Iterator[MetricSpec]:
        return iter(self.metrics.values())

    def __len__(self) -> int:
        return len(self.metrics)

    def __contains__(self, key: object) -> bool:
        return key in self.metrics

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Catalog):
            return NotImplemented
        return self.to_dict() == other.to_dict() and list(self.metrics) == list(other.metrics)

    __hash__ = None  # mutable, compared by content

    def __repr__(self) -> str:
        return (
            f"Catalog(source={self.source!r}, metrics={len(self)}, "
            f"selectors={self.selectors!r}, label_map={self.label_map!r})"
        )

    def _repr_html_(self) -> str:
        from ..display import catalog_html

        return catalog_html(self)

    def __str__(self) -> str:
        rows = [("key", "name", "type", "layer", "labels")]
        rows += [(s.key, s.name, s.type, s.layer, ",".join(s.mapped_labels())) for s in self]
        widths = [max(len(cell) for cell in column) for column in zip(*rows, strict=True)]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
        ]
        return "\n".join([repr(self), *lines])

    # -- queries

    def by_layer(self, layer: str) -> list[MetricSpec]:
        if layer not in LAYERS:
            raise ValueError(f"unknown layer {_show(layer)}; layers: {', '.join(LAYERS)}")
        return [spec for spec in self if spec.layer == layer]

    def label(self, catalog_label: str) -> str:
        """The service's name for a catalog label (global mapping)."""
        return self.label_map.get(catalog_label, catalog_label)

    @property
    def target_labels(self) -> tuple[str, ...]:
        return tuple(self.label(name) for name in TARGET_LABELS)

    @property
    def tenant_label(self) -> str:
        return self.label("tenant")

    @property
    def high_cardinality(self) -> tuple[str, ...]:
        return tuple(self.label(name) for name in self._high_cardinality)

    def selector(self, key: str, suffix: str = "", **matchers: str) -> str:
        """A PromQL vector selector for one of the metric's series.

        The catalog's selectors come first, then one exact-match matcher per keyword
        (catalog label names, mapped to the service's), sorted by label name.
        """
        spec = self[key]
        series = spec.name + suffix
        if series not in spec.series_names():
            raise ValueError(
                f"metrics.{key}: no series {_show(series)}; the {spec.type} "
                f"exports {', '.join(spec.series_names())}"
            )
        allowed = _matchable_labels(spec, suffix)
        parts: list[tuple[str, str]] = []
        for name, value in matchers.items():
            if name not in allowed:
                raise ValueError(
                    f"metrics.{key}: no label {_show(name)} to match on {series} "
                    f"(labels: {', '.join(allowed)})"
                )
            if not isinstance(value, str):
                raise TypeError(
                    f"metrics.{key}: matcher {name}= must be a string, got {type(value).__name__}"
                )
            parts.append((spec.label(name), f'="{escape_label_value(value)}"'))
        matchers_text = ",".join((*self.selectors, *(n + v for n, v in sorted(parts))))
        return f"{series}{{{matchers_text}}}" if matchers_text else series

    # -- export

    def frame(self) -> pd.DataFrame:
        """One row per metric, for notebooks; labels are the service's names."""
        import pandas as pd  # lazy: the CLI and rule generation do not need pandas

        columns = ["key", "name", "type", "unit", "layer", "labels", "help"]
        rows = [
            (s.key, s.name, s.type, s.unit, s.layer, ", ".join(s.mapped_labels()), s.help)
            for s in self
        ]
        return pd.DataFrame(rows, columns=columns)

    def to_dict(self) -> dict:
        """Plain data in the mapping-file format; `from_dict` / `load_catalog` read it back."""
        from .loader import default_keys

        metrics: dict[str, Any] = {key: None for key in default_keys() if key not in self}
        metrics.update((spec.key, _spec_dict(spec, self.label_map)) for spec in self)
        return {
            **({"name": self.name} if self.name else {}),
            "selectors": list(self.selectors),
            "labels": dict(self.label_map),
            "high_cardinality": list(self._high_cardinality),
            "metrics": metrics,
        }

    def to_yaml(self) -> str:
        """`to_dict` as YAML a person can edit; `load_catalog` reads it back unchanged."""
        import yaml  # lazy: only dumps need the writer

        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, width=100,
                              default_flow_style=None)

    @classmethod
    def from_dict(cls, data: Any, source: str = "<dict>") -> Catalog:
        """Apply plain data in the mapping-file format over the default catalog."""
        from .loader import from_data

        return from_data(data, source)


def _index(metrics: Iterable[MetricSpec] | Mapping[str, MetricSpec]) -> dict[str, MetricSpec]:
    specs = metrics.values() if isinstance(metrics, Mapping) else metrics
    out: dict[str, MetricSpec] = {}
    for spec in specs:
        if not isinstance(spec, MetricSpec):
            raise TypeError(f"catalog metrics must be MetricSpec, got {type(spec).__name__}")
        if spec.key in out:
            raise _error(f"metrics.{spec.key}", "duplicate key")
        out[spec.key] = spec
    return out


def _matchers(selectors: Iterable[str]) -> tuple[str, ...]:
    _check_sequence(selectors, 'a list of matchers like job="im-server"', "selectors")
    return tuple(_matcher(text, f"selectors[{i}]") for i, text in enumerate(selectors))


def _matcher(text: Any, loc: str) -> str:
    """Validate one PromQL label matcher; return it with whitespace removed."""
    _check_text(text, loc)
    match = _MATCHER.fullmatch(text)
    if not match:
        raise _error(loc, f'not a PromQL label matcher like job="im-server" (got {_show(text)})')
    name, op, value = match.groups()
    _check_label(name, "label name", loc)
    return f"{name}{op}{value}"


def _global_label_map(label_map: Any) -> dict[str, str]:
    if not isinstance(label_map, Mapping):
        raise _error(
            "labels",
            f"must be a mapping of catalog label to service label (got {_kind(label_map)})",
        )
    owner: dict[str, str] = {}
    for name, mapped in label_map.items():
        _check_label(name, "label name", "labels")
        _check_label(mapped, "label name", f"labels.{name}")
        if mapped in owner:
            raise _error(
                f"labels.{name}",
                f"{_show(mapped)} is already the service name of {_show(owner[mapped])}",
            )
        owner[mapped] = name
    return {k: label_map[k] for k in sorted(label_map) if label_map[k] != k}


def _label_list(names: Any, loc: str) -> tuple[str, ...]:
    _check_sequence(names, "a list of label names", loc)
    names = list(names)
    for i, name in enumerate(names):
        _check_label(name, "label name", f"{loc}[{i}]")
        if name in names[:i]:
            raise _error(f"{loc}[{i}]", f"duplicate label {_show(name)}")
    return tuple(names)


def _check_unique_series(specs: Iterable[MetricSpec], blame: Iterable[str] = ()) -> None:
    """Refuse two keys exporting the same series; blame the key named in ``blame``."""
    blame = set(blame)
    owner: dict[str, MetricSpec] = {}
    for spec in specs:
        for series in spec.series_names():
            first = owner.setdefault(series, spec)
            if first is spec:
                continue
            # Blame the entry the user wrote, not the untouched default it collides with.
            blame_first = first.key in blame and spec.key not in blame
            culprit, other = (first, spec) if blame_first else (spec, first)
            raise _error(
                f"metrics.{culprit.key}.name",
                f"exports {_show(series)}, which metrics.{other.key} already exports",
            )


def _matchable_labels(spec: MetricSpec, suffix: str) -> tuple[str, ...]:
    extra = ()
    if spec.type == "histogram" and suffix == "_bucket":
        extra = ("le",)
    elif spec.type == "summary" and suffix == "":
        extra = ("quantile",)
    return TARGET_LABELS + spec.labels + extra


def _suggest(word: Any, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f" (did you mean {_show(close[0])}?)" if close else ""


# ------------------------------------------------------------ mapping-file form


def _per_metric_renames(spec: MetricSpec, global_map: Mapping[str, str]) -> dict[str, str]:
    """The label renames a metric makes beyond the global mapping."""
    return {
        name: spec.label(name)
        for name in TARGET_LABELS + spec.labels
        if spec.label(name) != global_map.get(name, name)
    }


def _spec_dict(spec: MetricSpec, global_map: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": spec.name,
        "type": spec.type,
        "unit": spec.unit,
        "help": spec.help,
        "layer": spec.layer,
        "labels": list(spec.labels),
    }
    if spec.type == "histogram":
        out["buckets"] = list(spec.buckets)
    if spec.type == "summary":
        out["quantiles"] = list(spec.quantiles)
    renames = _per_metric_renames(spec, global_map)
    if renames:
        out["label_map"] = renames
    return out


def _service_name(name: Any) -> str:
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,31}|", name):
        raise _error("name", f"must be a short service name of letters, digits, space, . _ - "
                             f"(got {name!r})")
    return name
