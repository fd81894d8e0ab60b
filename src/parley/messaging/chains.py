"""Storing envelopes on their per-sender hash chains, once each.

Both directions go through here: a node's own envelopes (sent) and its peers' (received).
Each (channel, sender) chain has a head row holding the last stored seq and hash; storing
the next envelope updates the head in the same transaction, and the unique key
(channel, sender, seq) makes a second copy impossible even if two processes race.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from parley.protocol.envelope import SignedEnvelope
from parley.record.journal import journal_txn
from parley.storage.tables import chain_heads, envelopes


def chain_head_txn(
    conn: Connection, channel: str, sender: str, *, for_update: bool = False
) -> tuple[int, str] | None:
    q = select(chain_heads.c.seq, chain_heads.c.hash).where(
        chain_heads.c.channel == channel, chain_heads.c.sender_node == sender
    )
    if for_update and conn.dialect.name == "postgresql":
        q = q.with_for_update()
    row = conn.execute(q).first()
    return None if row is None else (int(row.seq), str(row.hash))


def store_envelope_txn(
    conn: Connection, env: SignedEnvelope, *, outgoing: bool, stored_at: datetime
) -> None:
    """Append ``env`` to its chain; the caller has checked it continues the chain."""
    conn.execute(
        insert(envelopes).values(
            id=env.id,
            channel=env.channel,
            sender_node=env.sender_node,
            sender_desk=env.sender_desk,
            seq=env.seq,
            hash=env.hash,
            type=env.type,
            precedence=env.precedence,
            status=env.status,
            created=env.created,
            stored_at=stored_at,
            outgoing=outgoing,
            raw=env.to_bytes(),
        )
    )
    if env.seq == 1:
        conn.execute(
            insert(chain_heads).values(
                channel=env.channel, sender_node=env.sender_node, seq=1, hash=env.hash
            )
        )
    else:
        conn.execute(
            update(chain_heads)
            .where(chain_heads.c.channel == env.channel, chain_heads.c.sender_node == env.sender_node)
            .values(seq=env.seq, hash=env.hash)
        )
    journal_txn(conn, "envelope", env.id, env.to_bytes())
    project_txn(conn, env)


def project_txn(conn: Connection, env: SignedEnvelope) -> None:
    """Update the projections (acknowledgments, incidents, meetings) from a stored envelope."""
    if env.type == "acknowledgment":
        from parley.messaging.acknowledge import project_ack_txn

        project_ack_txn(conn, env)


def load_envelope_txn(conn: Connection, message_id: str) -> SignedEnvelope | None:
    row = conn.execute(select(envelopes.c.raw).where(envelopes.c.id == message_id)).first()
    return None if row is None else SignedEnvelope.from_bytes(row.raw)
