"""A hostile pinned peer costs the node neither its memory nor its other peers (issue 14 item 3).

Node A is a real ``parley serve`` process with two peers: B, an honest node process, and H,
whose card A pinned but whose address is served by this test: an HTTPS server with H's own
certificate and key (so the pin holds) that answers every federation request as an attacker
would. Three phases, each while A keeps sending to B:

(a) a 307 redirect to a plain-http listener of the test: that listener must receive nothing;
(b) a 1 GB answer, generated as it is sent (once announced by Content-Length, once chunked
    without one): A's resident memory must stay within 64 MB of its idle figure, and A must
    hang up long before the gigabyte;
(c) an answer at 1 byte a second: A must give up within its configured request timeout.

Throughout, every message A sends to B arrives exactly once and is receipted.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

from parley.devnet.proxy import free_port
from tests.harness.nodes import NodeProcess, init_node, make_pair

pytestmark = pytest.mark.e2e

GB = 1_000_000_000
CHUNK = b"x" * 65536
REQUEST_TIMEOUT_S = 3.0
CONFIG = {
    "federation": {
        "request_timeout_s": REQUEST_TIMEOUT_S,
        "read_timeout_s": 2.0,
        "connect_timeout_s": 2.0,
        "max_answer_bytes": 1_048_576,
        "backoff_initial_s": 0.1,
        "backoff_max_s": 0.5,
    }
}

H_CHARTER = """
id = "hostile-line"
members = ["node-a/duty", "node-h/duty"]
types = ["general"]
languages = ["en"]
[name]
en = "Line to a hostile peer"
[basis]
agreement = "Test agreement"
date = 2020-01-01
"""


@dataclass
class Seen:
    """What the hostile server and the plain listener observed, per mode."""

    requests: dict[str, int] = field(default_factory=dict)
    bytes_sent: list[int] = field(default_factory=list)
    trickle_held_s: list[float] = field(default_factory=list)
    plain_connections: int = 0


class HostilePeer:
    """An HTTPS server on H's address with H's certificate, misbehaving as ``mode`` says."""

    def __init__(self, home: Path, port: int, plain_port: int) -> None:
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(home / "tls" / "cert.pem", home / "tls" / "key.pem")
        self.port = port
        self.plain_port = plain_port
        self.mode = "redirect"
        self.seen = Seen()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._servers: list[asyncio.Server] = []

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self.loop).result(10)

    def stop(self) -> None:
        async def close() -> None:
            for s in self._servers:
                s.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for s in self._servers:
                await s.wait_closed()
            await asyncio.sleep(0.1)  # let the closed transports release their sockets

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    async def _listen(self) -> None:
        self._servers.append(await asyncio.start_server(self._serve, "127.0.0.1", self.port, ssl=self.ctx))
        self._servers.append(await asyncio.start_server(self._plain, "127.0.0.1", self.plain_port))

    async def _plain(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.seen.plain_connections += 1
        writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            await asyncio.wait_for(reader.readexactly(min(length, 16_777_216)), 10)
            mode = self.mode
            self.seen.requests[mode] = self.seen.requests.get(mode, 0) + 1
            if mode == "redirect":
                target = f"http://127.0.0.1:{self.plain_port}/federation/v1/envelopes"
                writer.write(
                    f"HTTP/1.1 307 Temporary Redirect\r\nLocation: {target}\r\n"
                    "Content-Length: 0\r\nConnection: close\r\n\r\n".encode()
                )
                await writer.drain()
            elif mode in ("huge-declared", "huge-chunked"):
                await self._huge(reader, writer, declared=mode == "huge-declared")
            elif mode == "trickle":
                await self._trickle(reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        finally:
            writer.close()

    async def _huge(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, declared: bool) -> None:
        framing = f"Content-Length: {GB}" if declared else "Transfer-Encoding: chunked"
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{framing}\r\n\r\n".encode())
        sent = 0
        try:
            while sent < GB:  # generated as it goes: the test never holds the gigabyte
                piece = CHUNK if declared else b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK)
                writer.write(piece)
                await asyncio.wait_for(writer.drain(), 5)
                sent += len(CHUNK)
                if reader.at_eof():
                    break
        finally:
            self.seen.bytes_sent.append(sent)

    async def _trickle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
        await writer.drain()
        began = time.monotonic()
        try:
            for _ in range(60):  # bounded: a minute at most even if the client never hangs up
                writer.write(b" ")
                await writer.drain()
                try:
                    if await asyncio.wait_for(reader.read(1), 1.0) == b"":
                        break  # the client hung up
                except TimeoutError:
                    continue
        finally:
            self.seen.trickle_held_s.append(time.monotonic() - began)


class Sampler:
    """A's resident memory, sampled every 50 ms in a thread."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join(5)


