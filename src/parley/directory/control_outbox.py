"""Control documents over the link: charters and status records, delivered reliably.

They are signed on their own (they are not envelopes on a chain) and queued per peer in
``control_outbox``; the sending loop posts them before any envelope, so a suspension
reaches the other side before the traffic it refuses. Delivery is idempotent at the
receiver (a charter document or status record already held changes nothing).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, insert, select, update

from parley.node import Node
from parley.storage.tables import control_outbox

# "key": a node's upgraded card or a root-signed key record (docs/protocol.md §13).
ROUTES = {"charter": "/charters", "status": "/status-records", "key": "/keys"}


def queue_control_txn(
    conn: Connection, node: Node, peers: list[str], kind: str, payload: dict[str, Any]
) -> None:
    now = node.clock.now()
    for peer in peers:
        if peer == node.name:
            continue
        conn.execute(
            insert(control_outbox).values(
                peer=peer, kind=kind, payload=json.dumps(payload, ensure_ascii=False), created_at=now
            )
        )


def pending_control(node: Node, peer: str, limit: int = 50) -> list[tuple[int, str, dict[str, Any]]]:
    with node.reader.connect() as conn:
        rows = conn.execute(
            select(control_outbox.c.id, control_outbox.c.kind, control_outbox.c.payload)
            .where(control_outbox.c.peer == peer, control_outbox.c.delivered_at.is_(None))
            .order_by(control_outbox.c.id)
            .limit(limit)
        ).all()
    return [(r.id, r.kind, json.loads(r.payload)) for r in rows]


def mark_delivered(node: Node, item_id: int, error: str | None = None) -> None:
    with node.engine.begin() as conn:
        values: dict[str, Any] = {"last_error": error}
        if error is None:
            values["delivered_at"] = node.clock.now()
        conn.execute(update(control_outbox).where(control_outbox.c.id == item_id).values(**values))
