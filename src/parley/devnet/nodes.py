"""Real Parley nodes in real processes, for end-to-end tests and the benchmark.

``NodeProcess`` makes a home (``init``), runs ``parley serve`` as a child process, waits
until it answers over TLS, and stops it with SIGTERM or kills it with SIGKILL — only the
processes it started, by PID. ``make_pair`` wires two nodes together the way operators do
(cards, desks, operators, a charter proposed and accepted by files) and can route each
node's advertised URL through a :class:`FaultProxy`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from parley.protocol.tls import pinned_client_context

PARLEY = [sys.executable, "-m", "parley"]
PASSWORD = "correct horse battery"  # noqa: S105  (test and demo nodes only)


def run_cli_here(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``parley ARGS`` in this process (no interpreter start-up): for set-up steps."""
    import contextlib
    import io

    from parley.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--home", str(home), *args])
    proc = subprocess.CompletedProcess(["parley", *args], code, out.getvalue(), err.getvalue())
    if check and code != 0:
        raise AssertionError(f"parley {' '.join(args)} failed ({code}): {proc.stderr}")
    return proc


def run_cli(
    home: Path, *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*PARLEY, "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"parley {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc


@dataclass
class NodeProcess:
    home: Path
    name: str
    port: int
    advertised_port: int
    tick: float = 0.2
    proc: subprocess.Popen[bytes] | None = None
    token: str = ""
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.home.parent / f"{self.name}.log"

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def cert(self) -> str:
        return (self.home / "tls" / "cert.pem").read_text()

    def client(self, timeout: float = 30.0) -> httpx.Client:
        headers = {"authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.Client(
            base_url=self.url, verify=pinned_client_context(self.cert()), headers=headers, timeout=timeout
        )

    def start(self, wait: float = 90.0) -> None:
        # Generous: on a busy two-core machine a cold interpreter plus migrations can take 30 s.
        assert self.proc is None or self.proc.poll() is not None, "already running"
        log = open(self.log_path, "ab")  # noqa: SIM115 (kept open for the child's lifetime)
        self.proc = subprocess.Popen(
            [*PARLEY, "--home", str(self.home), "serve", "--tick", str(self.tick), "--log-level", "warning"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + wait
        with httpx.Client(verify=pinned_client_context(self.cert()), timeout=2) as c:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise AssertionError(f"{self.name} exited: {self.log_path.read_text()[-2000:]}")
                try:
                    if c.get(self.url + "/healthz").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        raise AssertionError(f"{self.name} did not start within {wait}s")

    def stop(self) -> int:
        """SIGTERM and wait: a clean shutdown."""
        if self.proc is None or self.proc.poll() is not None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError(f"{self.name} did not stop on SIGTERM") from None

    def kill(self) -> None:
        """SIGKILL: the crash case."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_cli(self.home, *args, check=check)

    def cli_here(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_cli_here(self.home, *args, check=check)

    def cli_json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "--json").stdout)

    def send(self, channel: str, text: str, **extra: Any) -> dict[str, Any]:
        with self.client() as c:
            r = c.post(
                "/api/v1/messages",
                json={"channel": channel, "type": "general", "body": {"text": text, "lang": "en"}, **extra},
            )
        assert r.status_code == 201, r.text
        out: dict[str, Any] = r.json()
        return out


def _free_port() -> int:
    from parley.devnet.proxy import free_port

    return free_port()


def init_node(
    base: Path,
    name: str,
    party: str,
    *,
    db_url: str | None = None,
    proxied: bool = False,
    tick: float = 0.2,
    config: dict[str, dict[str, Any]] | None = None,
) -> NodeProcess:
    port = _free_port()
    advertised = _free_port() if proxied else port
    home = base / name
    args = [
        "init",
        "--name",
        name,
        "--party",
        party,
        "--listen",
        f"127.0.0.1:{port}",
        "--url",
        f"https://127.0.0.1:{advertised}",
    ]
    if db_url:
        args += ["--database", db_url]
    run_cli_here(home, *args)
    if config:
        import tomllib

        import tomli_w

        path = home / "parley.toml"
        data = tomllib.loads(path.read_text())
        for section, values in config.items():
            data.setdefault(section, {}).update(values)
        path.write_text(tomli_w.dumps(data))
    return NodeProcess(home, name, port, advertised, tick)


CHARTER = """
id = "{id}"
members = ["{a}/duty", "{b}/duty"]
types = ["general", "incident-at-sea", "border-incident", "incident-response", "meeting-proposal",
         "meeting-acceptance", "meeting-protocol", "meeting-protocol-signature"]
topics = ["border_situation", "fisheries"]
languages = ["nb", "ru", "en"]
link_test_interval_s = {interval}
[name]
en = "Test channel"
nb = "Testkanal"
ru = "Тестовый канал"
[basis]
agreement = "Test agreement"
date = 2020-01-01
[deadlines_s]
FLASH = {flash}
"""


def make_pair(
    base: Path,
    *,
    db_urls: tuple[str | None, str | None] = (None, None),
    proxied: bool = False,
    tick: float = 0.2,
    interval: float = 3600,
    flash: int = 300,
    config: dict[str, dict[str, Any]] | None = None,
    channel: str = "test-line",
) -> tuple[NodeProcess, NodeProcess]:
    """Two initialised, peered nodes with one channel (not started)."""
    base.mkdir(parents=True, exist_ok=True)
    a = init_node(base, "node-a", "Norway", db_url=db_urls[0], proxied=proxied, tick=tick, config=config)
    b = init_node(base, "node-b", "Russia", db_url=db_urls[1], proxied=proxied, tick=tick, config=config)
    for n in (a, b):
        n.cli_here("identity", "--out", str(base / f"{n.name}.card.json"))
        n.cli_here("desk", "add", "duty")
        pw = base / "pw"
        pw.write_text(PASSWORD)
        n.cli_here(
            "operator", "add", f"op-{n.name}", "--desk", "duty", "--role", "duty", "--password-file", str(pw)
        )
        n.token = n.cli_here("token", "issue", f"op-{n.name}").stdout.strip()
    a.cli_here("peer", "add", str(base / "node-b.card.json"))
    b.cli_here("peer", "add", str(base / "node-a.card.json"))
    charter = base / "charter.toml"
    charter.write_text(CHARTER.format(id=channel, a=a.name, b=b.name, interval=interval, flash=flash))
    a.cli_here(
        "channel",
        "propose",
        "--peer",
        b.name,
        "--charter",
        str(charter),
        "--out",
        str(base / "proposal.json"),
    )
    b.cli_here("channel", "accept", str(base / "proposal.json"), "--out", str(base / "countersigned.json"))
    a.cli_here("channel", "accept", str(base / "countersigned.json"))
    return a, b
