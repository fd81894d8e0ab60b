"""Tables of the workflow projections: incidents, meetings and drills.

Every row here is a cache of what the signed envelopes say: ``parley incident rebuild``
(:func:`parley.workflows.projection.rebuild_workflows`) drops them and recomputes them
from the record, and the result must be the same. ``state`` holds the projected state as
JSON; the other columns are what lists are filtered and ordered by. Which message belongs
to which incident is messaging's index (``parley.messaging.thread_tables.incident_messages``):
the inbox filters by it without knowing the workflows.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, String, Table, Text

from parley.storage.metadata import metadata
from parley.storage.tables import UTCDateTime

# One row per incident, keyed by the id of the report that opened it.
incidents = Table(
    "incidents",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("channel", String(64), nullable=False),
    Column("type", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # ACTUAL or EXERCISE (drill-marked)
    Column("phase", String(40), nullable=False),
    Column("opened_at", String(32), nullable=False),
    Column("closed_at", String(32), nullable=True),
    Column("state", Text, nullable=False),
)
Index("ix_incidents_channel", incidents.c.channel, incidents.c.opened_at)

# One row per meeting, keyed by channel and the proposer's meeting id.
meetings = Table(
    "meetings",
    metadata,
    Column("channel", String(64), primary_key=True),
    Column("meeting_id", String(64), primary_key=True),
    Column("level", String(32), nullable=False),
    Column("phase", String(32), nullable=False),
    Column("start", String(32), nullable=False),
    Column("held_at", String(32), nullable=True),
    Column("agreed", Boolean, nullable=False),
    Column("state", Text, nullable=False),
)

meeting_messages = Table(
    "meeting_messages",
    metadata,
    Column("message_id", String(36), primary_key=True),
    Column("channel", String(64), nullable=False),
    Column("meeting_id", String(64), nullable=False),
)
Index("ix_meeting_messages_meeting", meeting_messages.c.channel, meeting_messages.c.meeting_id)

# Drills started on this node: the drill is the TEST message itself; this row says that
# it was sent as a drill and by whom, so the after-action report can find it.
drills = Table(
    "drills",
    metadata,
    Column("id", String(36), primary_key=True),  # the drill message's id
    Column("channel", String(64), nullable=False),
    Column("desk", String(64), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("started_by", String(64), nullable=False),
)
