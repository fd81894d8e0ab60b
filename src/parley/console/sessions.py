"""Console sessions, the log-in brake and the TOTP second factor.

* Sessions are server-side: the browser's cookie carries 32 random bytes; the node stores
  their SHA-256 with the operator, a CSRF token (the synchronizer-token pattern of the OWASP
  CSRF cheat sheet) and an absolute expiry (``[console] session_hours``).
* A right password for an operator with a second factor opens a session in stage ``totp``
  only; the code (RFC 6238, 30-second steps, one step of drift either way) promotes it to
  ``full`` under a new token, so a token seen before the second factor is worth nothing.
  A time step once used cannot be used again.
* Failed log-ins are counted per user name and per client address over a sliding window;
  past the limit, log-in is refused (HTTP 429) until the window has moved on, even with the
  right password.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyotp
from sqlalchemy import delete, func, insert, select, update

from parley.console.tables import console_login_failures, console_sessions, console_totp_steps
from parley.directory.operators import Operator, check_password, get_operator
from parley.errors import AuthError, UsageError
from parley.node import Node
from parley.storage.tables import operators

SESSION_COOKIE = "__Host-parley-session"
LOGIN_CSRF_COOKIE = "__Host-parley-login"
FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_ADDRESS = 20
SECOND_FACTOR_TIME = timedelta(minutes=5)
TOUCH_EVERY = timedelta(seconds=60)
TOTP_ISSUER = "Parley"


class TooManyAttempts(AuthError):
    code = "too_many_attempts"
    http_status = 429


@dataclass(frozen=True)
class Session:
    username: str
    csrf: str
    stage: str
    expires_at: datetime

    @property
    def complete(self) -> bool:
        return self.stage == "full"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _aware(dt: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


# --- the log-in brake ----------------------------------------------------------------------
def _subjects(username: str, address: str) -> list[tuple[str, int]]:
    return [
        (f"user:{username}", MAX_FAILURES_PER_USER),
        (f"addr:{address}", MAX_FAILURES_PER_ADDRESS),
    ]


def check_not_locked(node: Node, username: str, address: str) -> None:
    """Raise TooManyAttempts while ``username`` or ``address`` has too many recent failures."""
    now = node.clock.now()
    since = now - FAILURE_WINDOW
    with node.reader.connect() as conn:
        for subject, limit in _subjects(username, address):
            count, oldest = conn.execute(
                select(func.count(), func.min(console_login_failures.c.at)).where(
                    console_login_failures.c.subject == subject, console_login_failures.c.at > since
                )
            ).one()
            if count >= limit and oldest is not None:
                wait = _aware(oldest) + FAILURE_WINDOW - now
                minutes = max(1, int(wait.total_seconds() // 60) + 1)
                what, who = subject.split(":", 1)
                raise TooManyAttempts(
                    f"too many failed log-ins for {what} {who}",
                    hint=f"wait {minutes} min, or ask an admin to check the account",
                    details={"retry_after_s": int(wait.total_seconds()) + 1},
                )


def record_failure(node: Node, username: str, address: str) -> None:
    now = node.clock.now()
    with node.engine.begin() as conn:
        for subject, _ in _subjects(username, address):
            conn.execute(insert(console_login_failures).values(subject=subject[:200], at=now))
        # Old failures say nothing any more: keep the table small.
        conn.execute(
            delete(console_login_failures).where(console_login_failures.c.at < now - 2 * FAILURE_WINDOW)
        )


# --- sessions ----------------------------------------------------------------------------
def _new_session(node: Node, username: str, stage: str) -> tuple[str, Session]:
    now = node.clock.now()
    token = secrets.token_urlsafe(32)
    lifetime = SECOND_FACTOR_TIME if stage == "totp" else timedelta(hours=node.config.console.session_hours)
    session = Session(username, secrets.token_urlsafe(32), stage, now + lifetime)
    with node.engine.begin() as conn:
        conn.execute(delete(console_sessions).where(console_sessions.c.expires_at < now))
        conn.execute(
            insert(console_sessions).values(
                token_hash=_hash(token),
                username=username,
                csrf=session.csrf,
                stage=stage,
                created_at=now,
                last_seen_at=now,
                expires_at=session.expires_at,
            )
        )
    return token, session


def do_log_in(node: Node, username: str, password: str, address: str) -> tuple[str, Session, Operator]:
    """Check the password and open a session (stage ``totp`` if a second factor is owed)."""
    if not username or not password:
        raise UsageError("enter your user name and password")
    check_not_locked(node, username, address)
    try:
        op = check_password(node, username, password)
    except AuthError:
        record_failure(node, username, address)
        raise
    token, session = _new_session(node, op.username, "totp" if op.has_totp else "full")
    return token, session, op


def load_session(node: Node, token: str | None) -> Session | None:
    """The live session of ``token``, or None (unknown, expired or logged out)."""
    if not token:
        return None
    now = node.clock.now()
    with node.reader.connect() as conn:
        row = conn.execute(
            select(console_sessions).where(console_sessions.c.token_hash == _hash(token))
        ).first()
    if row is None or _aware(row.expires_at) <= now:
        return None
    if now - _aware(row.last_seen_at) > TOUCH_EVERY:
        with node.engine.begin() as conn:
            conn.execute(
                update(console_sessions)
                .where(console_sessions.c.token_hash == _hash(token))
                .values(last_seen_at=now)
            )
    return Session(row.username, row.csrf, row.stage, _aware(row.expires_at))


def do_log_out(node: Node, token: str) -> None:
    with node.engine.begin() as conn:
        conn.execute(delete(console_sessions).where(console_sessions.c.token_hash == _hash(token)))


def do_second_factor(node: Node, token: str, code: str, address: str) -> tuple[str, Session]:
    """Check a TOTP code for a session in stage ``totp``; return the new, full session."""
    session = load_session(node, token)
    if session is None or session.stage != "totp":
        raise AuthError("your log-in has expired", hint="log in again with your password")
    check_not_locked(node, session.username, address)
    code = code.strip().replace(" ", "")
    with node.reader.connect() as conn:
        secret = conn.execute(
            select(operators.c.totp_secret).where(operators.c.username == session.username)
        ).scalar_one_or_none()
        last = conn.execute(
            select(console_totp_steps.c.last_step).where(console_totp_steps.c.username == session.username)
        ).scalar_one_or_none()
    step = _matching_step(secret, code, node.clock.now()) if secret else None
    if step is None or (last is not None and step <= last):
        record_failure(node, session.username, address)
        raise AuthError(
            "wrong or already used code", hint="enter the current code from your authenticator app"
        )
    with node.engine.begin() as conn:
        if last is None:
            conn.execute(insert(console_totp_steps).values(username=session.username, last_step=step))
        else:
            conn.execute(
                update(console_totp_steps)
                .where(console_totp_steps.c.username == session.username)
                .values(last_step=step)
            )
        conn.execute(delete(console_sessions).where(console_sessions.c.token_hash == _hash(token)))
    return _new_session(node, session.username, "full")


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    step = int(now.timestamp()) // totp.interval
    for drift in (0, -1, 1):
        if secrets.compare_digest(totp.at(now, counter_offset=drift), code):
            return step + drift
    return None


# --- enrolment (CLI) -----------------------------------------------------------------------
def do_enrol_totp(node: Node, username: str) -> str:
    """Give ``username`` a new TOTP secret; return the ``otpauth://`` URI to scan (show once)."""
    get_operator(node, username)
    secret = pyotp.random_base32()
    with node.engine.begin() as conn:
        conn.execute(update(operators).where(operators.c.username == username).values(totp_secret=secret))
        conn.execute(delete(console_totp_steps).where(console_totp_steps.c.username == username))
    uri: str = pyotp.TOTP(secret).provisioning_uri(name=f"{username}@{node.name}", issuer_name=TOTP_ISSUER)
    return uri


def do_remove_totp(node: Node, username: str) -> None:
    get_operator(node, username)
    with node.engine.begin() as conn:
        conn.execute(update(operators).where(operators.c.username == username).values(totp_secret=None))
        conn.execute(delete(console_totp_steps).where(console_totp_steps.c.username == username))
