"""Reading Prometheus replies: the fast sample-list path agrees with plain JSON everywhere."""

from __future__ import annotations

import json

import numpy as np
import pytest

import imanalytics.frames as frames
from imanalytics.frames import parse_reply

TRICKY = ['"values":[[1,"2"]]', 'a]]b', "\\", '{"values":[[', "x\\\"values\\\":[["]


def _matrix(items, **extra) -> dict:
    return {"status": "success", "data": {"resultType": "matrix", "result": items}, **extra}


def _item(labels: dict, values: list) -> dict:
    return {"metric": labels, "values": values}


def _check(reply: dict, monkeypatch) -> dict:
    """Parse `reply` both ways and require identical results; return the fast one."""
    compact = json.dumps(reply, separators=(",", ":")).encode()
    slow_path = frames.sample_arrays

    def refuse(values):
        assert not values, "a compact reply fell back to the per-series conversion"
        return slow_path(values)

    with monkeypatch.context() as patch:
        patch.setattr(frames, "sample_arrays", refuse)
        fast = parse_reply(compact)
    slow = parse_reply(json.dumps(reply, indent=1).encode())  # no compact keys: plain JSON
    for a, b, original in zip(fast["data"]["result"], slow["data"]["result"],
                              reply["data"]["result"], strict=True):
        assert a["metric"] == b["metric"] == original["metric"]
        np.testing.assert_array_equal(a["t"], b["t"])
        np.testing.assert_array_equal(a["v"], b["v"])
        assert a["t"].dtype == np.int64 and a["v"].dtype == np.float64
        assert a["v"].flags.writeable
    return fast


def test_samples_and_special_values(monkeypatch):
    values = [[1700000000, "1.5"], [1700000000.015, "NaN"], [1700000001.5, "+Inf"],
              [1700000002, "-Inf"], [1700000003, "1e-300"], [1700000004, "0.1"]]
    fast = _check(_matrix([_item({"__name__": "x"}, values)]), monkeypatch)
    item = fast["data"]["result"][0]
    assert item["t"].tolist() == [1700000000000, 1700000000015, 1700000001500, 1700000002000,
                                  1700000003000, 1700000004000]
    assert np.isnan(item["v"][1]) and item["v"][2] == np.inf and item["v"][3] == -np.inf
    assert item["v"][4] == 1e-300 and item["v"][5] == 0.1


@pytest.mark.parametrize("value", TRICKY)
def test_label_values_that_look_like_sample_lists(value, monkeypatch):
    items = [_item({"__name__": "x", "l": value, "values": value}, [[1, "1"], [2, "2"]]),
             _item({"__name__": "y", "l": value}, [[3, "3"]])]
    fast = _check(_matrix(items), monkeypatch)
    assert [i["v"].tolist() for i in fast["data"]["result"]] == [[1.0, 2.0], [3.0]]


def test_empty_sample_lists_and_warnings_are_kept(monkeypatch):
    reply = _matrix([_item({"a": "1"}, []), _item({"a": "2"}, [[1, "5"]])],
                    warnings=["partial"])
    fast = _check(reply, monkeypatch)
    assert fast["warnings"] == ["partial"]
    assert len(fast["data"]["result"][0]["t"]) == 0


def test_other_replies_are_plain_json():
    vector = {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"values": "[[1,2]]"}, "value": [1, "2"]}]}}
    assert parse_reply(json.dumps(vector).encode()) == vector
    assert parse_reply(b'{"status":"success","data":["a","b"]}')["data"] == ["a", "b"]


def test_values_arrow_cannot_read_fall_back_and_fail_as_json_would():
    bad = json.dumps(_matrix([_item({}, [[1, "NA"]])])).encode()
    with pytest.raises(ValueError):
        parse_reply(bad)
