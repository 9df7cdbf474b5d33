"""A runner for Prometheus' PromQL test files (the `.test` format of promql/promqltest).

Reads ``load`` blocks (series notation ``0+10x100``, ``_``, ``_x3``, ``stale``), ``clear``,
``eval instant at``, ``eval range from ... to ... step``, ``eval_fail``, ``eval_ordered`` and
``eval_warn``/``eval_info`` (their annotations are not checked; their results are), runs each
case through the local evaluator at the file's Prometheus version, and sorts the outcome:

- passed: values (relative tolerance 1e-6, NaN equal to NaN), label sets, NaN vs missing, and
  the order for ``eval_ordered`` match; an ``eval_fail`` case fails;
- wrong: a result differs, or an ``eval_fail`` case evaluates;
- error: the evaluator raises on a case Prometheus evaluates;
- refused: the evaluator refuses the construct (UnsupportedError), tallied by construct;
- histogram: the case reads native-histogram samples (out of scope, not counted).

Instant cases also run as range queries from t-1m to t+1m at 1m steps, and the middle step
must give the same result, as Prometheus' harness checks.

The files are read from ``../shared/promql-testdata`` beside the repository, or from the
directory named by ``IMANALYTICS_PROMQL_TESTDATA``.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from imanalytics.promql import PromQLError, Semantics, UnsupportedError
from imanalytics.promql.evaluator import evaluate_result
from imanalytics.promql.lexer import parse_duration_ms
from imanalytics.promql.values import Scalar
from imanalytics.samples import Series, label_key

TAGS = ("v2.42.0", "v2.53.0", "v3.0.0")
ENV = "IMANALYTICS_PROMQL_TESTDATA"
OUTCOMES = ("passed", "wrong", "error", "refused", "histogram")
STALE = np.array([0x7FF0000000000002], dtype=np.uint64).view(np.float64)[0]
EPSILON = 1e-6
_MIN_NORMAL = 2.2250738585072014e-308

_EVAL_INSTANT = re.compile(
    r"^eval(?:_(fail|ordered|warn|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$")
_EVAL_RANGE = re.compile(
    r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$")
_LOAD = re.compile(r"^load(?:_(with_nhcb))?\s+(.+?)$")
_NUM = r"(?:[+-]?(?:Inf|inf|NaN|nan|0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?))"
_ITEM = re.compile(rf"^({_NUM})(?:([+-])({_NUM}))?x(\d+)$")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def testdata_dir() -> Path:
    """Where the test files are: $IMANALYTICS_PROMQL_TESTDATA or ../shared beside the repo."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    return Path(__file__).resolve().parents[1].parent / "shared" / "promql-testdata"


def missing_tags(root: Path) -> list[str]:
    return [tag for tag in TAGS if not (root / tag).is_dir()]


# -- series notation ----------------------------------------------------------------------

def parse_series_line(line: str) -> tuple[dict[str, str], list[float | None] | None]:
    """'name{a="b"} 1+1x3 _ stale' -> labels and values (None: omitted); values are None
    altogether when the line holds native-histogram samples."""
    text = line.strip()
    labels: dict[str, str] = {}
    pos = 0
    name = _NAME.match(text)
    if name:
        labels["__name__"] = name.group()
        pos = name.end()
    if text[pos:pos + 1] == "{":
        close = _closing_brace(text, pos)
        inner = text[pos + 1:close]
        for m in _LABEL.finditer(inner):
            labels[m.group(1)] = _unquote(m.group(2))
        pos = close + 1
    rest = text[pos:].strip()
    if "{{" in rest:
        return labels, None
    return labels, parse_values(rest)


def _closing_brace(text: str, pos: int) -> int:
    quoted = False
    i = pos + 1
    while i < len(text):
        char = text[i]
        if char == "\\" and quoted:
            i += 2
            continue
        if char == '"':
            quoted = not quoted
        elif char == "}" and not quoted:
            return i
        i += 1
    raise ValueError(f"unclosed label set in {text!r}")


def _unquote(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), value)


def parse_values(text: str) -> list[float | None]:
    values: list[float | None] = []
    for token in text.split():
        if token == "_":
            values.append(None)
        elif token.startswith("_x"):
            values += [None] * int(token[2:])
        elif token == "stale":
            values.append(STALE)
        elif (m := _ITEM.match(token)):
            start, times = _float(m.group(1)), int(m.group(4))
            delta = _float(m.group(3)) * (-1 if m.group(2) == "-" else 1) if m.group(2) else 0.0
            values += [start + delta * i for i in range(times + 1)]
        else:
            values.append(_float(token))
    return values


def _float(text: str) -> float:
    body = text.lstrip("+-")
    sign = -1.0 if text.startswith("-") else 1.0
    if body[:2].lower() == "0x":
        return sign * float(int(body, 16))
    return float(text)


