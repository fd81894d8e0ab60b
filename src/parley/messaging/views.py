"""Read models of messages for the API, the CLI and the console.

Given the ``viewer`` (the operator asking), each shows only what the authorization policy
lets them see (:mod:`parley.directory.policy`): messages on channels of their desks; any
other is "not found", like one that does not exist. Without a viewer (the CLI, run by the
node's owner on the host) everything is shown.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from parley.directory.operators import Operator
from parley.errors import NotFoundError
from parley.formats.texts import T
from parley.messaging.hooks import hooks
from parley.messaging.search import MessagePage, MessageQuery, search_messages
from parley.node import Node
from parley.protocol.envelope import SignedEnvelope
from parley.storage.tables import acknowledgments, delivery, envelopes


def list_messages(
    node: Node, outgoing: bool, channel: str | None, limit: int, viewer: Operator | None = None
) -> list[dict[str, Any]]:
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
    if viewer is not None:
        from parley.directory.policy import not_found_channel, visible_channel_ids

        seen = visible_channel_ids(node, viewer)
        if channel and channel not in seen:
            raise not_found_channel(channel)
        # Filtered in the query, so messages the viewer may not see do not use up the limit.
        q = q.where(envelopes.c.channel.in_(sorted(seen)))
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


def find_messages(
    node: Node,
    query: MessageQuery,
    viewer: Operator | None = None,
    *,
    cursor: str | None = None,
    limit: int = 50,
    oldest: bool = False,
) -> MessagePage:
    """One page of the messages matching ``query`` that ``viewer`` may see (all without one).

    A channel asked for by name that the viewer may not see is "not found", as in
    :func:`list_messages`, so the answer does not tell that it exists.
    """
    visible: set[str] | None = None
    if viewer is not None:
        from parley.directory.policy import not_found_channel, visible_channel_ids

        visible = visible_channel_ids(node, viewer)
        for channel in query.channels:
            if channel not in visible:
                raise not_found_channel(channel)
    return search_messages(node, query, visible_channels=visible, cursor=cursor, limit=limit, oldest=oldest)


def message_detail(node: Node, message_id: str, lang: str, viewer: Operator | None = None) -> dict[str, Any]:
    with node.reader.connect() as conn:
        row = conn.execute(select(envelopes).where(envelopes.c.id == message_id)).first()
        if row is None or (viewer is not None and not _sees(node, viewer, row.channel)):
            # Not "forbidden": whether the message exists is itself not this viewer's to know.
            raise NotFoundError(T("no message {message_id}", message_id=message_id), hint=T("see the inbox"))
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
    out["pages"] = hooks().pages_for(node, message_id)  # who was paged about it, and how it went
    if env.type != "acknowledgment":
        try:
            from parley.formats.render import render, render_text

            rendered = render(env.envelope, lang)
            out["rendered_text"] = render_text(rendered)
        except Exception as exc:  # rendering must never hide the signed original
            out["rendered_error"] = str(exc)
    return out


def _sees(node: Node, viewer: Operator, channel: str) -> bool:
    from parley.directory.policy import visible_channel_ids

    return channel in visible_channel_ids(node, viewer)


def require_visible_message(node: Node, viewer: Operator, message_id: str) -> str:
    """The channel of ``message_id``; 404 if there is no such message or ``viewer`` may not see it."""
    with node.reader.connect() as conn:
        channel = conn.execute(
            select(envelopes.c.channel).where(envelopes.c.id == message_id)
        ).scalar_one_or_none()
    if channel is None or not _sees(node, viewer, channel):
        raise NotFoundError(T("no message {message_id}", message_id=message_id), hint=T("see the inbox"))
    return str(channel)