def add_hostile_peer(base: Path, a: NodeProcess) -> NodeProcess:
    """H: a home with a card A pins and a channel A–H; never started as a node."""
    h = init_node(base, "node-h", "Elsewhere")
    h.cli_here("identity", "--out", str(base / "node-h.card.json"))
    h.cli_here("desk", "add", "duty")
    h.cli_here("peer", "add", str(base / "node-a.card.json"))
    a.cli_here("peer", "add", str(base / "node-h.card.json"))
    charter = base / "hostile.toml"
    charter.write_text(H_CHARTER)
    proposal = str(base / "hp.json")
    a.cli_here("channel", "propose", "--peer", "node-h", "--charter", str(charter), "--out", proposal)
    h.cli_here("channel", "accept", str(base / "hp.json"), "--out", str(base / "hc.json"))
    a.cli_here("channel", "accept", str(base / "hc.json"))
    return h


def send_and_confirm(a: NodeProcess, b: NodeProcess, label: str, count: int, deadline_s: float) -> None:
    """Send ``count`` messages A→B; each arrives once at B and A holds B's receipt."""
    ids = [a.send("test-line", f"{label} {i}")["id"] for i in range(count)]
    a.send("hostile-line", f"{label} to the hostile peer")
    deadline = time.monotonic() + deadline_s
    pending = set(ids)
    with a.client() as ca, b.client() as cb:
        while pending and time.monotonic() < deadline:
            for mid in sorted(pending):
                at_a = ca.get(f"/api/v1/messages/{mid}").json()
                if [r["receiver"] for r in at_a["receipts"] if r["receipted_at"]] == ["node-b"]:
                    pending.discard(mid)
            time.sleep(0.1)
        assert not pending, f"{label}: B's receipts missing for {sorted(pending)}"
        received = [m["id"] for m in cb.get("/api/v1/messages", params={"limit": 500}).json()["items"]]
    for mid in ids:
        assert received.count(mid) == 1, f"{label}: {mid} seen {received.count(mid)} times at B"


def test_a_hostile_peer_costs_neither_memory_nor_other_peers(tmp_path: Path) -> None:
    a, b = make_pair(tmp_path, config=CONFIG)
    h = add_hostile_peer(tmp_path, a)
    hostile = HostilePeer(h.home, h.port, free_port())
    hostile.start()
    try:
        a.start()
        b.start()
        assert a.proc is not None
        send_and_confirm(a, b, "warm-up", 2, 10)
        idle = psutil.Process(a.proc.pid).memory_info().rss
        with Sampler(a.proc.pid) as memory:
            for mode, seconds in (
                ("redirect", 2.0),
                ("huge-declared", 2.0),
                ("huge-chunked", 3.0),
                ("trickle", REQUEST_TIMEOUT_S + 2.5),
            ):
                hostile.mode = mode
                phase_end = time.monotonic() + seconds
                send_and_confirm(a, b, mode, 3, 10)
                time.sleep(max(0.0, phase_end - time.monotonic()))
        seen = hostile.seen
        assert seen.requests.get("redirect", 0) >= 1, seen
        assert seen.plain_connections == 0, "A followed a redirect to plain http"
        assert seen.requests.get("huge-declared", 0) >= 1, seen
        assert seen.requests.get("huge-chunked", 0) >= 1, seen
        assert max(seen.bytes_sent) < 64 * 1024 * 1024, f"A read on: {seen.bytes_sent}"
        growth = memory.peak - idle
        assert growth < 64 * 1024 * 1024, f"A's RSS grew by {growth / 1e6:.0f} MB"
        assert seen.requests.get("trickle", 0) >= 1, seen
        assert seen.trickle_held_s, seen
        assert max(seen.trickle_held_s) <= REQUEST_TIMEOUT_S + 2.0, seen.trickle_held_s
        with a.client() as c:
            assert c.get("/healthz").status_code == 200
            peers = {p["peer"]: p for p in c.get("/api/v1/status").json()["peers"]}
        assert peers["node-b"]["outbox_depth"] == 0
        assert peers["node-h"]["outbox_depth"] >= 1  # nothing the hostile peer said counted as a receipt
        assert a.proc.poll() is None
    finally:
        hostile.stop()
        a.stop()
        b.stop()