def is_stale(value: float | None) -> bool:
    return value is not None and np.float64(value).view(np.uint64) == STALE.view(np.uint64)


def parse_time(text: str) -> int:
    text = text.strip()
    if re.fullmatch(r"\d+", text):
        return int(text) * 1000
    return parse_duration_ms(text)


# -- commands -----------------------------------------------------------------------------

@dataclass
class Load:
    interval_ms: int
    series: list[tuple[dict[str, str], list[float | None] | None]]
    nhcb: bool = False


@dataclass
class Eval:
    line: int
    expr: str
    kind: str  # "instant" or "range"
    start: int
    end: int = 0
    step: int = 0
    fail: bool = False
    ordered: bool = False
    expected: list[tuple[dict[str, str] | None, list[float | None] | None]] = field(
        default_factory=list)


def parse_file(text: str) -> list[object]:
    lines = text.splitlines()
    commands: list[object] = []
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if not line or line.startswith("#"):
            continue
        if line == "clear":
            commands.append("clear")
            continue
        block = []
        while i < len(lines) and lines[i].strip():
            if not lines[i].strip().startswith("#"):
                block.append(lines[i])
            i += 1
        if (m := _LOAD.match(line)):
            commands.append(Load(parse_duration_ms(m.group(2)),
                                 [parse_series_line(b) for b in block], bool(m.group(1))))
        elif (m := _EVAL_INSTANT.match(line)):
            at = parse_time(m.group(2) or "0")
            commands.append(Eval(i - len(block), m.group(3), "instant", at,
                                 fail=m.group(1) == "fail", ordered=m.group(1) == "ordered",
                                 expected=[_expected_line(b) for b in block]))
        elif (m := _EVAL_RANGE.match(line)):
            commands.append(Eval(i - len(block), m.group(5), "range", parse_time(m.group(2)),
                                 parse_time(m.group(3)), parse_duration_ms(m.group(4)),
                                 fail=m.group(1) == "fail",
                                 expected=[_expected_line(b) for b in block]))
        else:
            raise ValueError(f"unknown command {line!r}")
    return commands


def _expected_line(text: str):
    stripped = text.strip()
    if re.fullmatch(_NUM, stripped):
        return None, [_float(stripped)]  # a scalar
    if stripped.startswith('"'):
        return None, None  # a string result
    return parse_series_line(stripped)


# -- running ------------------------------------------------------------------------------

@dataclass
class Outcome:
    tag: str
    file: str
    line: int
    expr: str
    kind: str  # one of OUTCOMES
    detail: str = ""


class Storage:
    """The series loaded since the last `clear`."""

    def __init__(self):
        self.points: dict[tuple, tuple[dict[str, str], dict[int, float]]] = {}
        self.histogram_names: set[str] = set()

    def load(self, cmd: Load) -> None:
        for labels, values in cmd.series:
            if values is None:
                self.histogram_names.add(labels.get("__name__", ""))
                continue
            _, points = self.points.setdefault(label_key(labels), (labels, {}))
            for i, v in enumerate(values):
                if v is not None:
                    points[i * cmd.interval_ms] = v
            if cmd.nhcb and labels.get("__name__", "").endswith("_bucket"):
                self.histogram_names.add(labels["__name__"][:-len("_bucket")])

    def series(self) -> list[Series]:
        out = []
        for labels, points in self.points.values():
            t = np.array(sorted(points), dtype=np.int64)
            v = np.array([points[k] for k in t], dtype=np.float64)
            out.append(Series(dict(labels), t, v))
        return out

    def reads_histograms(self, expr: str) -> bool:
        if self.histogram_names and re.search(r"(?<![\w:])\{", expr):
            return True  # a selector without a metric name may read them
        return any(name and re.search(rf"(?<![\w:]){re.escape(name)}(?![\w:])", expr)
                   for name in self.histogram_names)


def harness_semantics(tag: str) -> Semantics:
    """The version's behaviour as Prometheus' own harness runs it: 3.0's test engine turns
    on delayed name removal (EnableDelayedNameRemoval)."""
    sem = Semantics.for_version(tag.lstrip("v"))
    return replace(sem, delayed_name_removal=sem.version.startswith("3."))


def run_file(path: Path, tag: str) -> list[Outcome]:
    version = harness_semantics(tag)
    storage = Storage()
    data: list[Series] | None = None
    out = []
    for cmd in parse_file(path.read_text()):
        if cmd == "clear":
            storage, data = Storage(), None
        elif isinstance(cmd, Load):
            storage.load(cmd)
            data = None
        else:
            if data is None:
                data = storage.series()
            kind, detail = run_case(cmd, data, storage, version)
            out.append(Outcome(tag, path.name, cmd.line, cmd.expr, kind, detail))
    return out


