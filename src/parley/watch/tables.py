"""Tables of the watch roster and handovers (operators' contact addresses are the directory's).

A shift is stored as two UTC instants plus the IANA time zone (RFC 9557 / tz database
name) it was written in, so that comparisons are exact and displays can name the zone
the roster was planned in. Repeating shifts are stored expanded, one row per occurrence,
sharing a ``series`` id: the desk's bound on rows is then a bound on work.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table, Text

from parley.storage.metadata import metadata
from parley.storage.tables import UTCDateTime

shifts = Table(
    "watch_shifts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("desk", String(64), nullable=False),
    Column("username", String(64), nullable=False),
    Column("role", String(16), nullable=False),  # watch | supervisor
    Column("start_at", UTCDateTime, nullable=False),
    Column("end_at", UTCDateTime, nullable=False),
    Column("tz", String(64), nullable=False),
    Column("series", String(36), nullable=True),
    Column("created_by", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)
Index("ix_watch_shifts_desk", shifts.c.desk, shifts.c.start_at)

# One row per handover; ``items`` is the open-items list generated when it started (JSON),
# kept as it was so the record shows what the incoming officer was shown and confirmed.
handovers = Table(
    "watch_handovers",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("desk", String(64), nullable=False),
    Column("outgoing", String(64), nullable=False),
    Column("note", Text, nullable=False),
    Column("items", Text, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("incoming", String(64), nullable=True),
    Column("confirmed_at", UTCDateTime, nullable=True),
)
Index("ix_watch_handovers_desk", handovers.c.desk, handovers.c.started_at)
