"""Where the CLI writes and what it says when it cannot help: a mapped catalog never
overwrites the repository's committed rules, `sandbox --port` refuses a busy port, and an
empty inventory says when the server's data ends."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args: str, cwd: Path = ROOT, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "imanalytics", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def mapping(tmp_path):
    path = tmp_path / "my-catalog.yaml"
    path.write_text("metrics: {}\n")
    return path


def test_a_mapped_catalog_never_overwrites_the_committed_rules(mapping):
    committed = (ROOT / "rules" / "im-recording.rules.yml").read_bytes()
    run = _cli("rules", "--catalog", str(mapping))
    assert run.returncode == 1
    assert "pass --out" in run.stderr and "Traceback" not in run.stderr
    assert (ROOT / "rules" / "im-recording.rules.yml").read_bytes() == committed


def test_elsewhere_the_default_folder_is_the_working_directory(mapping, tmp_path):
    run = _cli("rules", "--catalog", str(mapping), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "rules" / "im-recording.rules.yml").exists()


@pytest.mark.prometheus
def test_sandbox_refuses_a_busy_port(prom):
    port = prom.url.rsplit(":", 1)[1]
    run = _cli("sandbox", "--days", "1", "--instances", "1", "--port", port)
    assert run.returncode == 1
    assert f"port {port} on 127.0.0.1 is in use" in run.stderr


def test_sandbox_port_must_be_a_port():
    run = _cli("sandbox", "--port", "70000")
    assert run.returncode == 2 and "1 to 65535" in run.stderr


@pytest.mark.prometheus
def test_an_empty_inventory_says_when_the_data_ends(prom, workload):
    after = workload.end + pd.Timedelta("3h")
    run = _cli("inventory", "--url", prom.url, "--start", after.isoformat(),
               "--end", (after + pd.Timedelta("1h")).isoformat())
    assert run.returncode == 0, run.stderr
    last = (workload.end - pd.Timedelta("1min")).strftime("%Y-%m-%d %H:%M")
    assert f"has samples up to {last} UTC" in run.stdout
    assert "try --start" in run.stdout


@pytest.mark.prometheus
def test_an_inventory_that_finds_data_gives_no_hint(prom, workload):
    run = _cli("inventory", "--url", prom.url, "--start", workload.start.isoformat(),
               "--end", workload.end.isoformat())
    assert run.returncode == 0, run.stderr
    assert "hint:" not in run.stdout
