"""The standby gate in-process (issue 15, item 3), on a real Service and app.

Whether the database *is* a standby is tested end to end with real replication in
tests/federation/test_failover.py; here the service is put in the waiting state it enters
when ``pg_is_in_recovery()`` is true, to check every route's answer and the language of it.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from parley.api.app import create_app
from parley.errors import UsageError
from parley.node import Node
from parley.running.service import Service
from tests.harness.nodes import init_node


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return init_node(tmp_path, "node-a", "Norway", config={"database": {"standby_poll_s": 2.5}}).home


async def test_a_waiting_standby_refuses_writes_and_tells_peers_to_retry(home: Path) -> None:
    service = Service(Node.open(home), tick_s=0.05)
    service.standby.waiting = True  # as after Standby.begin on a database in recovery
    transport = httpx.ASGITransport(app=create_app(service))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
            assert (await c.get("/healthz")).status_code == 200
            ready = await c.get("/readyz", headers={"accept-language": "nb"})
            write = await c.post("/api/v1/messages", json={"channel": "x"}, headers={"accept-language": "ru"})
            peer = await c.post("/federation/v1/envelopes", content=b"{}")
            peer_get = await c.get("/federation/v1/chain?channel=x&from=1")
            console = await c.get("/console/")
            docs = await c.get("/openapi.json")
    finally:
        service.node.close()
    assert ready.status_code == 503
    assert [f["code"] for f in ready.json()["failed"]] == ["standby"]
    assert ready.json()["checks"]["database"] == "failed"
    assert ready.json()["failed"][0]["message"].startswith("databasen er en skrivebeskyttet standby")
    for r in (write, peer, peer_get, console):
        assert r.status_code == 503, r.text
        assert r.json()["error"] == "standby"
        assert r.headers["retry-after"] == "3"  # standby_poll_s rounded up, whole seconds
    assert write.headers["content-language"] == "ru"
    assert "pg_ctl promote" in write.json()["hint"]
    assert docs.status_code == 200  # reads pass


async def test_not_waiting_the_gate_lets_everything_through(home: Path) -> None:
    service = Service(Node.open(home), tick_s=0.05)
    transport = httpx.ASGITransport(app=create_app(service))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
            peer = await c.post("/federation/v1/envelopes", json={"envelopes": []})
    finally:
        service.node.close()
    assert peer.status_code == 401  # unsigned: refused by the federation API itself
    assert peer.json()["error"] == "unsigned_request"


def test_a_poll_interval_out_of_bounds_is_refused(tmp_path: Path) -> None:
    home = init_node(tmp_path, "node-a", "Norway", config={"database": {"standby_poll_s": 0.0}}).home
    node = Node.open(home)
    try:
        with pytest.raises(UsageError) as caught:
            Service(node, tick_s=0)
    finally:
        node.close()
    assert "standby_poll_s" in caught.value.message
