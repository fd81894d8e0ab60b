"""Storing envelopes on their per-sender hash chains, once each.

Both directions go through here: a node's own envelopes (sent) and its peers' (received).
Each (channel, sender) chain has a head row holding the last stored seq and hash; storing
the next envelope updates the head in the same transaction, and the unique key
(channel, sender, seq) makes a second copy impossible even if two processes race.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, insert, select, text, update

from parley.messaging.hooks import hooks
from parley.protocol.envelope import SignedEnvelope
from parley.record.journal import journal_txn
from parley.storage.tables import chain_heads, envelopes

# Built once: constructing a Core statement costs more than running it on SQLite
# (docs/decisions/0006).
_HEAD = select(chain_heads.c.seq, chain_heads.c.hash).where(
    chain_heads.c.channel == bindparam("channel"), chain_heads.c.sender_node == bindparam("sender")
)
_HEAD_FOR_UPDATE = _HEAD.with_for_update()
_CHAIN_LOCK = text("SELECT pg_advisory_xact_lock(hashtext(:k))")
_INSERT_ENVELOPES = insert(envelopes)
_INSERT_HEAD = insert(chain_heads)
_MOVE_HEAD = (
    update(chain_heads)
    .where(
        chain_heads.c.channel == bindparam("k_channel"), chain_heads.c.sender_node == bindparam("k_sender")
    )
    .values(seq=bindparam("seq"), hash=bindparam("hash"))
)
_LOAD = select(envelopes.c.raw).where(envelopes.c.id == bindparam("id"))


def chain_head_txn(
    conn: Connection, channel: str, sender: str, *, for_update: bool = False
) -> tuple[int, str] | None:
    key = {"channel": channel, "sender": sender}
    if for_update and conn.dialect.name == "postgresql":
        row = conn.execute(_HEAD_FOR_UPDATE, key).first()
        if row is None:
            # A chain's first envelope has no head row to lock yet, so two processes
            # sharing the database would both pick seq 1: serialise them on an advisory
            # lock held until commit, then read again (the winner's head is visible then).
            conn.execute(_CHAIN_LOCK, {"k": f"parley-chain:{channel}:{sender}"})
            row = conn.execute(_HEAD_FOR_UPDATE, key).first()
    else:
        row = conn.execute(_HEAD, key).first()
    return None if row is None else (int(row.seq), str(row.hash))


def store_envelope_txn(conn: Connection, env: SignedEnvelope, *, outgoing: bool, stored_at: datetime) -> None:
    """Append ``env`` to its chain; the caller has checked it continues the chain."""
    store_envelopes_txn(conn, [env], outgoing=outgoing, stored_at=stored_at)


def store_envelopes_txn(
    conn: Connection, envs: list[SignedEnvelope], *, outgoing: bool, stored_at: datetime
) -> None:
    """Append checked envelopes (in chain order) with one multi-row insert per table.

    Statement count, not bytes, dominates the cost of storing small envelopes, so a
    batch is written with executemany and each chain head is moved once, to its end.
    """
    if not envs:
        return
    raws = [env.to_bytes() for env in envs]
    conn.execute(
        _INSERT_ENVELOPES,
        [
            {
                "id": env.id,
                "channel": env.channel,
                "sender_node": env.sender_node,
                "sender_desk": env.sender_desk,
                "seq": env.seq,
                "hash": env.hash,
                "type": env.type,
                "precedence": env.precedence,
                "status": env.status,
                "created": env.created,
                "stored_at": stored_at,
                "outgoing": outgoing,
                "raw": raw,
            }
            for env, raw in zip(envs, raws, strict=True)
        ],
    )
    first: dict[tuple[str, str], SignedEnvelope] = {}
    last: dict[tuple[str, str], SignedEnvelope] = {}
    for env in envs:
        first.setdefault((env.channel, env.sender_node), env)
        last[(env.channel, env.sender_node)] = env
    for key, env in last.items():
        if first[key].seq == 1:
            conn.execute(
                _INSERT_HEAD, {"channel": key[0], "sender_node": key[1], "seq": env.seq, "hash": env.hash}
            )
        else:
            conn.execute(
                _MOVE_HEAD, {"k_channel": key[0], "k_sender": key[1], "seq": env.seq, "hash": env.hash}
            )
    for env, raw in zip(envs, raws, strict=True):
        journal_txn(conn, "envelope", env.id, raw)
        project_txn(conn, env)


def project_txn(conn: Connection, env: SignedEnvelope) -> None:
    """Update the projections (acknowledgments, incidents, meetings) from a stored envelope."""
    if env.type == "acknowledgment":
        from parley.messaging.acknowledge import project_ack_txn

        project_ack_txn(conn, env)
    hooks().project_txn(conn, env)


def load_envelope_txn(conn: Connection, message_id: str) -> SignedEnvelope | None:
    row = conn.execute(_LOAD, {"id": message_id}).first()
    return None if row is None else SignedEnvelope.from_bytes(row.raw)
