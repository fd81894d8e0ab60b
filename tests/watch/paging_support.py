"""Shared set-up for the paging tests: two real homes on a ManualClock, people, a chain.

Node A sends, node B receives; both are real homes (real databases: SQLite or PostgreSQL)
opened in-process on one ManualClock, and the link is what the federation handlers do
(``receive_batch`` on B, ``accept_receipts`` on A), as in tests/federation/test_clock.py.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

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
from tests.federation.test_clock import FLASH_S, START, Pair, make_nodes

# The pair of tests/federation/test_clock.py: the same homes, clock and FLASH deadline.
__all__ = ["FLASH_S", "START", "Pair", "make_nodes"]


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
