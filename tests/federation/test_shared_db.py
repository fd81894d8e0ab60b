"""Two ``parley serve`` processes of the same node sharing one PostgreSQL database.

Both processes take operators' messages at once and both run a sending loop for the same
peer. The chain head row lock must give every message its own seq, and the lease on the
peer's ``peer_links`` row (SELECT … FOR UPDATE SKIP LOCKED) must let only one of them send
at a time: afterwards the peer holds every message exactly once and the chain is whole.
"""

from __future__ import annotations

import shutil
import threading
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
import tomli_w
from sqlalchemy import select

from parley.devnet.proxy import free_port
from parley.node import Node
from parley.protocol.verify import verify_envelope
from parley.storage.tables import envelopes, peer_links
from tests.federation.crafting import quick_pair
from tests.harness.nodes import NodeProcess

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

COUNT = 300


def second_process(first: NodeProcess, base: Path) -> NodeProcess:
    """The same node (identity, certificate, database) listening on another port."""
    home = base / "second" / first.name
    shutil.copytree(first.home, home)
    port = free_port()
    path = home / "parley.toml"
    data = tomllib.loads(path.read_text())
    data["node"]["listen"] = f"127.0.0.1:{port}"
    path.write_text(tomli_w.dumps(data))
    twin = NodeProcess(home, first.name, port, port, first.tick)
    twin.token = first.token  # same database, same operators and tokens
    return twin


def chain_rows(node: Node, sender: str) -> list[tuple[str, int, bytes]]:
    with node.engine.connect() as conn:
        rows = conn.execute(
            select(envelopes.c.id, envelopes.c.seq, envelopes.c.raw)
            .where(envelopes.c.sender_node == sender, envelopes.c.type == "general")
            .order_by(envelopes.c.seq)
        ).all()
    return [(r.id, int(r.seq), bytes(r.raw)) for r in rows]


@pytest.mark.timeout(240)
def test_two_serve_processes_share_one_database(tmp_path: Path, pg_factory: Callable[[], str]) -> None:
    a, b = quick_pair(tmp_path, db_urls=(pg_factory(), pg_factory()))
    a2 = second_process(a, tmp_path)
    procs = (a, a2, b)
    for p in procs:
        p.start()
    sent: dict[str, list[str]] = {"first": [], "second": []}
    errors: list[str] = []

    def submit(proc: NodeProcess, label: str) -> None:
        with proc.client() as c:
            for i in range(COUNT // 2):
                r = c.post(
                    "/api/v1/messages",
                    json={
                        "channel": "test-line",
                        "type": "general",
                        "body": {"text": f"{label} {i}", "lang": "en"},
                    },
                )
                if r.status_code != 201:
                    errors.append(f"{label} {i}: {r.status_code} {r.text[:200]}")
                    return
                sent[label].append(r.json()["id"])

    a_node = Node.open(a.home)
    b_node = Node.open(b.home)
    try:
        threads = [
            threading.Thread(target=submit, args=(p, label)) for p, label in ((a, "first"), (a2, "second"))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors
        assert len(sent["first"]) == len(sent["second"]) == COUNT // 2

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and len(chain_rows(b_node, "node-a")) < COUNT:
            time.sleep(0.2)

        mine = chain_rows(a_node, "node-a")
        theirs = chain_rows(b_node, "node-a")
        everything = set(sent["first"]) | set(sent["second"])
        assert len(everything) == COUNT
        # The sending node: one chain, seq 1…300, each link naming the one before.
        assert [s for _, s, _ in mine] == list(range(1, COUNT + 1))
        assert {i for i, _, _ in mine} == everything
        prev = None
        for _, _, raw in mine:
            env = verify_envelope(_loads(raw), a_node.key_for, previous=prev, check_chain=True)
            prev = (env.seq, env.hash)
        # Each process's own submissions keep their order within the one chain.
        order = {i: s for i, s, _ in mine}
        for label in ("first", "second"):
            seqs = [order[i] for i in sent[label]]
            assert seqs == sorted(seqs)
        # The peer: every message exactly once, the same bytes, the same order.
        assert [(i, s) for i, s, _ in theirs] == [(i, s) for i, s, _ in mine]
        assert [raw for _, _, raw in theirs] == [raw for _, _, raw in mine]

        # At most one process holds the lease on the peer at any time.
        with a_node.engine.connect() as conn:
            owners = (
                conn.execute(select(peer_links.c.lease_owner).where(peer_links.c.peer == "node-b"))
                .scalars()
                .all()
            )
        assert len(owners) == 1
    finally:
        for p in procs:
            p.kill()
        a_node.close()
        b_node.close()


def _loads(raw: bytes) -> object:
    from parley.protocol.canonical import loads_strict

    return loads_strict(raw)
