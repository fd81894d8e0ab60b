"""Indexes for finding messages (see :mod:`parley.messaging.search`).

Keyset paging walks ``envelopes`` newest first on ``(created, id)``; the other columns make
the index covering, so counting the matches of the common filters (channel, type,
direction, precedence, status, date range) reads the index alone, never the signed bytes.
The full-text index itself is not declared here: see :mod:`parley.messaging.search_index`.
"""

from __future__ import annotations

from sqlalchemy import Index

from parley.storage.tables import envelopes

ix_envelopes_created = Index(
    "ix_envelopes_created",
    envelopes.c.created,
    envelopes.c.id,
    envelopes.c.channel,
    envelopes.c.type,
    envelopes.c.outgoing,
    envelopes.c.precedence,
    envelopes.c.status,
)
