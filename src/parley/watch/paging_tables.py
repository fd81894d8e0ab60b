"""Tables of escalation chains and the page queue (docs/watch.md §Escalation chains and pagers).

The queue is the database, not memory: a page is a row from the moment its step falls due
until it is sent, given up or cancelled, so a node that restarts, or a mail server that is
down for an hour, loses nothing. Unique keys make creating a step's pages idempotent: the
runner may look at the same due step twice (two ticks, a restart) and still page once.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table, Text, UniqueConstraint

from parley.storage.metadata import metadata
from parley.storage.tables import UTCDateTime

# One row per (desk, precedence); ``steps`` is the validated list of steps as JSON
# ([{"after_s": 60, "target": "watch", "media": ["email"]}, …]), bounded by chains.MAX_STEPS.
escalation_chains = Table(
    "escalation_chains",
    metadata,
    Column("desk", String(64), primary_key=True),
    Column("precedence", String(16), primary_key=True),
    Column("steps", Text, nullable=False),
    Column("updated_by", String(64), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# One row per step that has fired for a message at a desk, whether or not it found anyone
# to page: this is what stops a step firing twice.
page_steps = Table(
    "page_steps",
    metadata,
    Column("message_id", String(36), primary_key=True),
    Column("desk", String(64), primary_key=True),
    Column("step", Integer, primary_key=True),
    Column("side", String(8), nullable=False),  # received | sent
    Column("target", String(80), nullable=False),
    Column("fired_at", UTCDateTime, nullable=False),
    Column("recipients", Integer, nullable=False),
)

# One row per recipient and medium of a fired step.
# state: pending -> sent | failed (given up) | cancelled (acknowledged first)
pages = Table(
    "pages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(36), nullable=False),
    Column("desk", String(64), nullable=False),
    Column("step", Integer, nullable=False),
    Column("side", String(8), nullable=False),  # received | sent (see page_steps)
    Column("target", String(80), nullable=False),
    Column("recipient", String(64), nullable=False),
    Column("medium", String(16), nullable=False),
    Column("address", String(254), nullable=False, server_default=""),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text, nullable=True),
    Column("due_at", UTCDateTime, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime, nullable=True),
    Column("alarmed", Integer, nullable=False, server_default="0"),
    UniqueConstraint("message_id", "desk", "step", "recipient", "medium", name="uq_pages_once"),
)
Index("ix_pages_state", pages.c.state, pages.c.next_attempt_at)
Index("ix_pages_message", pages.c.message_id)

# Consecutive failures per medium, so that a pager that keeps failing raises one alarm
# (not one per page) and the alarm clears on the next success.
pager_health = Table(
    "pager_health",
    metadata,
    Column("medium", String(16), primary_key=True),
    Column("consecutive_failures", Integer, nullable=False, server_default="0"),
    Column("last_error", Text, nullable=True),
    Column("alarm_id", Integer, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)
