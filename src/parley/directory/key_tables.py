"""Key history tables (docs/protocol.md §13): pinned roots and the root-signed key records.

The rows are the documents themselves (their canonical bytes); a node's history is rebuilt
from them by replaying the records in serial order, so a verifier of this database checks
the same signatures a peer checked when it took them in.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Integer, String, Table, Text, UniqueConstraint

from parley.storage.metadata import metadata

UTCDateTime = DateTime(timezone=True)

# One row per node with a root: this node's own, and each peer's once its card carried one.
key_roots = Table(
    "key_roots",
    metadata,
    Column("node", String(64), primary_key=True),
    Column("root_key", String(64), nullable=False),
    Column("root_key_id", String(16), nullable=False),
    # The certificate the history starts from (the first this node saw for that node).
    Column("first_certificate", Text, nullable=False),
    Column("pinned_at", UTCDateTime, nullable=False),
)

# Rotation and revocation records, each as received (canonical bytes), at most one per serial.
key_records = Table(
    "key_records",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("node", String(64), nullable=False),
    Column("serial", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("raw", Text, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    UniqueConstraint("node", "serial"),
)
