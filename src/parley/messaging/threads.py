"""Replies and threads: the signed reply reference and the threads it builds (docs/protocol.md §4.3).

A reply carries ``reply_to: {"id": …, "hash": "sha256:…"}`` inside its signed envelope: the
id and content hash of the message it answers, in the same channel. The sending node takes
the hash from its own store (an operator names only the id); a receiving node refuses a reply
whose reference it does not hold in that channel with that hash, so both nodes' threads are
built from the same signed facts. A thread is a message and every reply reaching it through
``reply_to`` links; its root is the first message, which answers none.

Every list here is bounded (:data:`MAX_THREAD`): a thread is read, never walked without end.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, insert, select

from parley.errors import NotFoundError, RefusedError, UsageError
from parley.formats.texts import T
from parley.messaging.hooks import hooks
from parley.messaging.thread_tables import thread_links
from parley.node import Node
from parley.protocol.envelope import SignedEnvelope
from parley.storage.tables import envelopes

# The most messages a thread page shows and the most ids one thread_roots call resolves:
# a thread longer than this is shown up to here (oldest first), never loaded whole.
MAX_THREAD = 500
MAX_ROOTS_QUERY = 1000


@dataclass(frozen=True)
class Action:
    """One thing an operator may do from a message's page: compose ``type`` prefilled.

    ``label_key`` names the catalogue entry of the button; ``body`` is the prefilled body
    (the operator writes the text); ``reply_to`` is the message answered."""

    name: str
    label_key: str
    channel: str
    type: str
    precedence: str
    status: str
    reply_to: str
    body: dict[str, Any] = field(default_factory=dict)
    refs: tuple[str, ...] = ()


# --- the reference, on send and on receipt ------------------------------------------------


def reply_reference_txn(conn: Connection, channel: str, message_id: str) -> dict[str, str]:
    """The signed reference to ``message_id`` for a reply sent on ``channel``."""
    row = conn.execute(
        select(envelopes.c.channel, envelopes.c.hash, envelopes.c.type).where(envelopes.c.id == message_id)
    ).first()
    if row is None or row.channel != channel:
        raise NotFoundError(
            T(
                "no message {message_id} on channel {channel!r} to reply to",
                message_id=message_id,
                channel=channel,
            ),
            hint=T("reply on the channel of the message you answer; see the inbox for its id"),
        )
    if row.type == "acknowledgment":
        raise UsageError(
            T("message {message_id} is an acknowledgment; a reply answers a message", message_id=message_id),
            hint=T("reply to the message that was acknowledged"),
        )
    return {"id": message_id, "hash": str(row.hash)}


def check_reply_txn(conn: Connection, env: SignedEnvelope, in_batch: Mapping[str, tuple[str, str]]) -> None:
    """On receipt: ``env``'s reference names a message held here, in its channel, by its hash.

    ``in_batch`` maps the ids accepted earlier in the same batch to (channel, hash): a reply
    may travel with the message it answers."""
    ref = env.reply_to
    if ref is None:
        return
    held = in_batch.get(ref["id"])
    if held is None:
        row = conn.execute(
            select(envelopes.c.channel, envelopes.c.hash).where(envelopes.c.id == ref["id"])
        ).first()
        held = None if row is None else (str(row.channel), str(row.hash))
    if held is None or held[0] != env.channel:
        raise RefusedError(
            T(
                "envelope {env_id} replies to {ref_id}, which this node does not hold on {env_channel!r}",
                env_id=env.id,
                ref_id=ref["id"],
                env_channel=env.channel,
            ),
            code="reply_unknown",
            http_status=409,
            hint=T("deliver the message it answers first; the sender retries this batch"),
        )
    if held[1] != ref["hash"]:
        raise RefusedError(
            T(
                "envelope {env_id} replies to {ref_id} with hash {ref_hash}, "
                "but the message held here has hash {held_1}",
                env_id=env.id,
                ref_id=ref["id"],
                ref_hash=ref["hash"],
                held_1=held[1],
            ),
            code="reply_hash_mismatch",
            hint=T("the two nodes hold different messages under one id; compare them with `parley verify`"),
        )


def link_reply_txn(conn: Connection, env: SignedEnvelope) -> None:
    """Index a stored reply in its thread (the root of what it answers, or that message)."""
    ref = env.reply_to
    if ref is None:
        return
    parent_root = conn.execute(
        select(thread_links.c.root_id).where(thread_links.c.message_id == ref["id"])
    ).scalar_one_or_none()
    conn.execute(
        insert(thread_links).values(
            message_id=env.id,
            channel=env.channel,
            in_reply_to=ref["id"],
            root_id=parent_root or ref["id"],
        )
    )


# --- reading threads ------------------------------------------------------------------------


def thread_roots(node: Node, ids: Iterable[str]) -> dict[str, str]:
    """Message id → the id of its thread's root (itself when it answers nothing).

    Ids that are not replies map to themselves, known or not; at most MAX_ROOTS_QUERY ids."""
    wanted = list(dict.fromkeys(ids))
    if len(wanted) > MAX_ROOTS_QUERY:
        raise UsageError(
            T(
                "{n_wanted} message ids asked at once; the limit is {max_roots_query}",
                n_wanted=len(wanted),
                max_roots_query=MAX_ROOTS_QUERY,
            ),
            hint=T("ask for one page of a list at a time"),
        )
    out = {i: i for i in wanted}
    if not wanted:
        return out
    with node.reader.connect() as conn:
        for r in conn.execute(
            select(thread_links.c.message_id, thread_links.c.root_id).where(
                thread_links.c.message_id.in_(wanted)
            )
        ):
            out[str(r.message_id)] = str(r.root_id)
    return out


def thread_of(node: Node, message_id: str) -> list[dict[str, Any]]:
    """The whole thread of ``message_id``, oldest first (at most MAX_THREAD messages).

    Each entry: id, type, sender (``node/desk``), created_at, in_reply_to (None for the root),
    precedence, outgoing. A message that is no reply and has none is a thread of one."""
    with node.reader.connect() as conn:
        root = (
            conn.execute(
                select(thread_links.c.root_id).where(thread_links.c.message_id == message_id)
            ).scalar_one_or_none()
            or message_id
        )
        parents = {
            str(r.message_id): str(r.in_reply_to)
            for r in conn.execute(
                select(thread_links.c.message_id, thread_links.c.in_reply_to)
                .where(thread_links.c.root_id == root)
                .limit(MAX_THREAD)
            )
        }
        ids = [root, *parents]
        rows = conn.execute(
            select(
                envelopes.c.id,
                envelopes.c.type,
                envelopes.c.sender_node,
                envelopes.c.sender_desk,
                envelopes.c.created,
                envelopes.c.precedence,
                envelopes.c.outgoing,
            ).where(envelopes.c.id.in_(ids))
        ).all()
    rows = sorted(rows, key=_order_key(parents, {str(r.id): str(r.created) for r in rows}))
    return [
        {
            "id": str(r.id),
            "type": str(r.type),
            "sender": f"{r.sender_node}/{r.sender_desk}",
            "created_at": str(r.created),
            "in_reply_to": parents.get(str(r.id)),
            "precedence": str(r.precedence),
            "outgoing": bool(r.outgoing),
        }
        for r in rows
    ]


def _order_key(parents: Mapping[str, str], created: Mapping[str, str]) -> Any:
    """Oldest first, but never a reply before what it answers: two nodes' clocks may disagree,
    and a reply signed in the same millisecond as its parent must still follow it."""
    memo: dict[str, tuple[str, int]] = {}

    def key(mid: str) -> tuple[str, int]:
        if mid not in memo:
            parent = parents.get(mid)
            # Parents precede children in the index (a reply is linked after what it answers),
            # so this recursion is as deep as the thread, at most MAX_THREAD.
            up = key(parent) if parent is not None and parent in created else ("", -1)
            memo[mid] = (max(created.get(mid, ""), up[0]), up[1] + 1)
        return memo[mid]

    return lambda r: (*key(str(r.id)), str(r.id))


# --- what may be done from a message's page ----------------------------------------------


def reply_actions(node: Node, op: Any, message_id: str) -> list[Action]:
    """The replies ``op`` may compose to ``message_id``, prefilled; [] when none.

    Always a plain Reply (``general``) when the charter carries it; for an incident (its
    report or a step) the steps its state allows this node now — respond (provide the
    information asked), clarify (ask for information), propose closure, agree (to a pending
    closure or joint investigation); for a meeting proposal by the other side, agree
    (accept it). Each only if the channel may carry the type now (charter and status) and
    ``op`` (None: the node's owner) may send for one of this node's desks on the channel."""
    from parley.channels.registry import get_channel_txn

    with node.reader.connect() as conn:
        row = conn.execute(select(envelopes.c.raw).where(envelopes.c.id == message_id)).first()
        if row is None:
            raise NotFoundError(T("no message {message_id}", message_id=message_id), hint=T("see the inbox"))
        env = SignedEnvelope.from_bytes(row.raw)
        channel = get_channel_txn(conn, env.channel)
    if env.type == "acknowledgment":
        return []
    desks = channel.charter.desks_of(node.name)
    if op is not None:
        desks = [d for d in desks if op.can_act_on(d)]
    if not desks:
        return []
    lang = getattr(op, "lang", None) or "en"
    out: list[Action] = []

    def offer(name: str, type_: str, body: dict[str, Any], refs: tuple[str, ...] = ()) -> None:
        try:
            channel.check_allows(type_)  # the charter, and the channel's status (suspended…)
        except RefusedError:
            return
        out.append(
            Action(
                name=name,
                label_key=f"thread.action.{name}",
                channel=env.channel,
                type=type_,
                precedence=env.precedence,
                status=env.status,
                reply_to=env.id,
                body=body,
                refs=tuple(dict.fromkeys((env.id, *refs))),
            )
        )

    subject = env.body.get("subject") if env.type == "general" else None
    reply_body: dict[str, Any] = {"text": "", "lang": lang}
    if isinstance(subject, str) and subject:
        reply_body["subject"] = subject if subject.startswith("Re: ") else f"Re: {subject}"[:200]
    offer("reply", "general", reply_body)
    hooks().thread_actions(node, env, lang, offer)  # incident steps, meeting acceptance
    return out
