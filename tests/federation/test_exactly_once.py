"""Exactly-once delivery between two real node processes, through crashes and link cuts."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from parley.node import resolve_db_url
from parley.storage.engines import normalise_url
from tests.harness.nodes import NodeProcess, make_pair
from tests.harness.proxy import FaultProxy

pytestmark = pytest.mark.e2e


def db_urls(kind: str, pg_factory: Callable[[], str] | None) -> tuple[str | None, str | None]:
    if kind == "sqlite":
        return (None, None)
    assert pg_factory is not None
    return (pg_factory(), pg_factory())


def stored(node: NodeProcess, sender: str) -> list[tuple[str, int]]:
    import tomllib

    cfg = tomllib.loads((node.home / "parley.toml").read_text())
    engine = create_engine(normalise_url(resolve_db_url(node.home, cfg["database"]["url"])))
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, seq FROM envelopes WHERE sender_node = :s AND type = 'general' ORDER BY seq"),
            {"s": sender},
        ).all()
    engine.dispose()
    return [(r.id, int(r.seq)) for r in rows]


def wait_drained(*nodes: NodeProcess, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    depths: list[int] = []
    while time.monotonic() < deadline:
        depths = []
        for n in nodes:
            with n.client() as c:
                st = c.get("/api/v1/status").json()
            depths.append(sum(p["outbox_depth"] for p in st["peers"]))
        if not any(depths):
            return
        time.sleep(0.2)
    raise AssertionError(f"outboxes not drained after {timeout}s: {depths}")


def send_while_killing(
    sender: NodeProcess, victim: NodeProcess, count: int, kills: int, seed: int
) -> list[str]:
    """Send ``count`` messages from ``sender`` while ``victim`` is SIGKILLed ``kills`` times."""
    rng = random.Random(seed)
    ids: list[str] = []
    done = threading.Event()
    errors: list[BaseException] = []

    def killer() -> None:
        try:
            for _ in range(kills):
                if done.wait(rng.uniform(0.3, 1.2)):
                    break
                victim.kill()
                time.sleep(rng.uniform(0.1, 0.6))
                victim.start()
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    sent: list[tuple[int, str]] = []
    lock = threading.Lock()

    def post(part: range) -> None:
        # Several API clients at once, as several desks would: the node's group commit
        # and its chain must still give each message exactly one seq.
        with sender.client() as c:
            for i in part:
                r = c.post(
                    "/api/v1/messages",
                    json={"channel": "test-line", "type": "general", "body": {"text": f"m{i}", "lang": "en"}},
                )
                assert r.status_code == 201, r.text
                with lock:
                    sent.append((r.json()["seq"], r.json()["id"]))

    t = threading.Thread(target=killer)
    t.start()
    try:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(4) as pool:
            for f in [pool.submit(post, range(k, count, 4)) for k in range(4)]:
                f.result()
        ids.extend(i for _, i in sorted(sent))
    finally:
        done.set()
        t.join(60)
    if errors:
        raise errors[0]
    if victim.proc is None or victim.proc.poll() is not None:
        victim.start()
    return ids


@pytest.mark.timeout(600)
def test_thousand_each_way_through_sigkills(
    tmp_path: Path, engine_kind: str, request: pytest.FixtureRequest
) -> None:
    factory = request.getfixturevalue("pg_factory") if engine_kind == "postgresql" else None
    a, b = make_pair(tmp_path, db_urls=db_urls(engine_kind, factory))
    a.start()
    b.start()
    try:
        sent_a = send_while_killing(a, b, 1000, kills=3, seed=1)
        sent_b = send_while_killing(b, a, 1000, kills=3, seed=2)
        wait_drained(a, b)
        for receiver, sender, sent in ((b, a, sent_a), (a, b, sent_b)):
            got = stored(receiver, sender.name)
            assert [i for i, _ in got] == sent, "each message exactly once, in order"
            assert [s for _, s in got] == list(range(1, 1001)), "chain seq contiguous from 1"
            mine = stored(sender, sender.name)
            assert [i for i, _ in mine] == sent
        a.stop()
        b.stop()
        for n in (a, b):
            out = n.cli_here("verify").stdout
            assert "record intact" in out
    finally:
        a.kill()
        b.kill()


@pytest.mark.timeout(300)
def test_link_cut_longer_than_backoff_ceiling(tmp_path: Path) -> None:
    cfg: dict[str, dict[str, Any]] = {
        "federation": {"backoff_initial_s": 0.1, "backoff_max_s": 1.0, "request_timeout_s": 2.0}
    }
    a, b = make_pair(tmp_path, proxied=True, config=cfg)
    to_b = FaultProxy(b.port, b.advertised_port)
    to_a = FaultProxy(a.port, a.advertised_port)
    a.start()
    b.start()
    try:
        first = [a.send("test-line", f"before {i}")["id"] for i in range(20)]
        wait_drained(a)
        to_b.cut()
        to_a.cut()
        during = [a.send("test-line", f"during {i}")["id"] for i in range(200)]
        time.sleep(3.0)  # three times the backoff ceiling, with the link down throughout
        with a.client() as c:
            st = c.get("/api/v1/status").json()
        peer = next(p for p in st["peers"] if p["peer"] == "node-b")
        assert peer["outbox_depth"] == 200
        assert peer["failures"] >= 2
        assert len(stored(b, "node-a")) == 20
        to_b.stall()
        to_a.stall()
        time.sleep(1.0)
        to_b.restore()
        to_a.restore()
        wait_drained(a, timeout=60)
        got = stored(b, "node-a")
        assert [i for i, _ in got] == first + during
        assert [s for _, s in got] == list(range(1, 221))
    finally:
        a.kill()
        b.kill()
        to_a.close()
        to_b.close()
