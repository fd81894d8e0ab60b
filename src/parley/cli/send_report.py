"""What ``parley send`` tells the sender: stored, queued for whom, and (``--wait``) receipted.

A bare message id said nothing about whether the message would leave the building. The
report reads the same rows the node acts on: the stored envelope, the charter's member
nodes (whom the federation sender delivers to, docs/protocol.md §7), whether this home's
``parley serve`` runs (``parley.node_running``), and the ``delivery`` rows that signed
receipts create (docs/protocol.md §8: a receipt is the receiving node's signed statement that
it stored the message, with the time the acknowledgment deadline runs from).
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select

from parley.channels.registry import get_channel_txn
from parley.cli.common import label, say
from parley.federation.outbox import outbox_depth_txn
from parley.formats.catalogue import Catalogue
from parley.node import Node
from parley.protocol.envelope import SignedEnvelope
from parley.storage.tables import delivery

# Between looks at the database while waiting: a receipt comes back within one delivery
# round (the node's tick), so a finer poll only costs queries.
POLL_S = 0.2
MAX_WAIT_S = 600.0


def _receipts(node: Node, message_id: str) -> list[dict[str, Any]]:
    with node.reader.connect() as conn:
        rows = conn.execute(
            select(delivery).where(delivery.c.message_id == message_id).order_by(delivery.c.receiver_node)
        ).all()
    return [{"receiver": r.receiver_node, "receipted_at": r.receipted_at, "due_at": r.due_at} for r in rows]


def report(node: Node, env: SignedEnvelope, serving: bool) -> dict[str, Any]:
    """The facts about a just-stored envelope, as data (``send --json`` prints this)."""
    e = env.envelope
    with node.reader.connect() as conn:
        peers = [p for p in get_channel_txn(conn, e["channel"]).charter.member_nodes if p != node.name]
        queued = [{"peer": p, "outbox_depth": outbox_depth_txn(conn, node.name, p)} for p in peers]
    return {
        "id": env.id,
        "seq": env.seq,
        "hash": env.hash,
        "channel": e["channel"],
        "type": e["type"],
        "precedence": e["precedence"],
        "status": e["status"],
        "created": e["created"],
        "stored": True,
        "serving": serving,
        "queued_for": queued,
        "receipts": _receipts(node, env.id),
        "waited_s": None,
        "receipted_by_all": False,
    }


def wait_for_receipts(node: Node, facts: dict[str, Any], wait_s: float) -> dict[str, Any]:
    """``facts`` with the receipts that arrived within ``wait_s`` seconds (bounded by MAX_WAIT_S)."""
    wanted = {q["peer"] for q in facts["queued_for"]}
    start = time.monotonic()
    deadline = start + min(wait_s, MAX_WAIT_S)
    while True:
        got = _receipts(node, facts["id"])
        done = wanted <= {r["receiver"] for r in got}
        if done or time.monotonic() >= deadline:
            return {
                **facts,
                "receipts": got,
                "waited_s": round(time.monotonic() - start, 3),
                "receipted_by_all": done,
            }
        time.sleep(POLL_S)


def print_report(facts: dict[str, Any], cat: Catalogue, waited: bool) -> None:
    """The report for a person, one fact a line; the message id last, for scripts and the tour."""
    say(
        cat.get(
            "cli.tool.send.stored",
            type=label("type", facts["type"], cat.lang),
            precedence=facts["precedence"],
            status=label("status", facts["status"], cat.lang),
            channel=facts["channel"],
            seq=facts["seq"],
            time=facts["created"],
        )
    )
    receipted = {r["receiver"]: r for r in facts["receipts"]}
    for q in facts["queued_for"]:
        r = receipted.get(q["peer"])
        if r is not None:
            due = r["due_at"] or "-"
            say(cat.get("cli.tool.send.receipted", peer=q["peer"], at=r["receipted_at"], due=due))
        elif waited:
            say(cat.get("cli.tool.send.not_receipted", peer=q["peer"], seconds=facts["waited_s"]))
        elif facts["serving"]:
            say(cat.get("cli.tool.send.queued", peer=q["peer"], depth=q["outbox_depth"]))
        else:
            say(cat.get("cli.tool.send.queued_not_serving", peer=q["peer"], depth=q["outbox_depth"]))
    say(cat.get("cli.tool.send.id", id=facts["id"]))
