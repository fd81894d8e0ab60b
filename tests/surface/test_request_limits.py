"""The node's HTTP surface against a hostile client, with a real node process: bodies bounded
while they stream (4 × 250 MB without log-in), slow bodies and heads timed out, an aborted
upload logged in one line, HSTS on every answer (issue 14, items 1 and 9)."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator

import httpx
import psutil
import pytest

from parley.protocol.tls import pinned_client_context
from tests.harness.nodes import NodeProcess, init_node

pytestmark = pytest.mark.e2e

MB = 1024 * 1024
IDLE_SLACK = 64 * MB
BODY_IDLE_S = 1.0


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    base = tmp_path_factory.mktemp("limits")
    n = init_node(
        base,
        "north",
        "Norway",
        # The total body deadline is tested with a clock in test_limits_clock.py.
        config={"http": {"body_idle_timeout_s": BODY_IDLE_S, "header_timeout_s": 1.0}},
    )
    n.cli_here("desk", "add", "duty")
    pw = base / "pw"
    pw.write_text("correct horse battery")
    n.cli_here("operator", "add", "op", "--desk", "duty", "--role", "duty", "--password-file", str(pw))
    n.token = n.cli_here("token", "issue", "op").stdout.strip()
    n.start()
    try:
        yield n
    finally:
        n.stop()


def _tls(node: NodeProcess) -> ssl.SSLContext:
    return pinned_client_context(node.cert())


def _connect(node: NodeProcess) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", node.port), timeout=10)
    return _tls(node).wrap_socket(raw, server_hostname="127.0.0.1")


def _read_answer(sock: ssl.SSLSocket, limit: float = 10.0) -> bytes:
    sock.settimeout(limit)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (TimeoutError, ConnectionError, ssl.SSLError):
        pass
    return data


def _log_since(node: NodeProcess, offset: int) -> str:
    return node.log_path.read_bytes()[offset:].decode(errors="replace")


def _log_size(node: NodeProcess) -> int:
    return node.log_path.stat().st_size if node.log_path.exists() else 0


def test_four_parallel_250mb_posts_without_login_leave_memory_alone(node: NodeProcess) -> None:
    assert node.proc is not None
    proc = psutil.Process(node.proc.pid)
    with node.client() as c:  # warm up the paths the test touches
        assert c.get("/healthz").status_code == 200
    idle = proc.memory_info().rss
    peak = idle
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, proc.memory_info().rss)
            time.sleep(0.05)

    chunk = b"x" * (1 * MB)

    def body() -> Iterator[bytes]:
        for _ in range(250):
            yield chunk

    outcomes: list[str] = []

    def post() -> None:
        # Streamed by the client (chunked): the node sees no Content-Length to refuse early.
        with httpx.Client(base_url=node.url, verify=_tls(node), timeout=20) as c:
            try:
                r = c.post("/api/v1/messages/batch", content=body())
                outcomes.append(f"{r.status_code} {r.json().get('error')}")
            except httpx.HTTPError as exc:  # the node closed the connection after answering
                outcomes.append(type(exc).__name__)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    posts = [threading.Thread(target=post, daemon=True) for _ in range(4)]
    for t in posts:
        t.start()
    for t in posts:
        t.join(25)
    stop.set()
    sampler.join(2)
    assert all(not t.is_alive() for t in posts), "a POST did not end within 25 s"
    assert time.monotonic() - started < 25
    assert len(outcomes) == 4
    assert peak - idle < IDLE_SLACK, f"idle {idle / MB:.0f} MB, peak {peak / MB:.0f} MB"
    with node.client() as c:
        assert c.get("/healthz").status_code == 200
    # Without a token the API answers before reading: 401 (or the connection is gone).
    assert all(o.startswith("401 unauthorized") or "Error" in o for o in outcomes), outcomes


def test_declared_length_over_the_anonymous_limit_is_refused_unread(node: NodeProcess) -> None:
    with httpx.Client(base_url=node.url, verify=_tls(node), timeout=10) as c:
        r = c.post("/console/login", content=b"u" * (65_536 + 1))
    assert r.status_code == 413
    assert r.json()["error"] == "request_too_large"
    assert r.json()["hint"]
    assert r.headers["connection"] == "close"


def test_streamed_body_over_the_anonymous_limit_is_413(node: NodeProcess) -> None:
    def body() -> Iterator[bytes]:
        for _ in range(200):
            yield b"a" * 1024

    with httpx.Client(base_url=node.url, verify=_tls(node), timeout=10) as c:
        r = c.post(
            "/console/login", content=body(), headers={"content-type": "application/x-www-form-urlencoded"}
        )
    assert r.status_code == 413
    assert r.json()["error"] == "request_too_large"


def test_authenticated_batch_of_500_fits(node: NodeProcess) -> None:
    text = "x" * 2000
    batch = {"messages": [{"channel": "none", "type": "general", "body": {"text": text}}] * 500}
    with node.client() as c:
        r = c.post("/api/v1/messages/batch", json=batch)
    # Over 1 MB of JSON reached the application: every message is refused on its own merits.
    assert r.status_code == 200, r.text
    assert r.json()["refused"] == 500


def test_wrong_token_is_refused_before_the_body_is_read(node: NodeProcess) -> None:
    with _connect(node) as sock:
        sock.sendall(
            b"POST /api/v1/messages HTTP/1.1\r\nhost: x\r\nauthorization: Bearer nope\r\n"
            b"content-type: application/json\r\ncontent-length: 1000000\r\n\r\n{"
        )
        answer = _read_answer(sock)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert b'"unauthorized"' in answer


def test_slow_body_gets_408(node: NodeProcess) -> None:
    with _connect(node) as sock:
        sock.sendall(
            b"POST /console/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\n"
            b"content-length: 100\r\n\r\nusername="
        )
        started = time.monotonic()
        answer = _read_answer(sock)
        took = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"request_timeout"' in answer
    assert BODY_IDLE_S * 0.9 < took < BODY_IDLE_S + 3


def test_slow_head_is_dropped(node: NodeProcess) -> None:
    with _connect(node) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")  # never the empty line
        started = time.monotonic()
        answer = _read_answer(sock)
        took = time.monotonic() - started
    assert answer == b""
    assert took < 5


def test_huge_head_is_431(node: NodeProcess) -> None:
    with _connect(node) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
        try:
            for _ in range(20):
                sock.sendall(b"x-filler: " + b"y" * 8000 + b"\r\n")
        except (ConnectionError, ssl.SSLError):
            pass
        answer = _read_answer(sock)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]


def test_aborted_upload_is_one_log_line(node: NodeProcess) -> None:
    before = _log_size(node)
    for path in ("/federation/v1/envelopes", "/api/v1/messages"):
        with _connect(node) as sock:
            sock.sendall(
                f"POST {path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {node.token}\r\n"
                "content-type: application/json\r\ncontent-length: 100000\r\n\r\n".encode()
                + b"{" * 5000
            )
            time.sleep(0.2)
        # Closed mid-body: the node notices when it next reads.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _log_since(node, before).count("went away") < 2:
        time.sleep(0.1)
    log = _log_since(node, before)
    assert "Traceback" not in log, log
    lines = [line for line in log.splitlines() if "went away" in line]
    assert len(lines) == 2, log
    with node.client() as c:
        assert c.get("/healthz").status_code == 200


def test_hsts_on_every_answer(node: NodeProcess) -> None:
    with httpx.Client(base_url=node.url, verify=_tls(node), timeout=10) as c:
        answers = [c.get("/healthz"), c.get("/api/v1/status"), c.get("/nowhere"), c.get("/console/login")]
        answers.append(c.post("/console/login", content=b"u" * 70_000))
    for r in answers:
        assert r.headers.get("strict-transport-security") == "max-age=31536000", (r.url, r.status_code)
