"""Health probes (issue 15, item 4): ``/healthz`` (alive) and ``/readyz`` (able to work).

End to end with real node processes, on SQLite and PostgreSQL: ready once started; 503
naming the database when it takes no write — on SQLite another connection holds the write
lock (a file made read-only would not do: the running node keeps its open descriptors), on
PostgreSQL the database stops accepting connections and the node's are ended — while
``/healthz`` still answers; ready again once the database is back. In-process, on a real
``Service``: loops that never started, and a background task that ended, are not ready.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from parley.api.app import create_app
from parley.api.health import PROBE_TIMEOUT_S
from parley.api.route_actions import action_of
from parley.directory.policy import Action
from parley.node import Node
from parley.running.service import Service
from tests.harness.nodes import NodeProcess, init_node, make_pair

READY_WITHIN_S = 15.0


def _wait_for(client: httpx.Client, status: int, within: float = READY_WITHIN_S, **kw: Any) -> httpx.Response:
    deadline = time.monotonic() + within
    while True:
        r = client.get("/readyz", **kw)
        if r.status_code == status or time.monotonic() > deadline:
            return r
        time.sleep(0.2)


def _anonymous(node: NodeProcess) -> httpx.Client:
    client = node.client(timeout=10)
    client.headers.pop("authorization", None)
    return client


def _failed(r: httpx.Response) -> dict[str, dict[str, str]]:
    return {f["code"]: f for f in r.json().get("failed", [])}


@pytest.mark.e2e
def test_ready_then_not_while_the_database_takes_no_write(
    tmp_path: Path, engine_kind: str, request: pytest.FixtureRequest
) -> None:
    urls: tuple[str | None, str | None] = (None, None)
    if engine_kind == "postgresql":
        factory: Callable[[], str] = request.getfixturevalue("pg_factory")
        urls = (factory(), factory())
    a, b = make_pair(tmp_path, db_urls=urls)
    a.start()
    b.start()
    try:
        with _anonymous(a) as c:
            r = _wait_for(c, 200)
            assert r.status_code == 200, r.text
            assert r.json() == {
                "status": "ready",
                "checks": {"database": "ok", "identity_key": "ok", "loops": "ok"},
            }
            assert r.headers["cache-control"] == "no-store"
            # Nothing about peers, channels or the database in an answer anyone may read.
            assert b.name not in r.text
            assert "test-line" not in r.text
            assert c.get("/healthz").json() == {"node": a.name, "status": "ok"}

            with _database_taking_no_write(a, engine_kind, urls[0]):
                r = _wait_for(c, 503, within=PROBE_TIMEOUT_S * 5, headers={"accept-language": "ru"})
                assert r.status_code == 503, r.text
                body = r.json()
                assert body["status"] == "not_ready"
                assert body["checks"]["database"] == "failed"
                assert body["checks"]["identity_key"] == "ok"
                database = [f for f in body["failed"] if f["check"] == "database"]
                assert database, body
                assert database[0]["code"] in {"database_timeout", "database_not_writable", "database_busy"}
                assert r.headers["content-language"] == "ru"
                assert "база данных" in database[0]["message"] or "запис" in database[0]["message"], body
                # Alive all the same: liveness never touches the database.
                t0 = time.monotonic()
                assert c.get("/healthz").status_code == 200
                assert time.monotonic() - t0 < 1.0
                assert b.name not in r.text

            r = _wait_for(c, 200, within=60)
            assert r.status_code == 200, r.text
    finally:
        a.stop()
        b.stop()


class _database_taking_no_write:  # read as a sentence: with _database_taking_no_write(...)
    def __init__(self, node: NodeProcess, engine_kind: str, pg_url: str | None) -> None:
        self.node, self.kind, self.pg_url = node, engine_kind, pg_url
        self._lock: sqlite3.Connection | None = None

    def __enter__(self) -> None:
        if self.kind == "sqlite":
            opened = Node.open(self.node.home)
            path = opened.engine.url.database
            opened.close()
            assert path
            self._lock = sqlite3.connect(path, timeout=30, isolation_level=None)
            self._lock.execute("BEGIN IMMEDIATE")  # the write lock, held until __exit__
        else:
            self._pg(allow=False)

    def __exit__(self, *exc: object) -> None:
        if self._lock is not None:
            self._lock.execute("ROLLBACK")
            self._lock.close()
        else:
            self._pg(allow=True)

    def _pg(self, *, allow: bool) -> None:
        assert self.pg_url
        base, _, name = self.pg_url.rpartition("/")
        admin = create_engine(
            base.replace("postgresql://", "postgresql+psycopg://", 1) + "/postgres",
            isolation_level="AUTOCOMMIT",
        )
        try:
            with admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allow).lower()}'))
                if not allow:
                    conn.execute(
                        text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                        {"n": name},
                    )
        finally:
            admin.dispose()


# --- in-process, on a real Service ----------------------------------------------------------
@pytest.fixture
def home(tmp_path: Path) -> Path:
    return init_node(tmp_path, "node-a", "Norway").home


def test_probes_are_public_routes(home: Path) -> None:
    service = Service(Node.open(home), tick_s=0)
    try:
        app = create_app(service)
        actions = {getattr(r, "path", None): action_of(r) for r in app.routes}
        assert actions["/healthz"] is Action.PUBLIC
        assert actions["/readyz"] is Action.PUBLIC
        assert "/readyz" not in app.openapi()["paths"]
    finally:
        service.node.close()


def _asgi(service: Service) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(service))
    return httpx.AsyncClient(transport=transport, base_url="https://testserver")


async def test_not_ready_while_the_loops_have_not_started(home: Path) -> None:
    service = Service(Node.open(home), tick_s=0.05)  # its background work is never started
    try:
        async with _asgi(service) as c:
            assert (await c.get("/healthz")).status_code == 200
            r = await c.get("/readyz", headers={"accept-language": "nb"})
    finally:
        service.node.close()
    assert r.status_code == 503
    body = r.json()
    assert body["checks"] == {"database": "ok", "identity_key": "ok", "loops": "failed"}
    assert [f["code"] for f in body["failed"]] == ["loops_not_started"]
    assert r.headers["content-language"] == "nb"
    assert body["failed"][0]["message"] == "bakgrunnsløkkene har ikke startet"


async def test_not_ready_once_a_background_task_has_ended(home: Path) -> None:
    service = Service(Node.open(home), tick_s=0.05)
    await service.start()
    try:
        async with _asgi(service) as c:
            r = await c.get("/readyz")
            deadline = time.monotonic() + READY_WITHIN_S
            while r.status_code != 200 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
                r = await c.get("/readyz")
            assert r.status_code == 200, r.text

            (deadlines,) = [t for t in service.tasks if t.get_coro().__qualname__ == "Service._deadline_loop"]  # type: ignore[union-attr]
            deadlines.cancel()
            await asyncio.wait({deadlines}, timeout=5)
            r = await c.get("/readyz")
    finally:
        await service.shutdown()
    assert r.status_code == 503, r.text
    assert r.json()["checks"]["loops"] == "failed"
    assert _failed(r)["loop_ended"]["message"] == "1 background task has ended"
