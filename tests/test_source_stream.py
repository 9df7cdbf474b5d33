"""Range replies parsed as they arrive: any cut of the bytes gives the whole parse's frame."""

from __future__ import annotations

import json
import logging
import tracemalloc

import numpy as np
import pytest
from hostile_prometheus import HostilePrometheus, body_of, echo

from imanalytics.frames import Grid, parse_reply
from imanalytics.source import PromSource, QueryError
from imanalytics.source.canvas import Canvas
from imanalytics.source.raw import RawSamples
from imanalytics.source.stream import BadSamples, MatrixStream, Unstreamable

T0 = 1_700_000_000_000
STEP = 500
N = 40
TRICKY = ['"values":[[1,"2"]]', "a]]b", "\\", '{"metric":{"x":"1"},', 'x\\"values\\":[[',
          '"values" : [ [1, "2"] ]', "a ] ]: [ [b", '{ "metric" : {"x": "1"}, ',
          "caf\u00e9 \u2603\t\r\n", 'say "hi" , [x]']


def _compact(reply: dict) -> bytes:
    return json.dumps(reply, separators=(",", ":")).encode()


def _crlf(reply: dict) -> bytes:
    return json.dumps(reply, indent=2).replace("\n", "\r\n").encode()


# A proxy's re-spacing: Python's defaults, pretty-printed, CRLF, tabs, raw UTF-8.
SPACED = {
    "default separators": lambda r: json.dumps(r).encode(),
    "indent=1": lambda r: json.dumps(r, indent=1).encode(),
    "indent=2": lambda r: json.dumps(r, indent=2).encode(),
    "CRLF": _crlf,
    "tabs, UTF-8": lambda r: json.dumps(r, indent="\t", ensure_ascii=False).encode(),
}


def _values_first(reply: dict) -> dict:
    """`reply` with each item's samples before its label set (keys in reverse order)."""
    items = [{key: item[key] for key in sorted(item, reverse=True)}
             for item in reply["data"]["result"]]
    return {**reply, "data": {**reply["data"], "result": items}}


REORDERED = {
    "values first": lambda r: _compact(_values_first(r)),
    "values first, CRLF": lambda r: _crlf(_values_first(r)),
}
FORMS = {"compact": _compact, **SPACED, **REORDERED}


def _reply(n_series: int = len(TRICKY), n: int = N, start: int = T0) -> dict:
    """Every `n`-th value special; one series starts late, one label value is tricky."""
    rng = np.random.default_rng(n_series)
    specials = ["NaN", "+Inf", "-Inf", "1e-300", "0.30000000000000004", "-0", "5e-324"]
    items = []
    for k in range(n_series):
        first = k % 3
        values = [[(start + STEP * i) / 1000, repr(float(rng.gamma(2, 100)))]
                  for i in range(first, n)]
        values[k % len(values)][1] = specials[k % len(specials)]
        labels = {"__name__": "im_x", "k": str(k), "odd": TRICKY[k % len(TRICKY)]}
        items.append({"metric": labels, "values": values})
    return {"status": "success", "data": {"resultType": "matrix", "result": items},
            "warnings": ["partial"]}


def _whole(body: bytes, grid: Grid) -> Canvas:
    canvas = Canvas(grid)
    canvas.place(parse_reply(body)["data"]["result"], grid)
    return canvas


def _streamed(body: bytes, grid: Grid, piece: int, block: int,
              chunk: Grid | None = None) -> tuple[Canvas, bytes]:
    canvas = Canvas(grid)
    stream = MatrixStream(canvas.region(chunk or grid), block)
    for at in range(0, len(body), piece):
        stream.feed(body[at:at + piece])
    return canvas, stream.finish()


def _same(a: Canvas, b: Canvas) -> None:
    assert a.labelsets == b.labelsets
    np.testing.assert_array_equal(a.values[:, :len(a)], b.values[:, :len(b)])


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("piece, block", [(1, 1), (3, 16), (7, 1000), (64, 64),
                                          (1000, 1), (4096, 1 << 16), (1 << 20, 1 << 20)])