def run_case(cmd: Eval, data, storage: Storage, version: Semantics) -> tuple[str, str]:
    if storage.reads_histograms(cmd.expr) or any(
            values is None and labels is not None for labels, values in cmd.expected):
        return "histogram", ""
    if cmd.kind == "instant":
        runs = [([cmd.start], 0), ([cmd.start - 60_000, cmd.start, cmd.start + 60_000], 1)]
    else:
        steps = list(range(cmd.start, cmd.end + 1, cmd.step))
        runs = [(steps, None)]
    for steps, column in runs:
        try:
            result = evaluate_result(cmd.expr, data, steps, semantics=version,
                                     sort_by_labels=False)
        except UnsupportedError as err:
            return "refused", construct_of(err)
        except PromQLError as err:
            return ("passed", "") if cmd.fail else ("error", str(err))
        except Exception as err:  # noqa: BLE001 - any crash is an error of the evaluator
            return "error", f"{type(err).__name__}: {err}"
        if cmd.fail:
            return "wrong", "evaluated, Prometheus fails"
        problem = compare(cmd, result, steps, column)
        if problem:
            mode = "" if column in (None, 0) else " (range mode)"
            return "wrong", problem + mode
    return "passed", ""


def construct_of(err: UnsupportedError) -> str:
    return re.sub(r" in [\'\"].*$", "", err.construct).strip() or err.construct


def compare(cmd: Eval, result, steps: list[int], column: int | None) -> str:
    """What differs between `result` and the case's expectation ("" if nothing)."""
    if cmd.expected and cmd.expected[0][0] is None:
        if not isinstance(result, Scalar):
            return "expected a scalar"
        return "" if almost_equal(cmd.expected[0][1][0], result.values[column]) else (
            f"scalar {result.values[column]} != {cmd.expected[0][1][0]}")
    if isinstance(result, Scalar):
        return "got a scalar, expected a vector"
    got = {}
    order = []
    for labels, values, present in zip(result.labels, result.values, result.present,
                                       strict=True):
        cols = [column] if column is not None else range(len(steps))
        points = {steps[c]: values[c] for c in cols if present[c]}
        if points:
            got[label_key(labels)] = points
            order.append(label_key(labels))
    expected = {}
    for labels, values in cmd.expected:
        if column is not None:
            expected[label_key(labels)] = {steps[column]: values[0]}
        else:
            expected[label_key(labels)] = {steps[i]: v for i, v in enumerate(values)
                                           if v is not None and i < len(steps)}
    for key in got:
        if key not in expected:
            return f"unexpected series {dict(key)}"
    for key, points in expected.items():
        if key not in got:
            return f"missing series {dict(key)}"
        if set(points) != set(got[key]):
            return f"{dict(key)}: points at {sorted(got[key])}, expected {sorted(points)}"
        for t, v in points.items():
            if not almost_equal(v, got[key][t]):
                return f"{dict(key)} at {t} ms: {got[key][t]!r} != {v!r}"
    if cmd.ordered and column == 0 and order != [label_key(ls) for ls, _ in cmd.expected]:
        return "order differs"
    return ""


def almost_equal(a: float, b: float) -> bool:
    """Prometheus' almostEqual with the harness' epsilon."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if a == b:
        return True
    diff, total = abs(a - b), abs(a) + abs(b)
    if a == 0 or b == 0 or total < _MIN_NORMAL:
        return diff < EPSILON * _MIN_NORMAL
    return diff / min(total, 1.7976931348623157e308) < EPSILON


def run_tag(root: Path, tag: str) -> list[Outcome]:
    out = []
    for path in sorted((root / tag).glob("*.test")):
        out += run_file(path, tag)
    return out


def table(outcomes: list[Outcome]) -> str:
    """Markdown table of outcomes per tag, and the refused constructs."""
    rows = ["| tag | cases (float) | passed | wrong | errors | refused | refused % | "
            "native-histogram cases (excluded) |", "|---|---|---|---|---|---|---|---|"]
    for tag in TAGS:
        counts = Counter(o.kind for o in outcomes if o.tag == tag)
        floats = sum(counts[k] for k in OUTCOMES[:4])
        share = 100 * counts["refused"] / floats if floats else 0.0
        rows.append(f"| {tag} | {floats} | {counts['passed']} | {counts['wrong']} | "
                    f"{counts['error']} | {counts['refused']} | {share:.1f} % | "
                    f"{counts['histogram']} |")
    refused = Counter((o.detail) for o in outcomes if o.kind == "refused")
    if refused:
        rows.append("")
        rows.append("Refused constructs (cases, all tags): " + ", ".join(
            f"{name} {count}" for name, count in refused.most_common()))
    return "\n".join(rows)
