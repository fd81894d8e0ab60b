"""Two real nodes in one process, on a ManualClock, for the workflow tests.

Nodes are made by ``init_home`` and opened with a :class:`ManualClock`; cards are pinned,
desks and operators added and a charter signed by both, all through the real actions.
``deliver`` carries one node's unsent envelopes to the other through the real receiving
path (``receive_batch``: every signature, chain and charter check) and brings the signed
receipts back through ``accept_receipts``; ``deliver_control`` does the same for signed
status records. Only the HTTP transport is left out; the two-process tests cover it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from parley.channels.charter import charter_from_toml
from parley.channels.setup import do_accept_channel, do_propose_channel
from parley.clock import ManualClock
from parley.directory.desks import do_add_desk
from parley.directory.operators import Operator, do_add_operator, get_operator
from parley.directory.peers import do_add_peer
from parley.messaging.receipts import accept_receipts
from parley.messaging.receive import receive_batch
from parley.node import Node, init_home
from parley.protocol.envelope import SignedEnvelope
from parley.storage.tables import control_outbox, envelopes

NO, RU = "no-border", "ru-border"
DESK = "commissioner"
PASSWORD = "correct horse battery"
TYPES = [
    "general",
    "border-incident",
    "incident-at-sea",
    "incident-response",
    "meeting-proposal",
    "meeting-acceptance",
    "meeting-protocol",
    "meeting-protocol-signature",
]

BORDER_CHARTER = """
id = "{id}"
members = ["{a}/commissioner", "{b}/commissioner"]
types = {types}
topics = ["fisheries", "border-situation", "search-and-rescue"]
languages = ["nb", "ru", "en"]
cadence = [
  {{ kind = "protocol-meeting", level = "commissioners", every_months = 12 }},
  {{ kind = "preparatory", level = "staff", before_months = 2 }},
]
[name]
en = "Border commissioners"
nb = "Grensekommissærene"
ru = "Пограничные представители"
[basis]
agreement = "Norwegian-Soviet border agreement"
date = 1949-12-29
[deadlines_s]
FLASH = 300
"""


@dataclass
class Pair:
    a: Node
    b: Node
    clock: ManualClock

    def operator(self, node: Node) -> Operator:
        return get_operator(node, f"op-{node.name}")

    def close(self) -> None:
        self.a.close()
        self.b.close()


def make_node(base: Path, name: str, party: str, clock: ManualClock, db_url: str | None) -> Node:
    home = init_home(base / name, name=name, party=party, listen="127.0.0.1:1", database_url=db_url)
    node = Node.open(home, clock=clock)
    do_add_desk(node, DESK)
    do_add_operator(node, f"op-{name}", DESK, "duty", PASSWORD)
    return node


def open_channel(pair: Pair, channel: str, types: list[str] | None = None) -> None:
    text = BORDER_CHARTER.format(id=channel, a=pair.a.name, b=pair.b.name, types=json.dumps(types or TYPES))
    doc = do_propose_channel(pair.a, charter_from_toml(text), pair.b.name)
    countersigned, _ = do_accept_channel(pair.b, doc.to_json())
    do_accept_channel(pair.a, countersigned.to_json())


def make_pair(
    tmp_path: Path,
    db_url: str | None = None,
    *,
    start: datetime | None = None,
    channel: str = "border-1949",
) -> Pair:
    """``a`` (Norway) on ``db_url`` (SQLite when None), ``b`` (Russia) on SQLite."""
    clock = ManualClock(start or datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    a = make_node(tmp_path, NO, "Norway", clock, db_url)
    b = make_node(tmp_path, RU, "Russia", clock, None)
    do_add_peer(a, b.card().to_json())
    do_add_peer(b, a.card().to_json())
    pair = Pair(a, b, clock)
    open_channel(pair, channel)
    return pair


def _unsent(src: Node, dst: Node) -> list[dict[str, Any]]:
    with dst.engine.connect() as conn:
        have = {
            (r.channel, int(r.seq))
            for r in conn.execute(
                select(envelopes.c.channel, envelopes.c.seq).where(envelopes.c.sender_node == src.name)
            )
        }
    with src.engine.connect() as conn:
        rows = conn.execute(
            select(envelopes.c.channel, envelopes.c.seq, envelopes.c.raw)
            .where(envelopes.c.sender_node == src.name)
            .order_by(envelopes.c.channel, envelopes.c.seq)
        ).all()
    return [json.loads(r.raw) for r in rows if (r.channel, int(r.seq)) not in have]


def deliver(src: Node, dst: Node) -> list[str]:
    """Carry ``src``'s envelopes that ``dst`` lacks; return the ids stored at ``dst``."""
    wires = _unsent(src, dst)
    if not wires:
        return []
    result = receive_batch(dst, src.name, wires)
    accept_receipts(src, dst.name, [r.to_json() for r in result.receipts])
    return result.stored


