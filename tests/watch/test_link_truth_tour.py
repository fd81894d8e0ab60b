"""The README's tour, command by command, as a person would type it: at the end both
sides show every link UP and their record cosigned by the other at its current size; once
stopped, ``status`` says the node is not running.

The commands are read from README.md (the ``sh`` block under "A tour by hand"), so the
test follows the README. Only what a test must change is changed: free ports instead of
8441/8442, the repository's absolute path for ``examples/``, ``MESSAGE_ID`` filled in from
``send``, and ``serve &`` / ``kill`` / ``sleep`` / ``wait`` done with processes this test
starts and stops by PID; the other commands run in this process through the CLI's
``main``. A person pauses between commands; a command that reads what the
other node has not received yet is retried for a bounded time.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from parley.devnet.proxy import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PARLEY = [sys.executable, "-m", "parley"]


def tour_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("## A tour by hand", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    out = []
    for line in block.splitlines():
        for part in line.replace("&  ", "&;").split(";"):
            if part.strip():
                out.append(part.strip())
    return out


def run(cwd: Path, args: list[str], retry_s: float = 0.0) -> subprocess.CompletedProcess[str]:
    """``parley ARGS`` in this process (the same CLI, without an interpreter start-up each)."""
    import contextlib
    import io

    from parley.cli.main import main

    deadline = time.monotonic() + retry_s
    while True:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(args)
        if code == 0 or time.monotonic() > deadline:
            return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())
        time.sleep(0.3)


def _settled(cwd: Path, home: str, peer: str) -> bool:
    st = json.loads(run(cwd, ["--home", home, "status", "--json"]).stdout)
    mine = [c for c in st["record"]["cosignatures"] if c["peer"] == peer]
    return st["links_not_up"] == [] and bool(mine) and mine[0]["behind"] == 0 and mine[0]["log_size"] > 0


@pytest.mark.timeout(300)  # bounded waits inside; a loaded CI machine is slow to start nodes
def test_readme_tour_ends_with_links_up_and_records_cosigned(tmp_path: Path) -> None:
    ports = {"8441": str(free_port()), "8442": str(free_port())}
    servers: dict[str, subprocess.Popen[bytes]] = {}
    message_id = ""
    outputs: list[str] = []
    try:
        for command in tour_commands():
            words = shlex.split(command)
            if words[0] == "export":
                continue
            if words[0] == "sleep":
                # The README's pause for the exchange after traffic: here, wait until it
                # happened (bounded), then check it the way the reader does.
                deadline = time.monotonic() + 30
                while not (_settled(tmp_path, "no", "ru-nf") and _settled(tmp_path, "ru", "no-njhq")):
                    assert time.monotonic() < deadline, "links UP and records cosigned within 30 s"
                    time.sleep(0.5)
                continue
            if words[0] == "kill":
                for proc in servers.values():
                    proc.send_signal(signal.SIGTERM)
                continue
            if words[0] == "wait":
                for proc in servers.values():
                    proc.wait(30)
                continue
            assert words[0] == "parley", command
            args = [f"127.0.0.1:{ports[w[10:]]}" if w.startswith("127.0.0.1:") else w for w in words[1:]]
            args = [str(ROOT / a) if a.startswith("examples/") else a for a in args]
            args = [message_id if a == "MESSAGE_ID" else a for a in args]
            if args[-1] == "&":
                log = open(tmp_path / f"{args[1]}.log", "wb")  # noqa: SIM115 (the child keeps it)
                servers[args[1]] = subprocess.Popen(
                    [*PARLEY, *args[:-1]], cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT
                )
                log.close()
                continue
            proc = run(tmp_path, args, retry_s=60 if args[2] in ("show", "inbox") else 0)
            assert proc.returncode == 0, f"`{command}`: {proc.stderr}"
            outputs.append(proc.stdout)
            if args[2] == "send":
                message_id = proc.stdout.strip().split()[-1]
        assert set(servers) == {"no", "ru"}
        # The last three commands: status on each side after the pause, then on a stopped node.
        after_no, after_ru, stopped = outputs[-3:]
        assert "Every tested link is UP." in after_no
        assert "Every tested link is UP." in after_ru
        assert "cosigned by ru-nf at size" in after_no
        assert ": up to date" in after_no
        assert ": up to date" in after_ru
        assert "no-njhq is NOT RUNNING" in stopped
        assert "channel njhq-northern-fleet" in stopped, "the stored state is still shown"
    finally:
        for proc in servers.values():
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)
