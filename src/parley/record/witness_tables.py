"""Tables of checkpoint witnessing (C2SP tlog-witness), on the node's shared ``metadata``.

* ``record_checkpoints``: this node's own signed checkpoints, one per tree size, as the
  signed note it handed out (log signature only; cosignatures are kept apart).
* ``record_cosignatures``: cosignatures peers returned on those checkpoints (C2SP
  tlog-cosignature lines), one per size and cosigner.
* ``witness_state``: one row per peer, the peer's latest checkpoint this node verified and
  cosigned. The row is locked (``SELECT … FOR UPDATE``) while a new checkpoint of that peer
  is checked, so two concurrent exchanges cannot both advance it.
* ``witnessed_checkpoints``: every checkpoint of a peer this node cosigned, by size, so a
  second root for a size already seen is caught even when it is not the latest.
* ``witness_evidence``: what raised a security alarm (the checkpoint note and the proof
  exactly as received), kept because it may prove that the peer rewrote its history.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from parley.storage.metadata import metadata

UTCDateTime = DateTime(timezone=True)

record_checkpoints = Table(
    "record_checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("signed_at", UTCDateTime, nullable=False),
)

record_cosignatures = Table(
    "record_cosignatures",
    metadata,
    Column("size", BigInteger, nullable=False),
    Column("cosigner", String(64), nullable=False),
    Column("line", Text, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("size", "cosigner"),
)

witness_state = Table(
    "witness_state",
    metadata,
    Column("peer", String(64), primary_key=True),
    # NULL until the first checkpoint of the peer is witnessed (the row exists to be locked).
    Column("size", BigInteger, nullable=True),
    Column("root", LargeBinary(32), nullable=True),
    Column("note", Text, nullable=True),
    Column("cosignature", Text, nullable=True),
    Column("timestamp", BigInteger, nullable=True),
    Column("witnessed_at", UTCDateTime, nullable=True),
)

witnessed_checkpoints = Table(
    "witnessed_checkpoints",
    metadata,
    Column("peer", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("cosignature", Text, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("witnessed_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("peer", "size"),
)

witness_evidence = Table(
    "witness_evidence",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("peer", String(64), nullable=False, index=True),
    Column("reason", String(32), nullable=False),
    Column("message", Text, nullable=False),
    Column("from_size", BigInteger, nullable=True),
    Column("checkpoint", Text, nullable=False),
    Column("proof", Text, nullable=False),  # JSON list of base64 hashes, as received
    Column("recorded_at", UTCDateTime, nullable=False),
)