def test_any_cut_of_a_reply_fills_the_frame_as_the_whole_parse(form, piece, block):
    body = FORMS[form](_reply())
    grid = Grid(T0, STEP, N)
    canvas, skeleton = _streamed(body, grid, piece, block)
    _same(canvas, _whole(body, grid))
    _same(canvas, _whole(_compact(_reply()), grid))
    rest = json.loads(skeleton)
    assert rest["warnings"] == ["partial"]
    assert [item["values"] for item in rest["data"]["result"]] == [[]] * len(TRICKY)
    assert [item["metric"] for item in rest["data"]["result"]] == canvas.labelsets


@pytest.mark.parametrize("form", [*SPACED, *REORDERED])
def test_every_cut_point_of_a_spaced_reply_gives_the_whole_parse(form):
    body = FORMS[form](_reply(n_series=3, n=5))
    grid = Grid(T0, STEP, 5)
    whole = _whole(body, grid)
    for cut in range(1, len(body)):
        canvas = Canvas(grid)
        stream = MatrixStream(canvas.region(grid), 1)
        stream.feed(body[:cut])
        stream.feed(body[cut:])
        assert len(json.loads(stream.finish())["data"]["result"]) == 3
        _same(canvas, whole)


def _raw(body: bytes, piece: int, block: int) -> list:
    samples = RawSamples()
    stream = MatrixStream(samples, block)
    for at in range(0, len(body), piece):
        stream.feed(body[at:at + piece])
    stream.finish()
    return samples.series()


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("piece, block", [(1, 1), (5, 40), (333, 1000), (1 << 20, 1 << 20)])
def test_raw_samples_stream_from_any_form_as_the_whole_parse(form, piece, block):
    body = FORMS[form](_reply())
    whole = parse_reply(body)["data"]["result"]
    got = _raw(body, piece, block)
    assert [s.labels for s in got] == [item["metric"] for item in whole]
    for s, item in zip(got, whole, strict=True):
        np.testing.assert_array_equal(s.t, item["t"])
        np.testing.assert_array_equal(s.v, item["v"])


def test_a_series_after_a_block_boundary_starts_afresh():
    # Cut inside the first series, just after its end, then the rest: the second series'
    # early times must not be compared with the first one's late ones.
    body = _compact(_reply(n_series=2))
    end = body.index(b"]]", body.index(b'"values":[[')) + 2
    grid = Grid(T0, STEP, N)
    canvas = Canvas(grid)
    stream = MatrixStream(canvas.region(grid), 1)
    for piece in (body[:end // 2], body[end // 2:end + 3], body[end + 3:]):
        stream.feed(piece)
    stream.finish()
    _same(canvas, _whole(body, grid))


def test_a_chunk_writes_only_its_own_rows():
    grid = Grid(T0, STEP, 3 * N)
    chunk = Grid(T0 + N * STEP, STEP, N)
    canvas, _ = _streamed(_compact(_reply(start=chunk.start)), grid, 100, 100, chunk)
    assert np.isnan(canvas.values[:N]).all() and np.isnan(canvas.values[2 * N:]).all()
    whole = Canvas(chunk)
    whole.place(parse_reply(_compact(_reply(start=chunk.start)))["data"]["result"], chunk)
    np.testing.assert_array_equal(canvas.values[N:2 * N, :len(canvas)],
                                  whole.values[:, :len(whole)])
    assert grid.offset(chunk.start) == N


def test_replies_without_sample_lists_pass_through_as_their_skeleton():
    grid = Grid(T0, STEP, N)
    error = b'{"status":"error","errorType":"bad_data","error":"parse error"}'
    assert _streamed(error, grid, 5, 5)[1] == error
    empty = json.dumps({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"a": "values"}, "values": []}]}}, indent=2).encode()
    assert _streamed(empty, grid, 1, 1)[1] == empty


