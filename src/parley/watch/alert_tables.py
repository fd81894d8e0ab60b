"""The console's alert preferences, one row per operator: the sound mute and desktop notices.

Kept on the node rather than in the browser, so a mute follows the officer from one screen to
the next, is visible to whoever takes the chair, and is in the audit log
(:mod:`parley.console.alerts`).
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, String, Table

from parley.storage.metadata import metadata

UTCDateTime = DateTime(timezone=True)

alert_preferences = Table(
    "alert_preferences",
    metadata,
    Column("username", String(64), primary_key=True),
    # The sound is off from muted_at until muted_until; an item that opens after muted_at
    # sounds again, so a mute never silences a FLASH the officer has not seen yet.
    Column("muted_at", UTCDateTime, nullable=True),
    Column("muted_until", UTCDateTime, nullable=True),
    Column("notify", Boolean, nullable=False, server_default="0"),
)
