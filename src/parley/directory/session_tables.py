"""Tables of operators' console sessions and the log-in brake (used by parley.console.sessions).

A browser holds only a random session token (in a ``__Host-`` cookie, RFC 6265bis); the
node keeps the token's SHA-256, who it belongs to, its CSRF token and when it ends, so a
log-out or an expiry takes effect at once and a stolen database does not yield live cookies.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, String, Table

from parley.storage.metadata import metadata

UTCDateTime = DateTime(timezone=True)

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("username", String(64), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    # "totp": the password was right and the second factor is still owed; "full": logged in.
    Column("stage", String(8), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

# One row per failed log-in (password or second factor), by user name and by client address;
# counted over a sliding window to slow down guessing.
console_login_failures = Table(
    "console_login_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subject", String(200), nullable=False),
    Column("at", UTCDateTime, nullable=False),
)
Index(
    "ix_console_login_failures_subject",
    console_login_failures.c.subject,
    console_login_failures.c.at,
)

# The last TOTP time step each operator used, so a code cannot be replayed (RFC 6238 §5.2).
console_totp_steps = Table(
    "console_totp_steps",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("last_step", BigInteger, nullable=False),
)
