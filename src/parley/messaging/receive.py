"""Receiving envelopes from a peer: check everything, store once, answer with receipts.

The checks run in the order the protocol fixes (docs/protocol.md §Receiving):

1–6. the verification routine (shape, protocol, fields, hash, key, signature);
 8. the sender node is the peer that delivered it and a member of the channel, and the
    sending desk is one of that node's member desks;
 9. the charter allows the type;
10. the channel's status allows it (a suspended channel takes only its exempt types);
11. the body is within the size limit and valid for its schema;
 7. the chain continues from the last stored envelope of that sender — checked last, since
    it is the only check whose failure (a gap) is not the sender's fault; then a reply's
    signed reference (§4.3) must name a message held here, in the channel, by its hash.

A batch is all or nothing: the first envelope that fails refuses the batch and nothing is
stored. An envelope already stored with the same hash is a duplicate: it is receipted again
and not stored twice. An envelope ahead of a gap is held (outside the record) and the
caller fetches the missing range from the sender.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select

from parley.channels.charter import CONTROL_TYPES
from parley.channels.registry import Channel, get_channel_txn
from parley.clock import format_time
from parley.errors import NotFoundError, ParleyError, RefusedError, ValidationError, VerificationError
from parley.formats.texts import T
from parley.messaging.chains import chain_head_txn, store_envelopes_txn
from parley.messaging.hooks import hooks
from parley.messaging.search_index import index_messages_txn
from parley.node import Node
from parley.protocol.canonical import canonical_bytes
from parley.protocol.envelope import SignedEnvelope
from parley.protocol.receipt import Receipt, make_receipt
from parley.protocol.verify import check_chain_link, verify_envelope
from parley.record.journal import buffered, journal_txn
from parley.storage.tables import delivery, envelopes, held_envelopes, receipts


@dataclass
class BatchResult:
    stored: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    receipts: list[Receipt] = field(default_factory=list)
    new_envelopes: list[SignedEnvelope] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "stored": self.stored,
            "duplicates": self.duplicates,
            "receipts": [r.to_json() for r in self.receipts],
        }


class GapError(VerificationError):
    """An envelope ahead of a gap: held, and the missing range must be fetched."""

    def __init__(self, channel: str, sender: str, expected: int, got: int) -> None:
        super().__init__(
            "7 chain",
            T(
                "sequence gap in {sender}'s chain on {channel}: expected seq {expected}, got {got}",
                sender=sender,
                channel=channel,
                expected=expected,
                got=got,
            ),
            code="sequence_gap",
            http_status=409,
            details={"channel": channel, "sender": sender, "expected_seq": expected, "got_seq": got},
        )
        self.channel = channel
        self.sender = sender
        self.expected = expected
        self.got = got


HASH_AT = select(envelopes.c.hash).where(
    envelopes.c.channel == bindparam("channel"),
    envelopes.c.sender_node == bindparam("sender"),
    envelopes.c.seq == bindparam("seq"),
)
INSERT_DELIVERY = insert(delivery)
_INSERT_RECEIPT = insert(receipts)
_LAST_RECEIPT = (
    select(receipts.c.raw, receipts.c.upto_seq)
    .where(
        receipts.c.channel == bindparam("channel"),
        receipts.c.sender_node == bindparam("sender"),
        receipts.c.receiver_node == bindparam("receiver"),
    )
    .order_by(receipts.c.upto_seq.desc())
    .limit(1)
)


def check_envelope_against_channel(node: Node, channel: Channel, env: SignedEnvelope, origin: str) -> None:
    """Steps 8–11 for one verified envelope."""
    charter = channel.charter
    # Step 8: membership.
    if env.sender_node != origin:
        raise RefusedError(
            T(
                "envelope {env_id} is from {env_sender_node}, but {origin} delivered it",
                env_id=env.id,
                env_sender_node=env.sender_node,
                origin=origin,
            ),
            code="wrong_sender",
        )
    if env.sender_node not in charter.member_nodes or env.sender_desk not in charter.desks_of(
        env.sender_node
    ):
        raise RefusedError(
            T(
                "{env_sender_node}/{env_sender_desk} is not a member of channel {channel_id!r}",
                env_sender_node=env.sender_node,
                env_sender_desk=env.sender_desk,
                channel_id=channel.id,
            ),
            code="not_a_member",
        )
    # Steps 9 and 10: charter type and channel status.
    channel.check_allows(env.type)
    # Step 11: size and schema.
    size = len(canonical_bytes(env.body))
    limit = node.config.federation.max_body_bytes
    if size > limit:
        raise RefusedError(
            T(
                "envelope {env_id}: body is {size} bytes, the limit is {limit}",
                env_id=env.id,
                size=size,
                limit=limit,
            ),
            code="body_too_large",
            http_status=413,
        )
    validate_envelope_body(env)
    hooks().check_rules(channel, env, None)


def validate_envelope_body(env: SignedEnvelope) -> None:
    if env.type in CONTROL_TYPES:
        from parley.messaging.acknowledge import validate_ack_body

        validate_ack_body(env.body)
        return
    from parley.formats.registry import validate_body

    try:
        validate_body(env.type, env.envelope["type_version"], env.body, lang="en")
    except NotFoundError as exc:
        raise ValidationError(exc.message, [("/type", exc.message)]) from exc


def receive_batch(
    node: Node,
    origin: str,
    wires: Sequence[Any],
    *,
    on_stored: Callable[[Connection, SignedEnvelope], None] | None = None,
    before: Callable[[Connection], None] | None = None,
) -> BatchResult:
    """Verify and store a batch from ``origin``; raise ParleyError (nothing stored) if any fails.

    ``before`` runs first inside the same transaction (the request's replay nonce)."""
    if origin == node.name:
        raise RefusedError(T("a node does not deliver to itself"), code="wrong_sender")
    now = node.clock.now()
    result = BatchResult()
    touched: dict[tuple[str, str], None] = {}
    with node.engine.begin() as conn, buffered(conn):
        if before is not None:
            before(conn)
        heads: dict[tuple[str, str], tuple[int, str] | None] = {}
        channels: dict[str, Channel] = {}
        accepted: list[SignedEnvelope] = []
        in_batch: dict[tuple[str, str, int], str] = {}
        replies_to: dict[str, tuple[str, str]] = {}  # id -> (channel, hash) accepted in this batch
        due_rows: list[dict[str, Any]] = []
        for index, wire in enumerate(wires):
            try:
                env = verify_envelope(wire, node.key_for)
                if env.channel not in channels:
                    try:
                        channels[env.channel] = get_channel_txn(conn, env.channel)
                    except NotFoundError:
                        raise RefusedError(
                            T(
                                "channel {env_channel!r} is unknown to {node_name}",
                                env_channel=env.channel,
                                node_name=node.name,
                            ),
                            code="unknown_channel",
                        ) from None
                check_envelope_against_channel(node, channels[env.channel], env, origin)
                key = (env.channel, env.sender_node)
                if key not in heads:
                    heads[key] = chain_head_txn(conn, env.channel, env.sender_node, for_update=True)
                head = heads[key]
                # Step 7: chain.
                if head is not None and env.seq <= head[0]:
                    same = in_batch.get((env.channel, env.sender_node, env.seq))
                    if same is not None:
                        if same == env.hash:
                            result.duplicates.append(env.id)
                            continue
                        raise VerificationError(
                            "7 chain",
                            T(
                                "{env_sender_node} signed two different envelopes "
                                "at seq {env_seq} on {env_channel}",
                                env_sender_node=env.sender_node,
                                env_seq=env.seq,
                                env_channel=env.channel,
                            ),
                            code="chain_fork",
                            http_status=409,
                        )
                    stored = conn.execute(
                        HASH_AT, {"channel": env.channel, "sender": env.sender_node, "seq": env.seq}
                    ).first()
                    if stored is not None and stored.hash == env.hash:
                        result.duplicates.append(env.id)
                        touched[key] = None
                        continue
                    raise VerificationError(
                        "7 chain",
                        T(
                            "{env_sender_node} signed two different envelopes "
                            "at seq {env_seq} on {env_channel}",
                            env_sender_node=env.sender_node,
                            env_seq=env.seq,
                            env_channel=env.channel,
                        ),
                        code="chain_fork",
                        http_status=409,
                    )
                expected = 1 if head is None else head[0] + 1
                if env.seq > expected:
                    raise GapError(env.channel, env.sender_node, expected, env.seq)
                check_chain_link(env, head)
                if env.reply_to is not None:
                    from parley.messaging.threads import check_reply_txn

                    check_reply_txn(conn, env, replies_to)
            except ParleyError as exc:
                exc.details.setdefault("index", index)
                raise
            channel = channels[env.channel]
            if env.type not in CONTROL_TYPES:
                due = now + timedelta(seconds=channel.charter.deadline_s(env.precedence))
                due_rows.append(
                    {
                        "message_id": env.id,
                        "receiver_node": node.name,
                        "receipted_at": format_time(now),
                        "due_at": format_time(due),
                    }
                )
            accepted.append(env)
            replies_to[env.id] = (env.channel, env.hash)
            in_batch[(env.channel, env.sender_node, env.seq)] = env.hash
            heads[key] = (env.seq, env.hash)
            touched[key] = None
            result.stored.append(env.id)
            result.new_envelopes.append(env)
        # Everything checked: now store the batch in a few statements.
        store_envelopes_txn(conn, accepted, outgoing=False, stored_at=now)
        index_messages_txn(conn, accepted, outgoing=False)  # found by search from the moment it is stored
        if any(e.reply_to is not None for e in accepted):
            from parley.messaging.threads import link_reply_txn

            for env in accepted:  # in batch order, so a reply's parent is linked first
                link_reply_txn(conn, env)
        if due_rows:
            conn.execute(INSERT_DELIVERY, due_rows)
        if on_stored is not None:
            for env in accepted:
                on_stored(conn, env)
        moved = {(e.channel, e.sender_node) for e in accepted}
        for channel_id, sender in touched:
            head = heads.get((channel_id, sender)) or chain_head_txn(conn, channel_id, sender)
            assert head is not None
            result.receipts.append(
                issue_receipt_txn(
                    node, conn, channel_id, sender, head, now, moved=(channel_id, sender) in moved
                )
            )
    return result


def issue_receipt_txn(
    node: Node,
    conn: Connection,
    channel: str,
    sender: str,
    head: tuple[int, str],
    now: datetime,
    *,
    moved: bool = False,
) -> Receipt:
    """Sign a cumulative receipt for ``sender``'s chain; reuse the last one if unchanged.

    ``moved``: this transaction stored envelopes on the chain, so no earlier receipt can
    cover its head and the look-up is skipped."""
    last = None
    if not moved:
        key = {"channel": channel, "sender": sender, "receiver": node.name}
        last = conn.execute(_LAST_RECEIPT, key).first()
    if last is not None and int(last.upto_seq) == head[0]:
        raw = json.loads(last.raw)
        return Receipt(raw["receipt"], raw["signature"])
    receipt = make_receipt(
        key=node.key,
        receiver=node.name,
        channel=channel,
        sender=sender,
        upto_seq=head[0],
        upto_hash=head[1],
        received_at=format_time(now),
    )
    store_receipt_txn(conn, receipt, now)
    return receipt


def store_receipt_txn(conn: Connection, receipt: Receipt, now: datetime) -> None:
    conn.execute(
        _INSERT_RECEIPT,
        {
            "channel": receipt.channel,
            "sender_node": receipt.sender,
            "receiver_node": receipt.receiver,
            "upto_seq": receipt.upto_seq,
            "upto_hash": receipt.upto_hash,
            "received_at": receipt.received_at,
            "raw": receipt.to_bytes(),
            "stored_at": now,
        },
    )
    journal_txn(
        conn,
        "receipt",
        f"{receipt.channel}/{receipt.sender}/{receipt.receiver}/{receipt.upto_seq}",
        receipt.to_bytes(),
    )


def hold_txn(conn: Connection, env_wire: Any, channel: str, sender: str, seq: int, now: datetime) -> None:
    """Keep an envelope that arrived ahead of a gap, outside the record."""
    exists = conn.execute(
        select(held_envelopes.c.seq).where(
            held_envelopes.c.channel == channel,
            held_envelopes.c.sender_node == sender,
            held_envelopes.c.seq == seq,
        )
    ).first()
    if exists is None:
        conn.execute(
            insert(held_envelopes).values(
                channel=channel, sender_node=sender, seq=seq, raw=canonical_bytes(env_wire), held_at=now
            )
        )


def release_held(node: Node, origin: str, channel: str) -> int:
    """Store held envelopes that now continue the chain; return how many were stored."""
    from sqlalchemy import delete

    with node.reader.connect() as conn:
        head = chain_head_txn(conn, channel, origin)
        rows = conn.execute(
            select(held_envelopes.c.seq, held_envelopes.c.raw)
            .where(held_envelopes.c.channel == channel, held_envelopes.c.sender_node == origin)
            .order_by(held_envelopes.c.seq)
        ).all()
    done = 0 if head is None else head[0]
    wires: list[Any] = []
    for r in rows:
        if r.seq == done + 1 + len(wires):
            wires.append(json.loads(r.raw))
    stored = 0
    if wires:
        stored = len(receive_batch(node, origin, wires).stored)
    with node.engine.begin() as conn:
        conn.execute(
            delete(held_envelopes).where(
                held_envelopes.c.channel == channel,
                held_envelopes.c.sender_node == origin,
                held_envelopes.c.seq <= done + len(wires),
            )
        )
    return stored