def sync(pair: Pair) -> None:
    deliver_control(pair.a, pair.b)
    deliver_control(pair.b, pair.a)
    deliver(pair.a, pair.b)
    deliver(pair.b, pair.a)


def deliver_control(src: Node, dst: Node) -> int:
    """Apply ``src``'s queued signed status records at ``dst`` (as the federation handler does)."""
    from sqlalchemy import update

    from parley.channels.status import apply_status_record_txn, parse_status_record

    with src.engine.connect() as conn:
        rows = conn.execute(
            select(control_outbox.c.id, control_outbox.c.kind, control_outbox.c.payload).where(
                control_outbox.c.peer == dst.name,
                control_outbox.c.delivered_at.is_(None),
                control_outbox.c.kind == "status",
            )
        ).all()
    for r in rows:
        record = parse_status_record(json.loads(r.payload), dst.key_for)
        with dst.engine.begin() as conn:
            apply_status_record_txn(conn, record, dst.clock.now())
        with src.engine.begin() as conn:
            conn.execute(
                update(control_outbox).where(control_outbox.c.id == r.id).values(delivered_at=src.clock.now())
            )
    return len(rows)


def all_envelopes(node: Node) -> list[SignedEnvelope]:
    """Every envelope of ``node``'s record in the order of its Merkle log."""
    from parley.record.log import iter_leaves

    with node.engine.connect() as conn:
        ids = [leaf.ref for leaf in iter_leaves(conn) if leaf.kind == "envelope"]
        raw = {r.id: r.raw for r in conn.execute(select(envelopes.c.id, envelopes.c.raw))}
    return [SignedEnvelope.from_bytes(raw[i]) for i in ids]


def border_incident(text: str = "Grensemerke 353 funnet skadet.") -> dict[str, Any]:
    return {
        "time": "2026-02-28T07:40:00Z",
        "place": {"border_post": 353, "position": {"lat": 69.6573, "lon": 30.1262}},
        "category": "damage_to_border_marks",
        "requested_action": "joint_investigation",
        "description": {"text": text, "lang": "nb"},
    }


def proposal(
    meeting_id: str,
    *,
    start: str = "2026-06-10T08:00:00Z",
    level: str = "commissioners",
    topics: tuple[str, ...] = ("border-situation",),
    **extra: Any,
) -> dict[str, Any]:
    end = start[:11] + "14:00:00Z"
    return {
        "meeting_id": meeting_id,
        "start": start,
        "end": end,
        "place": {"name": "Grensekommissariatet, Kirkenes"},
        "level": level,
        "delegations": [{"party": "NO", "head": "Norwegian border commissioner"}],
        "agenda": [
            {"item_id": str(i + 1), "topic": t, "title": {"text": f"Sak {i + 1}", "lang": "nb"}}
            for i, t in enumerate(topics)
        ],
        **extra,
    }


def protocol(
    meeting_id: str,
    *,
    held_at: str = "2026-06-10T08:05:00Z",
    decisions: list[dict[str, Any]] | None = None,
    actions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "meeting_id": meeting_id,
        "held_at": held_at,
        "place": {"name": "Grensekommissariatet, Kirkenes"},
        "attendees": [
            {"party": "NO", "name": "Norwegian border commissioner"},
            {"party": "RU", "name": "Russian border commissioner"},
        ],
        "decisions": decisions or [],
        "action_items": actions or [],
    }


def copy_pair(template: Path, dest: Path, *, start: datetime | None = None) -> Pair:
    """A fresh pair from a template made by ``make_pair`` on SQLite (much faster than init)."""
    import shutil

    shutil.copytree(template, dest)
    clock = ManualClock(start or datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    return Pair(Node.open(dest / NO, clock=clock), Node.open(dest / RU, clock=clock), clock)
