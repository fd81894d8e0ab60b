"""TLS pin tables (docs/protocol.md §13.7): the certificates pinned per peer, and TLS updates.

A peer that never rotated its certificate has no ``tls_pins`` rows: its card's certificate
is the pin. ``tls_updates`` keeps every update as received (canonical bytes), this node's
own included, so the number an update must exceed is read from the same rows it was
checked against.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Integer, String, Table, Text, UniqueConstraint

from parley.storage.metadata import metadata

UTCDateTime = DateTime(timezone=True)

# The certificates a peer's connections are checked against: one, or several during an overlap.
tls_pins = Table(
    "tls_pins",
    metadata,
    Column("node", String(64), primary_key=True),
    Column("fingerprint", String(80), primary_key=True),
    Column("cert", Text, nullable=False),
    Column("pinned_at", UTCDateTime, nullable=False),
)

# TLS updates: this node's own as made, each peer's as received; at most one per number.
tls_updates = Table(
    "tls_updates",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("node", String(64), nullable=False),
    Column("number", BigInteger, nullable=False),
    Column("raw", Text, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    UniqueConstraint("node", "number"),
)
