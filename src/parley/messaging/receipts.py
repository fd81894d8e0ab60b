"""The sending side of receipts: check what a peer signed and learn what it now holds.

A receipt from peer R for this node's chain in channel C up to seq N is accepted only if R
signed it, R is the peer that answered, and this node's own envelope N has exactly the hash
the receipt names: otherwise R would be receipting something this node never sent. Each
newly covered message gets its receipt time and acknowledgment due time, the same figures
the receiver computed, because both come from the signed receipt and the shared charter.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, func, select

from parley.channels.charter import CONTROL_TYPES
from parley.channels.registry import get_channel_txn
from parley.clock import format_time, parse_time
from parley.errors import VerificationError
from parley.formats.texts import T
from parley.messaging.receive import HASH_AT, INSERT_DELIVERY, store_receipt_txn
from parley.node import Node
from parley.protocol.receipt import Receipt, parse_receipt
from parley.record.journal import buffered
from parley.storage.tables import envelopes, receipts

_UPTO = select(func.max(receipts.c.upto_seq)).where(
    receipts.c.channel == bindparam("channel"),
    receipts.c.sender_node == bindparam("sender"),
    receipts.c.receiver_node == bindparam("receiver"),
)
_NEWLY_COVERED = select(envelopes.c.id, envelopes.c.precedence, envelopes.c.type).where(
    envelopes.c.channel == bindparam("channel"),
    envelopes.c.sender_node == bindparam("sender"),
    envelopes.c.seq > bindparam("after"),
    envelopes.c.seq <= bindparam("upto"),
)


def receipted_upto_txn(conn: Connection, channel: str, sender: str, receiver: str) -> int:
    value = conn.execute(_UPTO, {"channel": channel, "sender": sender, "receiver": receiver}).scalar()
    return int(value or 0)


def accept_receipts(node: Node, peer: str, raws: Sequence[Any]) -> list[Receipt]:
    """Verify and store receipts from ``peer`` for this node's chains; return the new ones."""
    return accept_checked(node, parse_peer_receipts(node, peer, raws))


def parse_peer_receipts(node: Node, peer: str, raws: Sequence[Any]) -> list[Receipt]:
    """Each receipt signed by ``peer`` and covering this node's chain; VerificationError else.

    What the receipts name (this node's hash at that seq) is checked when they are stored."""
    out = []
    for raw in raws:
        receipt = parse_receipt(raw, node.key_for)
        if receipt.receiver != peer:
            raise VerificationError(
                "receipt",
                T(
                    "receipt is signed by {receipt_receiver}, not {peer}",
                    receipt_receiver=receipt.receiver,
                    peer=peer,
                ),
            )
        if receipt.sender != node.name:
            raise VerificationError(
                "receipt",
                T("receipt covers {receipt_sender}'s chain, not ours", receipt_sender=receipt.sender),
            )
        out.append(receipt)
    return out


def accept_checked(node: Node, receipts: Sequence[Receipt]) -> list[Receipt]:
    """Store receipts ``parse_peer_receipts`` passed, in a transaction of their own."""
    with node.engine.begin() as conn, buffered(conn):
        return accept_receipts_txn(node, conn, receipts)


def accept_receipts_txn(node: Node, conn: Connection, receipts: Sequence[Receipt]) -> list[Receipt]:
    """Store checked receipts in the caller's (buffered) transaction; the new ones."""
    now = node.clock.now()
    return [r for r in receipts if accept_receipt_txn(node, conn, r, now)]


def accept_receipt_txn(node: Node, conn: Connection, receipt: Receipt, now: Any) -> bool:
    before = receipted_upto_txn(conn, receipt.channel, receipt.sender, receipt.receiver)
    if receipt.upto_seq <= before:
        return False
    ours = conn.execute(
        HASH_AT, {"channel": receipt.channel, "sender": receipt.sender, "seq": receipt.upto_seq}
    ).first()
    if ours is None or ours.hash != receipt.upto_hash:
        raise VerificationError(
            "receipt",
            T(
                "{receipt_receiver} receipts seq {receipt_upto_seq} on {receipt_channel} with a hash "
                "that is not the hash of the envelope stored here",
                receipt_receiver=receipt.receiver,
                receipt_upto_seq=receipt.upto_seq,
                receipt_channel=receipt.channel,
            ),
            code="receipt_mismatch",
        )
    store_receipt_txn(conn, receipt, now)
    channel = get_channel_txn(conn, receipt.channel)
    received_at = parse_time(receipt.received_at)
    rows = conn.execute(
        _NEWLY_COVERED,
        {"channel": receipt.channel, "sender": receipt.sender, "after": before, "upto": receipt.upto_seq},
    ).all()
    values = [
        {
            "message_id": r.id,
            "receiver_node": receipt.receiver,
            "receipted_at": receipt.received_at,
            "due_at": None
            if r.type in CONTROL_TYPES
            else format_time(received_at + timedelta(seconds=channel.charter.deadline_s(r.precedence))),
        }
        for r in rows
    ]
    if values:
        conn.execute(INSERT_DELIVERY, values)
    return True