def test_a_compact_reply_leaves_a_spaced_list_to_the_whole_parse():
    # Its form is told by its first list; a later one in another form stays in the
    # skeleton, where the whole parse reads it.
    body = _compact(_reply(n_series=2))
    cut = body.rindex(b'"values":[[') + len(b'"values":')
    body = body[:cut] + b" " + body[cut:]
    grid = Grid(T0, STEP, N)
    canvas, skeleton = _streamed(body, grid, 100, 100)
    assert len(canvas) == 1 and len(parse_reply(skeleton)["data"]["result"][1]["t"]) > 0
    canvas.place(parse_reply(skeleton)["data"]["result"], grid)
    _same(canvas, _whole(body, grid))


def _item_body(item: str) -> bytes:
    return b'{"status":"success","data":{"resultType":"matrix","result":[' + item.encode() + b"]}}"


@pytest.mark.parametrize("item, why", [
    ('{"values":[[1700000000,"1"]],"x":2,"metric":{"a":"1"}}', "no label set after"),
    ('{"values":[[1700000000,"1"]],"metric":{"a":1}}', "item shape"),
    ('{"values":[[1700000000,"1"]]}', "no label set after"),
    ('{"x":{"values":[[1700000000,"1"]]},"metric":{"a":"1"}}', "no label set after"),
    ('{"metric":{"a":"1"},"values":[[1700000000,1]]}', "pairs"),
    ('{"metric":{"a":1},"values":[[1700000000,"1"]]}', "item shape"),
    ('{"metric":{"a":"1"},"x":2,"values":[[1700000000,"1"]]}', "item shape"),
    ('{"metric":{"a":"1"},"values":[[1700000000,"x"]]}', "not numbers"),
    ('{"metric": {"a": "1"}, "values": [[1700000000, 1]]}', "pairs"),
    ('{"metric": {"a": "1"}, "values": [[1700000000, "1 2"]]}', "not numbers"),
    ('{"metric": {"a": "1"}, "values": [[1700000000, "1\t2"]]}', "not numbers"),
    ('{"metric": {"a": "1"}, "values": [[17000 00000, "1"]]}', "not numbers"),
    ('{"metric": {"a": "1"}, "values": [[1700000000, "1\\n2"]]}', "not numbers"),
    ('{"metric": {"a": "1"}, "values": [[1700000000, "1\r\n2"]]}', "not numbers"),
    ('{"metric": {"a": "1"}, "values": [[1700000000, "1"] [1700000000.5, "1"]]}', "pairs"),
    ('{"values": [[1700000000, "1"]], "metric": {"a": 1}}', "item shape"),
    ('{"values": [[1700000000, "1"]]}, {"metric": {"a": "1"}}', "no label set after"),
])
def test_replies_in_other_shapes_are_left_to_the_whole_parse(item, why):
    with pytest.raises(Unstreamable, match=why):
        _streamed(_item_body(item), Grid(T0, STEP, 4), 7, 8)


def test_a_sample_list_cut_short_is_left_to_the_whole_parse():
    cut = _item_body('{"metric":{"a":"1"},"values":[[1700000000,"1"],[1700000000.5,"2"]')
    with pytest.raises(Unstreamable, match="without its end"):
        _streamed(cut[:cut.rindex(b"]]")], Grid(T0, STEP, 4), 7, 8)


@pytest.mark.parametrize("values, why", [
    ([[T0 / 1000, "1"], [T0 / 1000 + 0.25, "2"]], "off the step grid"),
    ([[T0 / 1000 + 10, "1"]], "off the step grid"),
    ([[T0 / 1000, "1"], [T0 / 1000 + 0.5, "2"], [T0 / 1000 + 0.5, "3"]], "repeated"),
    ([[T0 / 1000 + 1, "1"], [T0 / 1000 + 0.5, "2"]], "unordered"),
])
@pytest.mark.parametrize("form", FORMS)
def test_samples_off_the_grid_or_repeated_are_refused_across_blocks(values, why, form):
    body = FORMS[form]({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"__name__": "up"}, "values": values}]}})
    for piece in (1, 9, len(body)):
        with pytest.raises(BadSamples, match=why):
            _streamed(body, Grid(T0, STEP, 4), piece, 1)


