"""The outbox is a query: this node's envelopes that a peer has not yet receipted.

Nothing is queued in memory. After an outage of any length the sending loop simply reads
the same query again, so catch-up after a restart, a crash or a week offline is the normal
path, not a special one (compare Synapse's per-destination catch-up).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from parley.channels.registry import list_channels_txn
from parley.protocol.canonical import loads_strict
from parley.storage.tables import chain_heads, envelopes, receipts


@dataclass
class PendingChain:
    channel: str
    receipted: int
    head: int

    @property
    def depth(self) -> int:
        return self.head - self.receipted


def channels_with_txn(conn: Connection, me: str, peer: str) -> list[str]:
    return [
        c.id
        for c in list_channels_txn(conn)
        if me in c.charter.member_nodes and peer in c.charter.member_nodes
    ]


def pending_chains_txn(conn: Connection, me: str, peer: str) -> list[PendingChain]:
    """Chains of this node that ``peer`` has not fully receipted: two queries in all."""
    heads = {
        r.channel: int(r.seq)
        for r in conn.execute(
            select(chain_heads.c.channel, chain_heads.c.seq).where(chain_heads.c.sender_node == me)
        )
    }
    if not heads:
        return []
    done = {
        r.channel: int(r.upto)
        for r in conn.execute(
            select(receipts.c.channel, func.max(receipts.c.upto_seq).label("upto"))
            .where(receipts.c.sender_node == me, receipts.c.receiver_node == peer)
            .group_by(receipts.c.channel)
        )
    }
    out = []
    for channel in channels_with_txn(conn, me, peer):
        head = heads.get(channel, 0)
        if head > done.get(channel, 0):
            out.append(PendingChain(channel, done.get(channel, 0), head))
    return out


def outbox_depth_txn(conn: Connection, me: str, peer: str) -> int:
    return sum(p.depth for p in pending_chains_txn(conn, me, peer))


def next_batch_txn(
    conn: Connection, me: str, peer: str, limit: int, resend_from: dict[str, int] | None = None
) -> list[dict[str, Any]]:
    """Up to ``limit`` unreceipted envelopes for ``peer``, in chain order per channel."""
    batch: list[dict[str, Any]] = []
    for p in pending_chains_txn(conn, me, peer):
        start = min(p.receipted, (resend_from or {}).get(p.channel, p.receipted + 1) - 1)
        rows = conn.execute(
            select(envelopes.c.raw)
            .where(envelopes.c.channel == p.channel, envelopes.c.sender_node == me, envelopes.c.seq > start)
            .order_by(envelopes.c.seq)
            .limit(limit - len(batch))
        ).all()
        batch.extend(loads_strict(r.raw) for r in rows)
        if len(batch) >= limit:
            break
    return batch


def oldest_unreceipted_txn(conn: Connection, me: str, peer: str) -> str | None:
    oldest: str | None = None
    for p in pending_chains_txn(conn, me, peer):
        created = conn.execute(
            select(func.min(envelopes.c.created)).where(
                envelopes.c.channel == p.channel,
                envelopes.c.sender_node == me,
                envelopes.c.seq == p.receipted + 1,
            )
        ).scalar()
        if created and (oldest is None or created < oldest):
            oldest = str(created)
    return oldest
