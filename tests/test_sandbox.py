"""The sandbox Prometheus: real server, exact data, clean lifecycle."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import requests

from imanalytics.samples import Series, format_series
from imanalytics.sandbox import PrometheusSandbox, SandboxError
from imanalytics.sandbox.workdirs import make_workdir, sweep

pytestmark = pytest.mark.prometheus


def _raw(url: str, selector: str, at: float, window_s: int) -> dict[str, tuple]:
    reply = requests.get(f"{url}/api/v1/query",
                         params={"query": f"{selector}[{window_s}s]", "time": at}, timeout=60)
    reply.raise_for_status()
    out = {}
    for item in reply.json()["data"]["result"]:
        t = np.array([round(float(ts) * 1000) for ts, _ in item["values"]], dtype=np.int64)
        v = np.array([float(x) for _, x in item["values"]])
        out[format_series(item["metric"])] = (t, v)
    return out


def test_server_returns_every_simulated_sample(prom, workload):
    at = workload.end.timestamp() + 0.001
    window = int((workload.end - workload.start).total_seconds()) + 3600
    by_name: dict[str, list[Series]] = {}
    for s in workload.series:
        by_name.setdefault(s.name, []).append(s)
    for name, simulated in by_name.items():
        served = _raw(prom.url, name, at, window)
        assert len(served) == len(simulated), name
        for s in simulated:
            t, v = served[format_series(s.labels)]
            np.testing.assert_array_equal(t, s.t)
            np.testing.assert_array_equal(v, s.v)


def test_server_reports_its_version(prom):
    info = requests.get(f"{prom.url}/api/v1/status/buildinfo", timeout=10).json()["data"]
    assert info["version"].split(".")[0] in {"2", "3"}


def _tiny() -> list[Series]:
    t = np.arange(1_700_000_000_000, 1_700_000_000_000 + 40 * 15_000, 15_000, dtype=np.int64)
    return [Series({"__name__": "im_tiny_total", "job": "im-server"}, t, np.arange(40.0))]


def test_stop_leaves_no_process_and_no_directory():
    sandbox = PrometheusSandbox(_tiny()).start()
    pid, root = sandbox.process.pid, sandbox.dir
    assert requests.get(f"{sandbox.url}/-/ready", timeout=5).status_code == 200
    sandbox.stop()
    assert not root.exists()
    assert not _alive(pid)
    sandbox.stop()  # idempotent


def test_an_exception_inside_the_block_still_cleans_up():
    with pytest.raises(ZeroDivisionError):
        with PrometheusSandbox(_tiny()) as sandbox:
            pid, root = sandbox.process.pid, sandbox.dir
            raise ZeroDivisionError
    assert not root.exists()
    assert not _alive(pid)


def test_a_failed_backfill_names_promtool_and_removes_the_directory(tmp_path):
    bad = [Series({"__name__": "not-a-metric-name"}, np.array([1, 5], dtype=np.int64), np.ones(2))]
    with pytest.raises(SandboxError, match="promtool"):
        PrometheusSandbox(bad, workdir=tmp_path).start()
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_on_the_sandbox_command_stops_the_server(tmp_path):
    proc, url, pid = _start_cli(tmp_path)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    assert "Traceback" not in proc.stderr.read()
    assert not _alive(pid)
    assert not any(tmp_path.glob("imanalytics-sandbox-*"))
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)


def test_a_killed_parent_takes_the_server_with_it(tmp_path):
    proc, url, pid = _start_cli(tmp_path)
    proc.kill()
    proc.wait(timeout=10)
    deadline = time.monotonic() + 15
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid)
    # The killed process left its directory; the next start removes it, and only it.
    left = list(tmp_path.glob("imanalytics-sandbox-*"))
    assert len(left) == 1 and (left[0] / "data").is_dir()
    live = make_workdir("imanalytics-sandbox-", tmp_path)  # this process: alive
    foreign = tmp_path / "imanalytics-sandbox-notours"
    foreign.mkdir()
    with PrometheusSandbox(_tiny(), workdir=tmp_path) as sandbox:
        assert sorted(tmp_path.glob("imanalytics-sandbox-*")) == sorted([live, foreign,
                                                                          sandbox.dir])
    assert not left[0].exists()


def _start_cli(tmp_path: Path):
    env = dict(os.environ, TMPDIR=str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "imanalytics", "sandbox", "--instances", "1", "--days", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        preexec_fn=_as_from_a_terminal,
    )
    line = proc.stdout.readline()
    assert "Prometheus sandbox at" in line, proc.stderr.read() if proc.poll() else line
    url = line.split(" at ")[1].strip()
    pid = _server_pid(tmp_path)
    return proc, url, pid


def _as_from_a_terminal() -> None:
    # A suite started in the background (`make test &`) inherits SIGINT ignored, and
    # Python keeps it ignored; a command typed at a terminal gets Ctrl-C.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _server_pid(tmp_path: Path) -> int:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if "prometheus" in cmd and str(tmp_path) in cmd:
                return int(entry.name)
    raise AssertionError("no prometheus process found for the sandbox")


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.split(") ")[1][0] != "Z"  # a zombie is dead, only not yet reaped


def test_a_missing_prometheus_is_a_clear_error_and_a_non_zero_exit(tmp_path):
    env = dict(os.environ, IMANALYTICS_PROMTOOL=str(tmp_path / "no-promtool"))
    done = subprocess.run([sys.executable, "-m", "imanalytics", "demo", "--days", "1",
                           "--instances", "1", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1
    assert "promtool not found" in done.stderr and "apt-get install prometheus" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_reused_pid_does_not_pass_for_the_owner(tmp_path):
    mine = make_workdir("imanalytics-sandbox-", tmp_path)
    impostor = tmp_path / "imanalytics-sandbox-reused"
    impostor.mkdir()
    (impostor / ".owner").write_text(f"{os.getpid()} 1")  # same pid, another start time
    assert sweep("imanalytics-sandbox-", tmp_path) == [impostor]
    assert mine.exists() and not impostor.exists()
