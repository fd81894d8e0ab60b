"""The thread index: which message each reply answers (docs/protocol.md §4.3 Replies).

The signed ``reply_to`` member of an envelope is the truth; this table is an index of it,
written in the same transaction that stores the envelope, so a list can show one line per
thread without re-reading every envelope's bytes.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, String, Table

from parley.storage.metadata import metadata

thread_links = Table(
    "thread_links",
    metadata,
    Column("message_id", String(36), primary_key=True),
    Column("channel", String(64), nullable=False),
    Column("in_reply_to", String(36), nullable=False),
    Column("root_id", String(36), nullable=False),
)
Index("ix_thread_links_root", thread_links.c.root_id)
Index("ix_thread_links_parent", thread_links.c.in_reply_to)

# Which stored envelope belongs to which incident (the report, its responses, their
# acknowledgments). The workflows write it when they project an incident, and re-project one
# incident from these rows alone; the inbox filters by it (``incident=``).
incident_messages = Table(
    "incident_messages",
    metadata,
    Column("message_id", String(36), primary_key=True),
    Column("incident_id", String(36), nullable=False, index=True),
)
