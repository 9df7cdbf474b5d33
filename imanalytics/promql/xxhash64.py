"""XXH64 (seed 0), the hash of Prometheus' labels.Labels.Hash, which limit_ratio samples by."""

from __future__ import annotations

import struct

_MASK = (1 << 64) - 1
P1, P2, P3 = 11400714785074694791, 14029467366897019727, 1609587929392839161
P4, P5 = 9650029242287828579, 2870177450012600261


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _MASK


def _round(acc: int, lane: int) -> int:
    return (_rotl((acc + lane * P2) & _MASK, 31) * P1) & _MASK


def _merge(acc: int, value: int) -> int:
    return ((acc ^ _round(0, value)) * P1 + P4) & _MASK


def xxh64(data: bytes) -> int:
    n, i = len(data), 0
    if n >= 32:
        v = [(P1 + P2) & _MASK, P2, 0, (-P1) & _MASK]
        while i + 32 <= n:
            lanes = struct.unpack_from("<4Q", data, i)
            v = [_round(acc, lane) for acc, lane in zip(v, lanes, strict=True)]
            i += 32
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & _MASK
        for acc in v:
            h = _merge(h, acc)
    else:
        h = P5
    h = (h + n) & _MASK
    while i + 8 <= n:
        h ^= _round(0, struct.unpack_from("<Q", data, i)[0])
        h = (_rotl(h, 27) * P1 + P4) & _MASK
        i += 8
    if i + 4 <= n:
        h ^= (struct.unpack_from("<I", data, i)[0] * P1) & _MASK
        h = (_rotl(h, 23) * P2 + P3) & _MASK
        i += 4
    while i < n:
        h ^= (data[i] * P5) & _MASK
        h = (_rotl(h, 11) * P1) & _MASK
        i += 1
    h ^= h >> 33
    h = (h * P2) & _MASK
    h ^= h >> 29
    h = (h * P3) & _MASK
    return h ^ (h >> 32)


def labels_hash(labels: dict[str, str]) -> int:
    """labels.Labels.Hash: name, 0xff, value, 0xff for each label in name order."""
    data = b"".join(k.encode() + b"\xff" + v.encode() + b"\xff" for k, v in sorted(labels.items()))
    return xxh64(data)
