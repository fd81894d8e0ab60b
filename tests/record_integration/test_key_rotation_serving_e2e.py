"""Operational-key rotation while the node serves, between two real nodes over HTTPS
(docs/protocol.md §13.4, docs/operations.md "Key rotation", issue 15).

Both nodes get roots (the migration), start, and send to each other. With node-a running,
its root signs a rotation dated a few seconds ahead (``key rotate --root … --effective``);
node-a keeps serving and sending, takes the new key up at that time without a restart, and
node-b takes every envelope: each one dated before the time signed with the old key, each
one from then on with the new key. Every message is receipted, both records verify, and no
security alarm is raised.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from parley.clock import format_time
from parley.directory.key_tables import key_roots
from parley.node import Node
from parley.storage.tables import envelopes
from tests.harness.nodes import NodeProcess, make_pair
from tests.record_integration.test_key_rotation_e2e import count, history
from tests.record_integration.test_two_nodes import drained, engine_of, wait_for

pytestmark = pytest.mark.e2e
CHANNEL = "test-line"
AHEAD_S = 15  # the rotation's effective time, from the command (at least the request lead)
MAX_PAIRS = 2000  # messages each way at most while waiting for it (bounded, with a time limit)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeProcess, NodeProcess, Path]]:
    base = tmp_path_factory.mktemp("keys-serving")
    a, b = make_pair(base, interval=1, tick=0.2)
    roots = base / "offline"
    roots.mkdir()
    for n in (a, b):
        n.cli_here("key", "root", "init", "--out", str(roots / f"{n.name}.root"))
        n.cli_here("key", "certify", "--root", str(roots / f"{n.name}.root"))
    a.start()
    b.start()
    try:
        yield a, b, base
    finally:
        a.stop()
        b.stop()


def signed_by(node: NodeProcess, sender: str) -> list[tuple[str, str]]:
    """(created, key_id) of every envelope of ``sender`` that ``node`` stored."""
    engine = engine_of(node)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(envelopes.c.created, envelopes.c.raw).where(envelopes.c.sender_node == sender)
            ).all()
    finally:
        engine.dispose()
    return [(r.created, json.loads(r.raw)["key_id"]) for r in rows]


def test_rotation_while_serving(pair: tuple[NodeProcess, NodeProcess, Path]) -> None:
    a, b, base = pair
    wait_for(
        "upgraded cards over the link",
        lambda: count(b, key_roots, "node-a") == 1 and count(a, key_roots, "node-b") == 1,
    )
    assert a.proc is not None
    pid = a.proc.pid
    sent = 0
    for i in range(10):
        a.send(CHANNEL, f"a before {i}")
        b.send(CHANNEL, f"b before {i}")
        sent += 1
    probe = Node.open(a.home)
    effective = format_time(probe.clock.now() + timedelta(seconds=AHEAD_S))
    probe.close()
    a.cli_here("key", "rotate", "--root", str(base / "offline" / "node-a.root"), "--effective", effective)
    old_id, new_id = (k["key_id"] for k in history(a)["keys"])

    started = time.monotonic()
    switched = False
    for i in range(MAX_PAIRS):
        a.send(CHANNEL, f"a during {i}")
        b.send(CHANNEL, f"b during {i}")
        sent += 1
        if not (a.home / "identity.key.pending").exists():
            switched = True
            break
        assert time.monotonic() - started < AHEAD_S + 120, "node-a did not take the new key up"
    assert switched, f"no switch after {MAX_PAIRS} messages each way"
    for i in range(10):
        a.send(CHANNEL, f"a after {i}")
        b.send(CHANNEL, f"b after {i}")
        sent += 1
    assert a.proc.pid == pid
    assert a.proc.poll() is None

    wait_for("delivery across the rotation", lambda: drained(a, b), timeout=300)
    stored = signed_by(b, "node-a")
    assert len(stored) >= sent
    assert {k for c, k in stored if c < effective} == {old_id}
    assert {k for c, k in stored if c >= effective} == {new_id}
    assert {p["name"]: p for p in b.cli_json("peer", "list")}["node-a"]["key_id"] == new_id
    for n in (a, b):
        assert [x for x in n.cli_json("status")["alarms"] if x["severity"] == "security"] == []
        assert "record intact" in n.cli("verify").stdout
