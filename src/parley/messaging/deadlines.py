"""Acknowledgment deadlines and escalation.

A message's due time is its receipt time (signed by the receiver, held by both sides) plus
the charter's deadline for its precedence, so both nodes compute the same due time without
trusting each other's clocks for anything but the signed figures. When a due time passes
without an acknowledgment the message is overdue on both sides: an alarm is raised, the
configured supervisor desk is notified, and a webhook is called if one is configured.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, insert, select

from parley.clock import format_time
from parley.node import Node
from parley.storage.tables import acknowledgments, alarms, delivery, envelopes, escalations


@dataclass
class Overdue:
    message_id: str
    channel: str
    type: str
    precedence: str
    status: str
    receiver: str
    due_at: str
    outgoing: bool

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


def overdue_messages(node: Node) -> list[Overdue]:
    now = format_time(node.clock.now())
    q = (
        select(
            delivery.c.message_id,
            delivery.c.receiver_node,
            delivery.c.due_at,
            envelopes.c.channel,
            envelopes.c.type,
            envelopes.c.precedence,
            envelopes.c.status,
            envelopes.c.outgoing,
        )
        .join(envelopes, envelopes.c.id == delivery.c.message_id)
        .outerjoin(acknowledgments, acknowledgments.c.message_id == delivery.c.message_id)
        .where(
            and_(
                delivery.c.due_at.is_not(None),
                delivery.c.due_at <= now,
                acknowledgments.c.message_id.is_(None),
            )
        )
        .order_by(delivery.c.due_at)
    )
    with node.reader.connect() as conn:
        rows = conn.execute(q).all()
    return [
        Overdue(
            r.message_id,
            r.channel,
            r.type,
            r.precedence,
            r.status,
            r.receiver_node,
            r.due_at,
            bool(r.outgoing),
        )
        for r in rows
    ]


def escalate_overdue(node: Node, post: Any = None) -> list[Overdue]:
    """Escalate every overdue message not escalated yet; return those escalated now.

    ``post(url, json)`` calls the webhook (injected so the deadline watch stays testable
    with a real local HTTP server or none at all).
    """
    fresh: list[Overdue] = []
    now = node.clock.now()
    desk = node.config.escalation.supervisor_desk or None
    for item in overdue_messages(node):
        with node.engine.begin() as conn:
            if conn.execute(
                select(escalations.c.message_id).where(escalations.c.message_id == item.message_id)
            ).first():
                continue
            who = "the other side" if item.outgoing else "this node"
            conn.execute(
                insert(alarms).values(
                    kind="ack_overdue",
                    subject=item.message_id,
                    severity="critical" if item.precedence in ("FLASH", "IMMEDIATE") else "warning",
                    message=(
                        f"{item.precedence} {item.type} on {item.channel} not acknowledged by {who} "
                        f"(due {item.due_at})" + (f"; supervisor desk {desk} notified" if desk else "")
                    ),
                    raised_at=now,
                )
            )
            conn.execute(
                insert(escalations).values(
                    message_id=item.message_id, escalated_at=now, notified_desk=desk, webhook_status=None
                )
            )
        fresh.append(item)
        url = node.config.escalation.webhook_url
        if url:
            status = _call_webhook(url, {"event": "ack_overdue", "node": node.name, **item.to_json()}, post)
            from sqlalchemy import update

            with node.engine.begin() as conn:
                conn.execute(
                    update(escalations)
                    .where(escalations.c.message_id == item.message_id)
                    .values(webhook_status=status)
                )
    return fresh


def _call_webhook(url: str, payload: dict[str, Any], post: Any) -> str:
    import httpx

    try:
        if post is not None:
            return str(post(url, payload))
        resp = httpx.post(
            url, content=json.dumps(payload), headers={"content-type": "application/json"}, timeout=5
        )
        return f"{resp.status_code}"
    except Exception as exc:  # a webhook failing must not stop the watch
        return f"failed: {type(exc).__name__}: {exc}"[:200]
