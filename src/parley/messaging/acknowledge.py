"""Acknowledgments: a named person read and understood a message.

An acknowledgment is an envelope of type ``acknowledgment`` on the same channel, signed by
the acknowledging node, naming the message (id and hash), the operator and the desk. It is
delivered, receipted and logged like any other envelope, so the sender holds the
receiver's signed word. Its time is compared with the due time computed from the signed
receipt; a late acknowledgment is still accepted and is shown as late on both sides.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Connection, insert, select

from parley.channels.registry import get_channel_txn
from parley.errors import ConflictError, ForbiddenError, NotFoundError, UsageError, ValidationError
from parley.formats.texts import T
from parley.messaging.chains import chain_head_txn, store_envelope_txn
from parley.node import Node
from parley.protocol.envelope import SignedEnvelope, build_envelope
from parley.protocol.verify import HASH_RE, NAME_RE
from parley.storage.tables import acknowledgments, delivery, envelopes

ACK_FIELDS = ["desk", "hash", "message", "operator"]
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def validate_ack_body(body: Any) -> None:
    problems: list[tuple[str, str]] = []
    if not isinstance(body, dict) or sorted(body) != ACK_FIELDS:
        raise ValidationError(
            T("acknowledgment body must have exactly message, hash, operator, desk"),
            [("", "expected fields: " + ", ".join(ACK_FIELDS))],
        )
    if not isinstance(body["message"], str) or not UUID_RE.match(body["message"]):
        problems.append(("/message", "a message id"))
    if not isinstance(body["hash"], str) or not HASH_RE.match(body["hash"]):
        problems.append(("/hash", "sha256:<64 hex>"))
    for k in ("operator", "desk"):
        if not isinstance(body[k], str) or not NAME_RE.match(body[k]):
            problems.append((f"/{k}", "a name"))
    if problems:
        raise ValidationError(T("acknowledgment body is invalid"), problems)


def project_ack_txn(conn: Connection, env: SignedEnvelope) -> None:
    """Record who acknowledged what, and whether it was late against the due time."""
    body = env.body
    target = conn.execute(
        select(envelopes.c.hash, envelopes.c.sender_node).where(envelopes.c.id == body["message"])
    ).first()
    if target is None or target.hash != body["hash"]:
        return  # acknowledges something this node does not hold; kept in the record only
    due = conn.execute(
        select(delivery.c.due_at).where(
            delivery.c.message_id == body["message"], delivery.c.receiver_node == env.sender_node
        )
    ).first()
    late = bool(due is not None and due.due_at is not None and env.created > due.due_at)
    exists = conn.execute(
        select(acknowledgments.c.message_id).where(acknowledgments.c.message_id == body["message"])
    ).first()
    if exists is None:
        conn.execute(
            insert(acknowledgments).values(
                message_id=body["message"],
                ack_id=env.id,
                node=env.sender_node,
                operator=body["operator"],
                desk=body["desk"],
                acked_at=env.created,
                late=late,
            )
        )


def do_acknowledge(node: Node, message_id: str, operator: Any, desk: str | None = None) -> SignedEnvelope:
    """Send an acknowledgment of a received message on behalf of ``operator``."""
    now = node.clock.now()
    with node.engine.begin() as conn:
        row = conn.execute(select(envelopes).where(envelopes.c.id == message_id)).first()
        if row is None:
            raise NotFoundError(
                T("no message {message_id}", message_id=message_id), hint=T("see `parley inbox`")
            )
        if row.outgoing:
            raise UsageError(T("that message was sent by this node; the other side acknowledges it"))
        if row.type == "acknowledgment":
            raise UsageError(T("acknowledgments are not themselves acknowledged"))
        if conn.execute(
            select(acknowledgments.c.ack_id).where(acknowledgments.c.message_id == message_id)
        ).first():
            raise ConflictError(
                T("message {message_id} is already acknowledged", message_id=message_id),
                hint=T("see `parley show`"),
            )
        channel = get_channel_txn(conn, row.channel)
        own = channel.charter.desks_of(node.name)
        if desk is None:
            candidates = [d for d in own if operator.can_act_on(d)]
            if not candidates:
                raise ForbiddenError(
                    T(
                        "{operator_username} has no duty, supervisor or admin role "
                        "on a member desk of {row_channel}",
                        operator_username=operator.username,
                        row_channel=row.channel,
                    )
                )
            desk = candidates[0]
        if desk not in own:
            raise UsageError(
                T(
                    "desk {desk!r} is not a member of channel {row_channel}",
                    desk=desk,
                    row_channel=row.channel,
                )
            )
        if not operator.can_act_on(desk):
            raise ForbiddenError(
                T(
                    "{operator_username} may not acknowledge for desk {desk!r}",
                    operator_username=operator.username,
                    desk=desk,
                )
            )
        body = {"message": message_id, "hash": row.hash, "operator": operator.username, "desk": desk}
        if node.hold_sending is not None:
            node.hold_sending(row.channel)  # recovering after a restore (parley.continuity.recovery)
        head = chain_head_txn(conn, row.channel, node.name, for_update=True)
        seq, prev = (1, None) if head is None else (head[0] + 1, head[1])
        env = build_envelope(
            key=node.signing_key(now),  # a rotation dated ahead takes over at its time (§13.4)
            channel=row.channel,
            sender_node=node.name,
            sender_desk=desk,
            seq=seq,
            prev=prev,
            created=now,
            type="acknowledgment",
            type_version=1,
            precedence=row.precedence,
            status=row.status,
            body=body,
            refs=[message_id],
        )
        store_envelope_txn(conn, env, outgoing=True, stored_at=now)
    return env
