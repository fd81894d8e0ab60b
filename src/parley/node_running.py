"""Whether this home's node is serving: a pid file that ``parley serve`` writes.

``parley serve`` writes ``serve.pid`` in the home (JSON: pid, the process's start time as
the kernel reports it, when it started serving, its URL) and removes it when it stops
cleanly. ``parley status`` reads it and checks that a process with that pid is alive *and
started at that time* — so a pid reused by another program after a crash is not taken for
the node.

Why a pid file and not a probe of ``/healthz``: it answers at once and offline, needs
neither the network nor the TLS set-up to work (``status`` is what an operator runs when
something is wrong), and it tells a clean stop (no file) from a crash or a kill (a file
naming a dead process), which a probe cannot. It says nothing of whether the running
node answers its peers; that is what the link states are for.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

from parley.clock import format_time, parse_time
from parley.errors import ParleyError
from parley.file_modes import create_private_file

PID_FILE = "serve.pid"


@dataclass(frozen=True)
class Serving:
    """What the pid file and the process table say about a home's node."""

    running: bool
    pid: int | None = None
    started_at: datetime | None = None
    url: str | None = None
    crashed: bool = False  # a pid file names a process that is gone: killed or crashed

    def to_json(self) -> dict[str, Any]:
        return {
            "running": self.running,
            "pid": self.pid,
            "started_at": None if self.started_at is None else format_time(self.started_at),
            "url": self.url,
            "crashed": self.crashed,
        }


def _process_started(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:
        return -1.0  # alive, but owned by someone else: cannot be this node's serve


def write_pid_file(home: Path, started_at: datetime, url: str) -> Path:
    """Called by ``parley serve`` before it listens."""
    path = home / PID_FILE
    pid = os.getpid()
    data = {
        "pid": pid,
        "process_started": _process_started(pid),
        "started_at": format_time(started_at),
        "url": url,
    }
    tmp = path.with_suffix(".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    create_private_file(tmp)
    tmp.write_text(json.dumps(data))
    tmp.replace(path)
    return path


def remove_pid_file(home: Path) -> None:
    """Called by ``parley serve`` as it exits; leaves another process's file alone."""
    path = home / PID_FILE
    info = _read(path)
    if info is not None and info.get("pid") == os.getpid():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _read(path: Path) -> dict[str, Any] | None:
    from parley.files import read_bounded

    if not path.exists():
        return None
    try:
        data = json.loads(read_bounded(path, "JSON file"))
    except (ParleyError, ValueError):
        return None  # unreadable: treated as no file; serve rewrites it on start
    return data if isinstance(data, dict) else None


def serving(home: Path) -> Serving:
    """Whether a ``parley serve`` of this home is running now."""
    info = _read(home / PID_FILE)
    if info is None:
        return Serving(running=False)
    pid = info.get("pid")
    recorded = info.get("process_started")
    url = info.get("url") if isinstance(info.get("url"), str) else None
    try:
        started = parse_time(str(info.get("started_at")))
    except (ValueError, ParleyError):
        started = None
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return Serving(running=False, crashed=True, started_at=started, url=url)
    actual = _process_started(pid)
    alive = (
        actual is not None
        and actual >= 0
        and isinstance(recorded, (int, float))
        and abs(actual - float(recorded)) < 1.0
    )
    return Serving(running=alive, pid=pid, started_at=started, url=url, crashed=not alive)


def remove_on_exit_signals(home: Path) -> None:
    """Remove the pid file when SIGTERM or SIGINT ends ``parley serve``.

    uvicorn shuts down gracefully on these signals, then restores the handlers it found
    and raises the signal again, so a ``finally`` after ``Server.run`` never runs under
    SIGTERM: the handler installed here is the one it restores. It removes the file, then
    lets the signal do what it did before (end the process with that signal)."""
    import signal
    from types import FrameType

    def handler(sig: int, frame: FrameType | None) -> None:
        remove_pid_file(home)
        before = previous.get(sig)
        signal.signal(sig, signal.SIG_DFL if before is None else before)
        signal.raise_signal(sig)

    previous: dict[int, Any] = {int(s): signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    for sig in previous:
        signal.signal(sig, handler)
