"""Read models of messages for the API, the CLI and the console."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from parley.errors import NotFoundError
from parley.node import Node
from parley.protocol.envelope import SignedEnvelope
from parley.storage.tables import acknowledgments, delivery, envelopes


def list_messages(node: Node, outgoing: bool, channel: str | None, limit: int) -> list[dict[str, Any]]:
    q = (
        select(
            envelopes.c.id,
            envelopes.c.channel,
            envelopes.c.sender_node,
            envelopes.c.sender_desk,
            envelopes.c.seq,
            envelopes.c.type,
            envelopes.c.precedence,
            envelopes.c.status,
            envelopes.c.created,
            acknowledgments.c.operator,
            acknowledgments.c.acked_at,
            acknowledgments.c.late,
        )
        .outerjoin(acknowledgments, acknowledgments.c.message_id == envelopes.c.id)
        .where(envelopes.c.outgoing == outgoing, envelopes.c.type != "acknowledgment")
        .order_by(envelopes.c.stored_at.desc(), envelopes.c.seq.desc())
        .limit(limit)
    )
    if channel:
        q = q.where(envelopes.c.channel == channel)
    with node.reader.connect() as conn:
        rows = conn.execute(q).all()
        dues = {}
        ids = [r.id for r in rows]
        if ids:
            for d in conn.execute(select(delivery).where(delivery.c.message_id.in_(ids))):
                dues[d.message_id] = (d.receipted_at, d.due_at)
    return [
        {
            "id": r.id,
            "channel": r.channel,
            "from": f"{r.sender_node}/{r.sender_desk}",
            "seq": r.seq,
            "type": r.type,
            "precedence": r.precedence,
            "status": r.status,
            "created": r.created,
            "receipted_at": dues.get(r.id, (None, None))[0],
            "due_at": dues.get(r.id, (None, None))[1],
            "acknowledged_by": r.operator,
            "acknowledged_at": r.acked_at,
            "late": r.late,
        }
        for r in rows
    ]


def message_detail(node: Node, message_id: str, lang: str) -> dict[str, Any]:
    with node.reader.connect() as conn:
        row = conn.execute(select(envelopes).where(envelopes.c.id == message_id)).first()
        if row is None:
            raise NotFoundError(f"no message {message_id}", hint="see the inbox")
        receipts = [
            {"receiver": d.receiver_node, "receipted_at": d.receipted_at, "due_at": d.due_at}
            for d in conn.execute(select(delivery).where(delivery.c.message_id == message_id))
        ]
        ack = conn.execute(select(acknowledgments).where(acknowledgments.c.message_id == message_id)).first()
    env = SignedEnvelope.from_bytes(row.raw)
    out: dict[str, Any] = {
        "wire": env.to_wire(),
        "outgoing": bool(row.outgoing),
        "receipts": receipts,
        "acknowledgment": None
        if ack is None
        else {
            "node": ack.node,
            "operator": ack.operator,
            "desk": ack.desk,
            "at": ack.acked_at,
            "late": ack.late,
        },
    }
    if env.type != "acknowledgment":
        try:
            from parley.formats.render import render, render_text

            rendered = render(env.envelope, lang)
            out["rendered_text"] = render_text(rendered)
        except Exception as exc:  # rendering must never hide the signed original
            out["rendered_error"] = str(exc)
    return out
