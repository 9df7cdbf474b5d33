"""Open a page in headless Chromium with the network cut off: a screenshot and the DOM
after scripts ran, as a person (and a test) would see it."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

CHROMIUM = "chromium"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync",
    # Any request off the machine fails: a page that needs a CDN shows it at once.
    "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
    "--virtual-time-budget=4000", "--window-size=1280,2400",
]


def _run(args: list[str], profile: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


def screenshot(page: Path, png: Path) -> np.ndarray:
    with tempfile.TemporaryDirectory() as profile:
        _run([f"--screenshot={png}", page.resolve().as_uri()], profile)
    return np.asarray(Image.open(png).convert("RGB"))


def rendered_dom(page: Path) -> str:
    with tempfile.TemporaryDirectory() as profile:
        return _run(["--dump-dom", page.resolve().as_uri()], profile).stdout


def distinct_colours(pixels: np.ndarray) -> int:
    return len(np.unique(pixels.reshape(-1, 3), axis=0))
