"""Temporary directories of sandbox services, and the sweep of those whose owner died.

A process killed with SIGKILL cannot remove its directory (a TSDB can be gigabytes), so
each directory records its owner in ``.owner``: the pid and the process start time from
``/proc`` (a pid reused by another process does not pass for the owner). Making a new
directory first removes those with the same prefix whose owner is gone. Directories
without an ``.owner`` file are never touched: they are someone else's, or being created.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

OWNER = ".owner"


def make_workdir(prefix: str, parent: str | os.PathLike | None = None) -> Path:
    """A fresh directory ``<parent>/<prefix>XXXX`` owned by this process."""
    root = Path(parent) if parent else Path(tempfile.gettempdir())
    sweep(prefix, root)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
    (path / OWNER).write_text(_owner(os.getpid()))
    return path


def sweep(prefix: str, root: Path) -> list[Path]:
    """Remove the `prefix` directories under `root` whose owner process is gone."""
    removed = []
    for path in root.glob(f"{prefix}*"):
        try:
            owner = (path / OWNER).read_text()
        except OSError:
            continue
        if not _alive(owner):
            shutil.rmtree(path, ignore_errors=True)
            log.info("removed %s, left by a process that is gone", path)
            removed.append(path)
    return removed


def _owner(pid: int) -> str:
    return f"{pid} {_started(pid) or ''}".strip()


def _alive(owner: str) -> bool:
    pid_text, _, started = owner.partition(" ")
    try:
        pid = int(pid_text)
    except ValueError:
        return True  # not a file we wrote: leave the directory alone
    now = _started(pid)
    if now is not None:
        return not started or now == started
    if Path("/proc").is_dir():
        return False
    try:
        os.kill(pid, 0)  # no /proc: the pid alone
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _started(pid: int) -> str | None:
    """The process start time (clock ticks since boot), or None without such a process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22 counts from the pid
