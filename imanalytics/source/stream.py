"""Matrix replies read as they arrive, their samples written straight where they belong.

Read whole, a reply is held three times over while it is parsed (its bytes, their CSV text,
their arrays), once for every request in flight; read as a stream it costs one block. The
cut is `frames.parse_reply`'s (``"values":[[`` can only be a key, and a sample list ends at
its first ``]]``). Each series' label set is read from the bytes just before its list, which
is where Prometheus, Thanos, Mimir and VictoriaMetrics all write it. What is left, the
reply's skeleton with ``"values":[]`` in place of every list, goes through the usual checks.
Range pulls write into the canvas's rows of a request (`canvas.Region`), raw pulls into
per-series arrays (`raw.RawSamples`).

A reply re-spaced by a proxy (``"values": [[``, indented, CRLF: JSON's insignificant
whitespace anywhere) streams too. Its form is told from its first sample list: compact,
lists are cut with plain byte searches (the fast path); spaced, with patterns allowing
whitespace between the tokens, and a sample list's line breaks become spaces in the pass
that turns it into CSV (Arrow trims spaces around a number, as in compact replies, and
refuses them inside one). A later list in the other form is missed by a compact reply's
searches and stays in the skeleton, read whole there.

An item whose samples come before its label set (``{"values":[[...]],"metric":{...}}``:
keys in the other order) streams too: its samples are held as arrays (16 bytes a sample,
against ~25 in the reply) until the label set just after them is read.
Anything else (other keys between the two, unquoted values, a list cut short) raises
`Unstreamable`: the request is made again and read whole, which names what is wrong, and
the source reads its later replies whole (`Transport._api_streamed`). A reply with no
sample list at all (an error, a vector) is all skeleton and parsed whole as before.
"""

from __future__ import annotations

import json
import re
from typing import Protocol

import numpy as np
import pyarrow as pa

from ..frames import read_sample_lists
from .replies import _is_labelset

_VALUES = b'"values":[['
_EMPTY = b'"values":[]'
_NEXT = b"],["
_END = b"]]"
_DECODER = json.JSONDecoder()
_HELD = -1  # the column of samples whose label set comes after them

# The same marks in a re-spaced reply: JSON allows space, tab, CR and LF between tokens.
_WS = rb"[ \t\r\n]*"
_SPACES = b" \t\r\n"
_VALUES_SPACED = re.compile(rb'"values"' + _WS + b":" + _WS + rb"\[" + _WS + rb"\[")
_METRIC_SPACED = re.compile(r'\{[ \t\r\n]*"metric"[ \t\r\n]*:')
_METRIC_AFTER = re.compile(r'[ \t\r\n]*,[ \t\r\n]*"metric"[ \t\r\n]*:[ \t\r\n]*')
_END_SPACED = re.compile(rb"\]" + _WS + rb"\]")


def _prefixes(tokens: list[bytes]) -> re.Pattern:
    """A pattern matching any non-empty start of `tokens` at the end of the bytes."""
    pattern = b""
    for token in reversed(tokens[1:]):
        pattern = b"(?:" + token + pattern + b")?"
    return re.compile(tokens[0] + pattern + rb"\Z")