def test_a_reply_read_again_replaces_what_the_first_attempt_wrote():
    grid = Grid(T0, STEP, N)
    canvas = Canvas(grid)
    body = _compact(_reply())
    stream = MatrixStream(canvas.region(grid), 64)
    stream.feed(body[:len(body) // 2])  # a transfer broken halfway
    assert not np.isnan(canvas.values[:, 0]).all()
    stream.start()
    assert np.isnan(canvas.values).all()
    half = _compact(_reply(n_series=2))  # the retry answers with fewer series
    stream.feed(half)
    stream.finish()
    expected = _whole(half, grid)
    np.testing.assert_array_equal(canvas.values[:, :2], expected.values[:, :2])
    assert np.isnan(canvas.values[:, 2:]).all()


@pytest.mark.parametrize("form", ["compact", "indent=2", "values first, CRLF"])
def test_streaming_holds_a_block_not_the_reply(form):
    grid = Grid(T0, STEP, 2_000)
    body = FORMS[form](_reply(n_series=100, n=2_000, start=T0))  # 5 MB of JSON (or more)
    canvas = Canvas(grid, width=100)
    stream = MatrixStream(canvas.region(grid), 1 << 16)
    pieces = [body[at:at + (1 << 16)] for at in range(0, len(body), 1 << 16)]
    del body
    tracemalloc.start()
    try:
        for piece in pieces:
            stream.feed(piece)
        stream.finish()
        held = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(canvas) == 100
    assert held < sum(map(len, pieces)) / 8  # whole, it would be several times the reply


# -- against a server: compact replies stream, others are read whole ------------------------

EXPR = "im_x"


def _range_reply(request, item: str | None = None) -> bytes:
    """The series count, then a compact matrix for the requested grid (or `item`)."""
    if request["path"] == "/api/v1/query":
        return body_of({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {}, "value": [T0 / 1000, "2"]}]}})
    if item is not None:
        return _item_body(item)
    first, last, step = (float(request["params"][k][0]) for k in ("start", "end", "step"))
    points = [[first + i * step, str(i)] for i in range(int(round((last - first) / step)) + 1)]
    return _compact({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"__name__": EXPR, "k": str(k)}, "values": points} for k in range(2)]}})


def _pull(fake, **options):
    source = PromSource(fake.url, progress=False, retries=0, **options)
    return source.range(EXPR, T0 / 1000, T0 / 1000 + 59.5, "500ms")


