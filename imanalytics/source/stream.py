"""Matrix replies read as they arrive, their samples written straight where they belong.

Read whole, a reply is held three times over while it is parsed (its bytes, their CSV text,
their arrays), once for every request in flight; read as a stream it costs one block. The
cut is `frames.parse_reply`'s (``"values":[[`` can only be a key, and a sample list ends at
its first ``]]``). Each series' label set is read from the bytes just before its list, which
is where Prometheus, Thanos, Mimir and VictoriaMetrics all write it. What is left, the
reply's skeleton with ``"values":[]`` in place of every list, goes through the usual checks.
Range pulls write into the canvas's rows of a request (`canvas.Region`), raw pulls into
per-series arrays (`raw.RawSamples`).

Anything else (another key order, unquoted values, a list cut short) raises `Unstreamable`:
the request is made again and read whole, which names what is wrong, and the source reads
its later replies whole (`Transport._api_streamed`). A reply with no ``"values":[[`` at all
(an error, a proxy's re-spaced JSON) is all skeleton and parsed whole as before.
"""

from __future__ import annotations

import json
from typing import Protocol

import numpy as np

from ..frames import read_sample_lists
from .replies import _is_labelset

_VALUES = b'"values":[['
_EMPTY = b'"values":[]'
_METRIC = b'{"metric":'
_NEXT = b"],["
_END = b"]]"
_DECODER = json.JSONDecoder()


class Unstreamable(Exception):
    """The reply is not in the shape a stream reads: read it whole instead."""


class BadSamples(Exception):
    """Samples off the step grid, repeated or out of order: the server is at fault."""


class Sink(Protocol):
    """Where a stream's samples go (`canvas.Region` for range pulls, `raw.RawSamples`)."""

    def column(self, labels: dict) -> int: ...
    def write(self, column: int, t: np.ndarray, v: np.ndarray, after: int | None) -> None: ...
    def clear(self, columns: list[int]) -> None: ...


class MatrixStream:
    """One request's matrix reply, fed in pieces; each series' samples go to `sink`.

    Samples are parsed once `block` bytes are waiting, so a block is what one request holds.
    """

    def __init__(self, sink: Sink, block: int):
        self.sink, self.block = sink, block
        self._written: list[int] = []
        self.start()

    def start(self) -> None:
        """Begin a reply; what an earlier attempt wrote is cleared first."""
        self.undo()
        self._skeleton: list[bytes] = []
        self._item = 0  # where in the skeleton the current series' bytes begin
        self._pending = bytearray()
        self._column: int | None = None  # the series whose samples are arriving
        self._last: int | None = None  # its last timestamp so far

    def undo(self) -> None:
        self.sink.clear(self._written)
        self._written = []

    def feed(self, data: bytes) -> None:
        self._pending += data
        if len(self._pending) >= self.block:
            self._consume(final=False)

    def finish(self) -> bytes:
        """The reply without its sample lists (``"values":[]`` in their place)."""
        self._consume(final=True)
        if self._column is not None:
            raise Unstreamable("a sample list without its end")
        return b"".join(self._skeleton)

    def _consume(self, final: bool) -> None:
        data, pos, pieces = self._pending, 0, []
        # A series still open from the last block: its next samples must follow its last.
        after = self._last if self._column is not None else None
        growing = False  # the last piece's series is still open
        while pos < len(data):
            if self._column is None:
                found = data.find(_VALUES, pos)
                if found < 0:  # keep a tail that may be the start of the next key
                    keep = len(data) if final else max(pos, len(data) - len(_VALUES) + 1)
                    self._skeleton.append(bytes(data[pos:keep]))
                    pos = keep
                    break
                self._skeleton.append(bytes(data[pos:found]))
                self._open()
                growing = False
                self._skeleton.append(_EMPTY)
                pos = found + len(_VALUES)
                continue
            end = data.find(_END, pos)
            stop = end if end >= 0 else data.rfind(_NEXT, pos)
            if stop < 0:
                break
            pieces.append((self._column, pos, stop))
            growing = end < 0
            if end >= 0:
                self._column, self._item = None, len(self._skeleton)
                pos = end + len(_END)
            else:
                pos = stop + len(_NEXT)
        if pieces:
            last = self._samples(data, pieces, after)
            if growing:
                self._last = last
        del data[:pos]

    def _open(self) -> None:
        """Start a series: its label set is the ``{"metric":{...},`` just before its list."""
        tail = b"".join(self._skeleton[self._item:])
        at = tail.rfind(_METRIC)
        if at < 0:
            raise Unstreamable("no label set before a sample list")
        try:
            text = tail[at + len(_METRIC):].decode()
            labels, end = _DECODER.raw_decode(text)
        except ValueError:
            raise Unstreamable("an unreadable label set") from None
        if text[end:].strip() != "," or not _is_labelset(labels):
            raise Unstreamable("an unexpected item shape")
        self._column, self._last = self.sink.column(labels), None
        self._written.append(self._column)

    def _samples(self, data: bytearray, pieces: list[tuple[int, int, int]],
                 after: int | None) -> int:
        """Write the samples ``t,"v"],[...,[t,"v"`` of each ``(column, first, last)`` piece,
        read in one pass; the first piece's times must follow `after`. The last time."""
        spans = [(first, last) for _, first, last in pieces]
        t, v = read_sample_lists(data, spans)
        ends = np.cumsum([data.count(_NEXT, a, b) + 1 for a, b in spans])
        if ends[-1] != len(t) or sum(data.count(b'"', a, b) for a, b in spans) != 2 * len(t):
            raise Unstreamable("samples that are not [time, \"value\"] pairs")
        for (column, _, _), a, b in zip(pieces, np.r_[0, ends[:-1]], ends, strict=True):
            try:
                self.sink.write(column, t[a:b], v[a:b], after)
            except ValueError as exc:
                raise BadSamples(str(exc)) from None
            after = None
        return int(t[-1])


MIN_BLOCK, MAX_BLOCK = 1 << 16, 1 << 18


def block_size(pull_samples: int) -> int:
    """Bytes parsed at a time: 1/32 byte per sample of the pull (a sample is 8 bytes in the
    frame, ~25 in a reply), 64 to 256 KiB. Each worker holds a few times its block while
    parsing it; smaller blocks cost time per block."""
    return int(np.clip(pull_samples // 32, MIN_BLOCK, MAX_BLOCK))