# The start of a spaced ``"values" : [ [`` a block may end with (kept for the next block).
_VALUES_START = _prefixes([b'"', b"v", b"a", b"l", b"u", b"e", b"s", b'"' + _WS,
                           b":" + _WS, rb"\[" + _WS])


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
        self._spaced: bool | None = None  # the reply's form, known at its first list
        self._held: list[tuple[np.ndarray, np.ndarray]] | None = None  # see `_open`

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
        if self._held is not None:
            self._place_held(self._tail())
        return b"".join(self._skeleton)

    def _consume(self, final: bool) -> None:
        data, pos, pieces = self._pending, 0, []
        # A series still open from the last block: its next samples must follow its last.
        after = self._last if self._column is not None else None
        growing = False  # the last piece's series is still open
        while pos < len(data):
            if self._column is None:
                found, first = self._find_list(data, pos)
                if found < 0:  # keep a tail that may be the start of the next key
                    keep = len(data) if final else self._key_start(data, pos)
                    self._skeleton.append(bytes(data[pos:keep]))
                    pos = keep
                    break
                self._skeleton.append(bytes(data[pos:found]))
                if self._held is not None and pieces:  # held samples before their labels
                    self._samples(data, pieces, after)
                    pieces, after = [], None
                self._open()
                growing = False
                self._skeleton.append(_EMPTY)
                pos = first
                continue
            stop, resume, ended = self._find_stop(data, pos)
            if stop < 0:
                break
            pieces.append((self._column, pos, stop))
            growing = not ended
            if ended:
                self._column, self._item = None, len(self._skeleton)
            pos = resume
        if pieces:
            last = self._samples(data, pieces, after)
            if growing:
                self._last = last
        del data[:pos]

    def _find_list(self, data: bytearray, pos: int) -> tuple[int, int]:
        """Where the next ``"values":[[`` begins and its first sample does (-1 if none).
        The first one found tells the reply's form."""
        if self._spaced is False:
            found = data.find(_VALUES, pos)
            return found, found + len(_VALUES)
        match = _VALUES_SPACED.search(data, pos)
        if match is None:
            return -1, -1
        if self._spaced is None:
            self._spaced = match.group() != _VALUES
        return match.start(), match.end()

    def _key_start(self, data: bytearray, pos: int) -> int:
        """Where a tail that may begin the next ``"values":[[`` starts (the end if none)."""
        if self._spaced is False:
            return max(pos, len(data) - len(_VALUES) + 1)
        match = _VALUES_START.search(data, pos)
        return len(data) if match is None else match.start()

    def _find_stop(self, data: bytearray, pos: int) -> tuple[int, int, bool]:
        """The end of the samples complete from `pos`, where the next ones start, and
        whether the list ends there; (-1, -1, False) if no sample is complete yet."""
        if not self._spaced:
            end = data.find(_END, pos)
            if end >= 0:
                return end, end + len(_END), True
            stop = data.rfind(_NEXT, pos)
            return stop, stop + len(_NEXT), False
        match = _END_SPACED.search(data, pos)
        if match is not None:
            return match.start(), match.end(), True
        begins = data.rfind(b"[", pos)  # the last sample's start, its predecessor's end
        stop = data.rfind(b"]", pos, begins) if begins >= 0 else -1
        if stop < 0:
            return -1, -1, False
        if data[stop + 1:begins].strip(_SPACES) != b",":  # the one gap no piece holds
            raise Unstreamable("samples that are not [time, \"value\"] pairs")
        return stop, begins + 1, False

    def _open(self) -> None:
        """Start a series. Its label set is the ``{"metric":{...},`` just before its list,
        or, in an item that begins with its list, the ``,"metric":{...}`` just after it: its
        samples are then held (as arrays, one series' worth) until that is read."""
        text = self._tail()
        if self._held is not None:
            text = self._place_held(text)
        if text.rstrip(" \t\r\n").endswith("{"):
            self._column, self._last, self._held = _HELD, None, []
            return
        if self._spaced:
            marks = list(_METRIC_SPACED.finditer(text))
            at = marks[-1].end() if marks else -1
        else:
            at = text.rfind('{"metric":')
            at = at + len('{"metric":') if at >= 0 else -1
        if at < 0:
            raise Unstreamable("no label set before a sample list")
        text = text[at:].lstrip(" \t\r\n")
        labels, end = self._labels(text, 0)
        if text[end:].strip(" \t\r\n") != ",":
            raise Unstreamable("an unexpected item shape")
        self._column, self._last = self.sink.column(labels), None
        self._written.append(self._column)

    def _place_held(self, text: str) -> str:
        """Write the held series under the label set `text` begins with; the rest of it."""
        match = _METRIC_AFTER.match(text)
        if match is None:
            raise Unstreamable("no label set after a sample list")
        labels, end = self._labels(text, match.end())
        column = self.sink.column(labels)
        self._written.append(column)
        held, self._held = self._held, None
        self._write(column, np.concatenate([t for t, _ in held]),
                    np.concatenate([v for _, v in held]), None)
        return text[end:]

    def _tail(self) -> str:
        """The reply's text since the last list (the current item's start)."""
        try:
            return b"".join(self._skeleton[self._item:]).decode()
        except UnicodeDecodeError:
            raise Unstreamable("an unreadable label set") from None

    @staticmethod
    def _labels(text: str, at: int) -> tuple[dict, int]:
        try:
            labels, end = _DECODER.raw_decode(text, at)
        except ValueError:
            raise Unstreamable("an unreadable label set") from None
        if not _is_labelset(labels):
            raise Unstreamable("an unexpected item shape")
        return labels, end

    def _write(self, column: int, t: np.ndarray, v: np.ndarray, after: int | None) -> None:
        try:
            self.sink.write(column, t, v, after)
        except ValueError as exc:
            raise BadSamples(str(exc)) from None

    def _samples(self, data: bytearray, pieces: list[tuple[int, int, int]],
                 after: int | None) -> int:
        """Write the samples ``t,"v"],[...,[t,"v"`` of each ``(column, first, last)`` piece,
        read in one pass; the first piece's times must follow `after`. The last time."""
        spans = [(first, last) for _, first, last in pieces]
        try:
            t, v = read_sample_lists(data, spans, bool(self._spaced))
        except pa.ArrowException:
            raise Unstreamable("samples that are not numbers") from None
        ends = np.cumsum([data.count(b"]", a, b) + 1 for a, b in spans])
        if ends[-1] != len(t) or sum(data.count(b'"', a, b) for a, b in spans) != 2 * len(t):
            raise Unstreamable("samples that are not [time, \"value\"] pairs")
        for (column, _, _), a, b in zip(pieces, np.r_[0, ends[:-1]], ends, strict=True):
            if column == _HELD:  # copied: views would keep the whole block's arrays
                self._held.append((t[a:b].copy(), v[a:b].copy()))
            else:
                self._write(column, t[a:b], v[a:b], after)
            after = None
        return int(t[-1])


MIN_BLOCK, MAX_BLOCK = 1 << 16, 1 << 18


def block_size(pull_samples: int) -> int:
    """Bytes parsed at a time: 1/32 byte per sample of the pull (a sample is 8 bytes in the
    frame, ~25 in a reply), 64 to 256 KiB. Each worker holds a few times its block while
    parsing it; smaller blocks cost time per block."""
    return int(np.clip(pull_samples // 32, MIN_BLOCK, MAX_BLOCK))
