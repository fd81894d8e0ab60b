"""Tables of the append-only Merkle log (RFC 9162 §2.1), on the node's shared ``metadata``.

* ``log_leaves``: one row per leaf, in log order, with its leaf hash and what it records
  (``kind`` and ``ref``, e.g. ``envelope`` and a message id). Leaf hashes double as the
  level-0 subtree hashes, so they are not repeated in ``log_nodes``.
* ``log_nodes``: the root of every *complete* subtree of level 1 and above; level ``k``
  index ``i`` covers leaves ``[i * 2**k, (i + 1) * 2**k)``. Rows are written once, when
  their last leaf arrives, and never change, so any proof for any past size is a handful
  of primary-key reads.
* ``log_head``: a single row (``id = 1``) holding the current size. Appenders lock it, which
  serialises appends on PostgreSQL, and ``size()`` reads it instead of counting leaves.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
)

from parley.storage.metadata import metadata

KIND_MAX = 32
REF_MAX = 200

log_leaves = Table(
    "log_leaves",
    metadata,
    # autoincrement=False: indices are assigned by the log under the head lock, never by
    # the database, so a gap or a reordering is impossible.
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Column("kind", String(KIND_MAX), nullable=False),
    Column("ref", String(REF_MAX), nullable=False),
    Column("committed_at", DateTime(timezone=True), nullable=False),
    Index("ix_log_leaves_kind_ref", "kind", "ref"),
)

log_nodes = Table(
    "log_nodes",
    metadata,
    Column("level", SmallInteger, nullable=False),
    Column("idx", BigInteger, nullable=False),
    Column("hash", LargeBinary(32), nullable=False),
    PrimaryKeyConstraint("level", "idx"),
    CheckConstraint("level >= 1", name="level_above_leaves"),
)

log_head = Table(
    "log_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    CheckConstraint("id = 1", name="single_row"),
    CheckConstraint("size >= 0", name="size_not_negative"),
)
