"""Two in-process nodes on real homes with a ManualClock, once per storage engine."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, update

from parley.clock import ManualClock
from parley.directory.peers import do_add_peer
from parley.errors import ConflictError
from parley.federation.witnessing import (
    ExchangeResult,
    accept_response,
    answer_checkpoint,
    prepare_request,
)
from parley.node import Node, init_home
from parley.protocol.keys import unb64
from parley.record import log
from parley.record.journal import journal_txn
from parley.record.tables import log_leaves, log_nodes


@dataclass
class Nodes:
    a: Node
    b: Node
    clock: ManualClock


def grow(node: Node, count: int) -> None:
    """Append ``count`` synthetic leaves to ``node``'s log, as the journal does."""
    with node.engine.begin() as conn:
        for _ in range(count):
            ref = str(uuid.uuid4())
            journal_txn(conn, "envelope", ref, f"synthetic {ref}".encode())


def tamper_log(engine: Engine, value: bytes = b"\x01" * 32) -> None:
    """Overwrite the stored hash of the largest complete subtree at the start of the log.

    Every root from then on is computed from it, so the node's next checkpoint shows
    another history than the one its peer witnessed.
    """
    with engine.begin() as conn:
        size = log.size(conn)
        level = size.bit_length() - 1
        if level == 0:
            conn.execute(update(log_leaves).where(log_leaves.c.idx == 0).values(leaf_hash=value))
        else:
            conn.execute(
                update(log_nodes).where(log_nodes.c.level == level, log_nodes.c.idx == 0).values(hash=value)
            )


@pytest.fixture
def nodes(tmp_path: Path, engine_kind: str, request: pytest.FixtureRequest) -> Iterator[Nodes]:
    urls: list[str | None] = [None, None]
    if engine_kind == "postgresql":
        make: Callable[[], str] = request.getfixturevalue("pg_factory")
        urls = [make(), make()]
    clock = ManualClock()
    homes = []
    for name, party, port, url in (
        ("node-a", "Norway", 18501, urls[0]),
        ("node-b", "Russia", 18502, urls[1]),
    ):
        homes.append(
            init_home(
                tmp_path / name,
                name=name,
                party=party,
                listen=f"127.0.0.1:{port}",
                database_url=url,
            )
        )
    a, b = (Node.open(h, clock=clock) for h in homes)
    do_add_peer(a, b.card().to_json())
    do_add_peer(b, a.card().to_json())
    pair = Nodes(a, b, clock)
    try:
        yield pair
    finally:
        # A test may reopen a node (a restore): close the ones the pair holds at the end.
        pair.a.close()
        pair.b.close()


def wire(value: Any) -> Any:
    return json.loads(json.dumps(value))


def exchange(req: Node, resp: Node) -> ExchangeResult:
    request = prepare_request(req, resp.name)
    try:
        response = answer_checkpoint(resp, req.name, wire(request))
    except ConflictError as exc:
        if exc.code != "witness_size_mismatch":
            raise
        root = exc.details.get("last_root")
        request = prepare_request(
            req, resp.name, exc.details["last_size"], None if root is None else unb64(root)
        )
        response = answer_checkpoint(resp, req.name, wire(request))
    return accept_response(req, resp.name, request, wire(response))
