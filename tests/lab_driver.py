"""A real JupyterLab on loopback and a headless Chromium driven over the DevTools protocol,
for tests that open a notebook the way an analyst does.

Every wait has a deadline; both processes are stopped (JupyterLab through its shutdown API,
so its kernels go too) when the context ends.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import requests
import websocket
from browser import CHROMIUM, FLAGS

from imanalytics.sandbox.processes import free_port

START_TIMEOUT = 90.0


def wait_until(check, timeout: float, what: str, every: float = 0.5):
    """Poll `check` until it returns a truthy value; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


@contextmanager
def jupyter_lab(root: Path):
    """JupyterLab serving `root`; yields (base URL, token)."""
    with tempfile.TemporaryDirectory(prefix="lab-state-") as state:
        yield from _serve(root, Path(state))


def _serve(root: Path, state: Path):
    port, token = free_port(), secrets.token_hex(16)
    _settings(state / "settings")
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(state / "runtime"),
           "JUPYTER_CONFIG_DIR": str(state / "config"), "IPYTHONDIR": str(state / "ipython")}
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
               f"--LabApp.user_settings_dir={state / 'settings'}",
               f"--LabApp.workspaces_dir={state / 'workspaces'}",
               "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=",
               "--ServerApp.allow_root=True"]  # CI runs as root
    log = open(state / "lab.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _up(url, token, process, state / "lab.log"), START_TIMEOUT,
                   "JupyterLab to answer")
        yield url, token
    finally:
        try:
            requests.post(f"{url}/api/shutdown", headers={"Authorization": f"token {token}"},
                          timeout=10)
            process.wait(timeout=30)
        except (requests.RequestException, subprocess.TimeoutExpired):
            process.kill()
            process.wait(timeout=10)
        log.close()


def _settings(folder: Path) -> None:
    """Every cell in the DOM (no windowing), so checks and screenshots see whole outputs;
    no news pop-up over the page."""
    for extension, plugin, value in [("notebook-extension", "tracker", '{"windowingMode": "none"}'),
                                     ("apputils-extension", "notification",
                                      '{"fetchNews": "false"}')]:
        path = folder / "@jupyterlab" / extension / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value)


def _up(url: str, token: str, process: subprocess.Popen, log: Path) -> bool:
    if process.poll() is not None:
        tail = log.read_text(errors="replace").strip().splitlines()[-1:]
        raise RuntimeError(f"JupyterLab exited with {process.returncode}: {' '.join(tail)}")
    try:
        reply = requests.get(f"{url}/api/status", timeout=2,
                             headers={"Authorization": f"token {token}"})
    except requests.RequestException:
        return False
    return reply.status_code == 200


class Page:
    """One Chromium tab over the DevTools protocol: navigate, evaluate, screenshot."""

    def __init__(self, socket: websocket.WebSocket):
        self._socket, self._id = socket, 0

    def call(self, method: str, timeout: float = 30.0, **params) -> dict:
        self._id += 1
        self._socket.settimeout(timeout)
        self._socket.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:  # events arrive between replies; skip them
            message = json.loads(self._socket.recv())
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, script: str, timeout: float = 30.0):
        result = self.call("Runtime.evaluate", timeout, expression=script,
                           returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"script failed: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def screenshot(self, png: Path) -> Path:
        data = self.call("Page.captureScreenshot", 60.0, format="png")["data"]
        png.parent.mkdir(parents=True, exist_ok=True)
        png.write_bytes(base64.b64decode(data))
        return png


@contextmanager
def chromium_page(width: int = 1400, height: int = 1800):
    """A headless Chromium tab; loopback only (every other host fails to resolve)."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        yield from _browse(profile, width, height)


def _browse(profile: str, width: int, height: int):
    port = free_port()
    flags = [f for f in FLAGS if not f.startswith(("--virtual-time-budget", "--window-size",
                                                   "--proxy-server", "--host-resolver"))]
    flags += ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
              f"--window-size={width},{height}"]
    process = subprocess.Popen(
        [CHROMIUM, *flags, f"--user-data-dir={profile}", f"--remote-debugging-port={port}",
         "--remote-allow-origins=*", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        target = wait_until(lambda: _page_target(port), 60, "Chromium's DevTools endpoint")
        socket = websocket.create_connection(target, timeout=30,
                                             suppress_origin=True)
        try:
            yield Page(socket)
        finally:
            socket.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _page_target(port: int) -> str | None:
    try:
        targets = requests.get(f"http://127.0.0.1:{port}/json/list", timeout=2).json()
    except (requests.RequestException, ValueError):
        return None
    pages = [t for t in targets if t.get("type") == "page"]
    return pages[0]["webSocketDebuggerUrl"] if pages else None
