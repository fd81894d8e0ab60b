"""Shared set-up for the paging tests: two real homes on a ManualClock, people, a chain.

Node A sends, node B receives; both are real homes (real databases: SQLite or PostgreSQL)
opened in-process on one ManualClock, and the link is what the federation handlers do
(``receive_batch`` on B, ``accept_receipts`` on A), as in tests/federation/test_clock.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from parley.clock import ManualClock
from parley.devnet.nodes import PASSWORD
from parley.directory.contacts import set_contact
from parley.directory.operators import do_add_operator, get_operator, set_language
from parley.messaging.acknowledge import do_acknowledge
from parley.messaging.receipts import accept_receipts
from parley.messaging.receive import receive_batch
from parley.messaging.send import Draft, do_send_message
from parley.node import Node
from parley.protocol.envelope import SignedEnvelope
from parley.storage.tables import audit_log
from parley.watch.roster import ShiftSpec, add_shifts
from tests.federation.crafting import quick_pair

START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
FLASH_S = 300


@dataclass
class Pair:
    clock: ManualClock
    a: Node
    b: Node


def make_nodes(
    tmp_path: Path,
    engine_kind: str,
    request: pytest.FixtureRequest,
    config: dict[str, dict[str, Any]] | None = None,
) -> Pair:
    urls: tuple[str | None, str | None] = (None, None)
    if engine_kind == "postgresql":
        factory: Callable[[], str] = request.getfixturevalue("pg_factory")
        urls = (factory(), factory())
    a_proc, b_proc = quick_pair(tmp_path, db_urls=urls, config=config, flash=FLASH_S)
    clock = ManualClock(START)
    a = Node.open(a_proc.home, clock=clock)
    b = Node.open(b_proc.home, clock=clock)
    request.addfinalizer(a.close)
    request.addfinalizer(b.close)
    return Pair(clock, a, b)


def add_people(node: Node, *, domain: str = "node-b.example") -> dict[str, str]:
    """An officer on watch (reads Norwegian), a supervisor and a head of desk, with e-mail."""
    people = {"officer": ("duty", "nb"), "chief": ("supervisor", "ru"), "head": ("duty", "en")}
    for name, (role, _lang) in people.items():
        do_add_operator(node, name, "duty", role, PASSWORD)
        set_contact(node, name, email=f"{name}@{domain}")
    for name, (_role, lang) in people.items():
        set_language(node, name, lang)
    add_shifts(
        node,
        "duty",
        [ShiftSpec("officer", "2026-03-02T00:00", "2026-03-03T00:00", "UTC")],
        actor="test",
    )
    return {name: f"{name}@{domain}" for name in people}


def send(node: Node, text: str, precedence: str = "FLASH") -> SignedEnvelope:
    draft = Draft("test-line", "duty", "general", precedence, "EXERCISE", {"text": text, "lang": "en"})
    return do_send_message(node, draft)


def deliver(sender: Node, receiver: Node, env: SignedEnvelope) -> None:
    """What the link does: the receiver stores and receipts, the sender accepts the receipt."""
    result = receive_batch(receiver, sender.name, [env.to_wire()])
    assert accept_receipts(sender, receiver.name, [r.to_json() for r in result.receipts])


def acknowledge(pair: Pair, env: SignedEnvelope, who: str) -> None:
    """B's ``who`` acknowledges; the acknowledgment reaches A as well."""
    ack = do_acknowledge(pair.b, env.id, get_operator(pair.b, who))
    deliver(pair.b, pair.a, ack)


def audit_actions(node: Node, prefix: str = "page") -> list[tuple[str, dict[str, Any]]]:
    import json

    with node.reader.connect() as conn:
        rows = conn.execute(select(audit_log).order_by(audit_log.c.id)).all()
    return [(r.action, json.loads(r.details)) for r in rows if r.action.startswith(prefix)]
