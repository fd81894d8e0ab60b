"""Core tables of a node (SQLAlchemy Core, shared ``metadata``).

Signed objects are stored as their canonical bytes (``raw``) next to the few columns that
are indexed; the bytes are the truth and the columns are a cache of what they say, which is
why ``parley verify`` re-reads the bytes and checks the columns against them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from parley.storage.metadata import metadata

UTCDateTime = DateTime(timezone=True)

peers = Table(
    "peers",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("party", String(200), nullable=False),
    Column("public_key", String(64), nullable=False),
    Column("key_id", String(16), nullable=False),
    Column("tls_fingerprint", String(80), nullable=False),
    Column("url", String(500), nullable=False),
    Column("card", Text, nullable=False),
    Column("added_at", UTCDateTime, nullable=False),
)

desks = Table(
    "desks",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("title", String(200), nullable=False, server_default=""),
    Column("created_at", UTCDateTime, nullable=False),
)

operators = Table(
    "operators",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("password_hash", String(200), nullable=False),
    Column("totp_secret", String(64), nullable=True),
    Column("lang", String(8), nullable=False, server_default="en"),
    Column("disabled", Boolean, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime, nullable=False),
)

memberships = Table(
    "memberships",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("desk", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("username", String(64), nullable=False, index=True),
    Column("label", String(200), nullable=False, server_default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked", Boolean, nullable=False, server_default="0"),
)

# A channel exists once its charter carries the signatures of every member node.
channels = Table(
    "channels",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("charter_hash", String(80), nullable=False),
    Column("charter", Text, nullable=False),  # the signed charter document, canonical JSON
    Column("status", String(16), nullable=False),
    Column("exempt_types", Text, nullable=False, server_default="[]"),
    Column("created_at", UTCDateTime, nullable=False),
)

# Proposals on their way to becoming channels (offline files or the federation).
proposals = Table(
    "proposals",
    metadata,
    Column("charter_hash", String(80), primary_key=True),
    Column("channel", String(64), nullable=False),
    Column("document", Text, nullable=False),
    Column("state", String(16), nullable=False),  # proposed | accepted
    Column("updated_at", UTCDateTime, nullable=False),
)

# Signed status records, in the order they took effect; see channels/status.py.
status_records = Table(
    "status_records",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("channel", String(64), nullable=False, index=True),
    Column("status", String(16), nullable=False),
    Column("effective", String(32), nullable=False),
    Column("signer", String(64), nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Column("stored_at", UTCDateTime, nullable=False),
)

# Every envelope this node sent or received, exactly once.
envelopes = Table(
    "envelopes",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("channel", String(64), nullable=False),
    Column("sender_node", String(64), nullable=False),
    Column("sender_desk", String(64), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(80), nullable=False),
    Column("type", String(64), nullable=False),
    Column("precedence", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created", String(32), nullable=False),
    Column("stored_at", UTCDateTime, nullable=False),
    Column("outgoing", Boolean, nullable=False),
    Column("raw", LargeBinary, nullable=False),
    UniqueConstraint("channel", "sender_node", "seq", name="uq_envelopes_chain"),
)
Index("ix_envelopes_type", envelopes.c.channel, envelopes.c.type)

# The last link of each (channel, sender) chain: O(1) "what comes next" and the row that
# serialises concurrent senders on PostgreSQL (SELECT … FOR UPDATE).
chain_heads = Table(
    "chain_heads",
    metadata,
    Column("channel", String(64), primary_key=True),
    Column("sender_node", String(64), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(80), nullable=False),
)

# Envelopes that arrived ahead of a gap, held until the missing range is fetched.
held_envelopes = Table(
    "held_envelopes",
    metadata,
    Column("channel", String(64), primary_key=True),
    Column("sender_node", String(64), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("raw", LargeBinary, nullable=False),
    Column("held_at", UTCDateTime, nullable=False),
)

# Cumulative receipts: receiver has stored sender's chain in channel up to upto_seq.
receipts = Table(
    "receipts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(64), nullable=False),
    Column("sender_node", String(64), nullable=False),
    Column("receiver_node", String(64), nullable=False),
    Column("upto_seq", BigInteger, nullable=False),
    Column("upto_hash", String(80), nullable=False),
    Column("received_at", String(32), nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Column("stored_at", UTCDateTime, nullable=False),
)
Index(
    "ix_receipts_chain",
    receipts.c.channel,
    receipts.c.sender_node,
    receipts.c.receiver_node,
    receipts.c.upto_seq,
)

# The receipt time of each message, per receiving node: deadlines run from here.
delivery = Table(
    "delivery",
    metadata,
    Column("message_id", String(36), primary_key=True),
    Column("receiver_node", String(64), primary_key=True),
    Column("receipted_at", String(32), nullable=False),
    Column("due_at", String(32), nullable=True),
    # The deadline watch and paging read what fell due in a window of time (messaging.deadlines).
    Index("ix_delivery_due_at", "due_at"),
)

# One row per peer: the sending loop's state, kept in the database so a restart remembers
# its backoff; the row is what a sending process locks (FOR UPDATE SKIP LOCKED).
peer_links = Table(
    "peer_links",
    metadata,
    Column("peer", String(64), primary_key=True),
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("last_success_at", UTCDateTime, nullable=True),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", UTCDateTime, nullable=True),
)

# Acknowledgments: a person read and understood a message (the ack is itself an envelope).
acknowledgments = Table(
    "acknowledgments",
    metadata,
    Column("message_id", String(36), primary_key=True),
    Column("ack_id", String(36), nullable=False, unique=True),
    Column("node", String(64), nullable=False),
    Column("operator", String(64), nullable=False),
    Column("desk", String(64), nullable=False),
    Column("acked_at", String(32), nullable=False),
    Column("late", Boolean, nullable=False),
)

link_tests = Table(
    "link_tests",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("channel", String(64), nullable=False),
    Column("peer", String(64), nullable=False),
    Column("initiator", String(64), nullable=False),
    Column("sent_at", String(32), nullable=False),
    Column("rtt_ms", Float, nullable=True),
    Column("ok", Boolean, nullable=False),
    Column("error", Text, nullable=True),
    Column("raw", LargeBinary, nullable=True),
)
Index("ix_link_tests_channel", link_tests.c.channel, link_tests.c.peer, link_tests.c.sent_at)

link_state = Table(
    "link_state",
    metadata,
    Column("channel", String(64), primary_key=True),
    Column("peer", String(64), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("since", UTCDateTime, nullable=False),
    Column("last_rtt_ms", Float, nullable=True),
    Column("consecutive_failures", Integer, nullable=False, server_default="0"),
    Column("next_test_at", UTCDateTime, nullable=True),
)

alarms = Table(
    "alarms",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("message", Text, nullable=False),  # the English rendering (logs, older readers)
    # The code, English template and parameters (parley.storage.alarms), rendered when read.
    Column("text_json", Text, nullable=True),
    Column("raised_at", UTCDateTime, nullable=False),
    Column("cleared_at", UTCDateTime, nullable=True),
)

escalations = Table(
    "escalations",
    metadata,
    Column("message_id", String(36), primary_key=True),
    Column("escalated_at", UTCDateTime, nullable=False),
    Column("notified_desk", String(64), nullable=True),
    Column("webhook_status", String(200), nullable=True),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("details", Text, nullable=False, server_default="{}"),
)

# Federation requests already seen (nonce), to refuse replays within the clock-skew window.
seen_requests = Table(
    "seen_requests",
    metadata,
    Column("nonce", String(64), primary_key=True),
    Column("peer", String(64), nullable=False),
    Column("seen_at", UTCDateTime, nullable=False),
)

# Signed control documents (charter proposals and acceptances, status records) waiting to be
# delivered to a peer; the sending loop delivers them before envelopes.
control_outbox = Table(
    "control_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("peer", String(64), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
)