def test_streamed_pulls_are_exact_and_ask_once_per_chunk():
    with HostilePrometheus(default=echo(_range_reply)) as fake:
        frame = _pull(fake, max_points=7)
    assert frame.shape == (120, 2) and frame.iloc[:, 0].tolist() == [i % 7 for i in range(120)]
    assert fake.count == 2 + -(-120 // 7)  # two counts, then one request per chunk


def test_a_reply_in_another_shape_is_asked_for_again_and_read_whole(caplog):
    extra = '{"metric":{"__name__":"im_x"},"x":1,"values":[[1700000000,"4"]]}'
    with HostilePrometheus(default=echo(lambda r: _range_reply(r, extra))) as fake:
        with caplog.at_level(logging.INFO, logger="imanalytics.source"):
            frame = _pull(fake)
    assert frame.iloc[0].tolist() == [4.0] and frame.iloc[1:].isna().all().all()
    assert fake.count == 2 + 2
    assert "an unexpected item shape); reading them whole" in caplog.text


def _extra_key(request) -> bytes:
    """The requested grid, a key between each item's label set and its samples."""
    if request["path"] == "/api/v1/query":
        return _range_reply(request)
    first = float(request["params"]["start"][0])
    item = f'{{"metric":{{"__name__":"im_x"}},"x":1,"values":[[{first},"4"]]}}'
    return _item_body(item)


def test_after_one_reply_in_another_shape_the_source_reads_replies_whole():
    with HostilePrometheus(default=echo(_extra_key)) as fake:
        source = PromSource(fake.url, progress=False, retries=0, max_workers=1, max_points=7)
        source.range(EXPR, T0 / 1000, T0 / 1000 + 59.5, "500ms")
        first = fake.count
        source.range(EXPR, T0 / 1000, T0 / 1000 + 59.5, "500ms")
    chunks = -(-120 // 7)
    assert first == 2 + chunks + 1  # only the first chunk was asked for twice
    assert fake.count - first == 2 + chunks


def test_unreadable_samples_are_named_after_the_whole_read():
    unquoted = '{"metric":{"__name__":"im_x"},"values":[[1700000000,4]]}'
    with HostilePrometheus(default=echo(lambda r: _range_reply(r, unquoted))) as fake:
        with pytest.raises(QueryError, match='im_x.*samples must be'):
            _pull(fake)
    assert fake.count == 2 + 2


def test_off_grid_samples_name_the_expression():
    off = '{"metric":{"__name__":"im_x"},"values":[[1700000000.25,"4"]]}'
    with HostilePrometheus(default=echo(lambda r: _range_reply(r, off))) as fake:
        with pytest.raises(QueryError, match="im_x.*off the step grid"):
            _pull(fake)
    assert fake.count == 2 + 1


def _written_per_reply(monkeypatch) -> list[int]:
    """The series each finished stream wrote itself (none when a reply is read whole)."""
    written, finish = [], MatrixStream.finish

    def spy(stream):
        skeleton = finish(stream)
        written.append(len(stream._written))
        return skeleton

    monkeypatch.setattr(MatrixStream, "finish", spy)
    return written


@pytest.mark.parametrize("form", ["default separators", "indent=1", "CRLF",
                                  "values first, CRLF"])
def test_re_spaced_replies_stream_and_are_asked_for_once(form, monkeypatch, caplog):
    written = _written_per_reply(monkeypatch)
    respaced = lambda r: FORMS[form](json.loads(_range_reply(r)))  # noqa: E731
    with HostilePrometheus(default=echo(respaced)) as fake:
        source = PromSource(fake.url, progress=False, retries=0, max_workers=1, max_points=7)
        with caplog.at_level(logging.INFO, logger="imanalytics.source"):
            frames = [source.range(EXPR, T0 / 1000, T0 / 1000 + 59.5, "500ms")
                      for _ in range(2)]
    chunks = -(-120 // 7)
    assert fake.count == 2 * (2 + chunks)  # two counts, then each chunk once, both pulls
    assert written == [2] * (2 * chunks)  # every chunk's two series went through a stream
    assert "reading them whole" not in caplog.text
    for frame in frames:
        assert frame.shape == (120, 2)
        assert frame.iloc[:, 1].tolist() == [i % 7 for i in range(120)]


def _raw_reply(request) -> bytes:
    """The sizes of a raw pull, then its one chunk, pretty-printed."""
    if "count" in request["params"]["query"][0]:
        return body_of({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {}, "value": [T0 / 1000, "2"]}]}})
    return json.dumps({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"__name__": EXPR, "odd": TRICKY[k]},
         "values": [[T0 / 1000 + i, f"{k}.{i}"] for i in range(3)]} for k in range(2)]}},
        indent=2).encode()


def test_a_pretty_printed_raw_reply_streams_and_is_asked_for_once(monkeypatch, caplog):
    written = _written_per_reply(monkeypatch)
    with HostilePrometheus(default=echo(_raw_reply)) as fake:
        source = PromSource(fake.url, progress=False, retries=0, version="2.53.0")
        with caplog.at_level(logging.INFO, logger="imanalytics.source"):
            got = source.raw(EXPR, T0 / 1000, T0 / 1000 + 10)
    assert fake.count == 3 and written == [2]  # two sizes, then the chunk, streamed
    assert "reading them whole" not in caplog.text
    assert sorted(s.labels["odd"] for s in got) == sorted(TRICKY[:2])
    for s in got:
        k = TRICKY.index(s.labels["odd"])
        assert s.t.tolist() == [T0 + 1000 * i for i in range(3)]
        assert s.v.tolist() == [float(f"{k}.{i}") for i in range(3)]
