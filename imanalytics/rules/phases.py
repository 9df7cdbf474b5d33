"""Where a Prometheus server places each rule group's evaluations: every group runs at the
times congruent to its phase modulo its interval, the phase being a hash of the group's
name and file (rules/manager.go, Group.hash and EvalTimestamp)."""

from __future__ import annotations

from pathlib import Path

import yaml

from ..promql.lexer import parse_duration_ms
from .rulefmt import check_rule_file

_MASK = (1 << 64) - 1
_P1, _P2, _P3, _P4, _P5 = (0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                           0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5)
_SEP = b"\xff"  # labels.Labels.Hash separates names and values with 0xff


def server_phases(path: str | Path, file: str | None = None,
                  evaluation_interval: str = "1m") -> dict[str, int]:
    """Each group's phase in milliseconds (for `evaluate_file`'s `phases`) on a server that
    loads the rule file as `file` (the path in its configuration, after globbing; default
    `path`), with `evaluation_interval` for groups without their own."""
    groups = check_rule_file(yaml.safe_load(Path(path).read_text()), path)
    name = str(path if file is None else file)
    return {g["name"]: group_phase_ms(g["name"], name, parse_duration_ms(
        str(g.get("interval") or evaluation_interval))) for g in groups}


def group_phase_ms(group: str, file: str, interval_ms: int) -> int:
    """The group's offset: the hash of its labels {file, name} modulo its interval (in
    nanoseconds), truncated to milliseconds as sample timestamps are."""
    key = b"file" + _SEP + file.encode() + _SEP + b"name" + _SEP + group.encode() + _SEP
    return xxh64(key) % (interval_ms * 1_000_000) // 1_000_000


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _MASK


def _round(acc: int, lane: int) -> int:
    return _rotl((acc + lane * _P2) & _MASK, 31) * _P1 & _MASK


def xxh64(data: bytes) -> int:
    """xxHash64 with seed 0 (the hash Prometheus' labels use)."""
    n, p = len(data), 0
    if n >= 32:
        lanes = [(_P1 + _P2) & _MASK, _P2, 0, -_P1 & _MASK]
        while p + 32 <= n:
            lanes = [_round(lanes[i], _word(data, p + 8 * i, 8)) for i in range(4)]
            p += 32
        h = (_rotl(lanes[0], 1) + _rotl(lanes[1], 7) + _rotl(lanes[2], 12)
             + _rotl(lanes[3], 18)) & _MASK
        for lane in lanes:
            h = ((h ^ _round(0, lane)) * _P1 + _P4) & _MASK
    else:
        h = _P5
    h = (h + n) & _MASK
    while p + 8 <= n:
        h = (_rotl(h ^ _round(0, _word(data, p, 8)), 27) * _P1 + _P4) & _MASK
        p += 8
    if p + 4 <= n:
        h = (_rotl(h ^ (_word(data, p, 4) * _P1 & _MASK), 23) * _P2 + _P3) & _MASK
        p += 4
    for byte in data[p:]:
        h = _rotl(h ^ (byte * _P5 & _MASK), 11) * _P1 & _MASK
    for shift, prime in ((33, _P2), (29, _P3)):
        h = (h ^ (h >> shift)) * prime & _MASK
    return h ^ (h >> 32)


def _word(data: bytes, at: int, size: int) -> int:
    return int.from_bytes(data[at:at + size], "little")
