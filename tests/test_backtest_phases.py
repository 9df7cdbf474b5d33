"""A server places each rule group at a phase of its interval hashed from the group's name
and file: `server_phases` predicts it, and the backtest given those phases writes its
samples at the very timestamps a real Prometheus does."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request

from imanalytics.rules import evaluate_file
from imanalytics.rules.phases import server_phases, xxh64
from imanalytics.sandbox import PrometheusSandbox

RULES = """
groups:
  - name: every2
    interval: 2s
    rules:
      - record: two
        expr: vector(1)
  - name: every3
    interval: 3s
    rules:
      - record: three
        expr: vector(1)
  - name: default
    rules:
      - record: seven
        expr: vector(1)
"""
NAMES = {"every2": "two", "every3": "three", "default": "seven"}


def test_xxh64_known_values():
    # Reference values of the xxHash64 specification (seed 0).
    assert xxh64(b"") == 0xEF46DB3751D8E999
    assert xxh64(b"a") == 0xD24EC4F1A98C6E5B
    assert xxh64(b"abc") == 0x44BC2CF5AD770999


def test_backtest_at_server_phases_writes_the_servers_timestamps(tmp_path):
    path = tmp_path / "rules.yml"
    path.write_text(RULES)
    with PrometheusSandbox([], rule_files=[path], evaluation_interval="7s") as prom:
        served = _wait_for_samples(prom.url, deadline=time.monotonic() + 60)
        file = str(prom.rule_files[0])
    phases = server_phases(path, file, evaluation_interval="7s")
    start = min(min(ts) for ts in served.values()) / 1000
    end = max(max(ts) for ts in served.values()) / 1000
    result = evaluate_file(path, [], start, end, "7s", phases=phases)
    for group, name in NAMES.items():
        written = result.recorded(name)[0].t.tolist()
        assert served[name] == [t for t in written if t >= served[name][0]], group


def _wait_for_samples(url: str, deadline: float) -> dict[str, list[int]]:
    """Each recorded series' sample timestamps, once every one has three."""
    while True:
        served = {}
        for name in NAMES.values():
            query = urllib.parse.urlencode({"query": f"{name}[1m]"})
            with urllib.request.urlopen(f"{url}/api/v1/query?{query}", timeout=10) as answer:
                result = json.load(answer)["data"]["result"]
            served[name] = [round(float(t) * 1000) for t, _ in result[0]["values"]] \
                if result else []
        if all(len(ts) >= 3 for ts in served.values()):
            return served
        assert time.monotonic() < deadline, f"the server recorded only {served}"
        time.sleep(1)
