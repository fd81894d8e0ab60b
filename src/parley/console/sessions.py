"""Console sessions, the log-in brake and the TOTP second factor.

* Sessions are server-side: the browser's cookie carries 32 random bytes; the node stores
  their SHA-256 with the operator, a CSRF token (the synchronizer-token pattern of the OWASP
  CSRF cheat sheet) and an absolute expiry (``[console] session_hours``).
* A right password for an operator with a second factor opens a session in stage ``totp``
  only; the code (RFC 6238, 30-second steps, one step of drift either way) promotes it to
  ``full`` under a new token, so a token seen before the second factor is worth nothing.
  A time step once used cannot be used again. The secrets are sealed at rest with a key
  kept in the node's home (:mod:`parley.console.totp_secrets`).
* Log-in attempts are counted per user name and per client address over a sliding window
  (``[console] login_failures_per_user`` / ``_per_address``), each attempt counted
  atomically *before* its password or code is checked, so concurrent guesses cannot slip
  past the limit; a right one takes back only its own count. Past the limit, log-in is
  refused (HTTP 429) until the window has moved on, even with the right password.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyotp
from sqlalchemy import Connection, delete, func, insert, select, text, update

from parley.console import totp_secrets
from parley.directory.operators import Operator, get_operator, password_hash_of, password_matches
from parley.directory.session_tables import console_login_failures, console_sessions, console_totp_steps
from parley.errors import AuthError, UsageError
from parley.formats.texts import N, T
from parley.node import Node
from parley.storage.tables import operators

SESSION_COOKIE = "__Host-parley-session"
LOGIN_CSRF_COOKIE = "__Host-parley-login"
FAILURE_WINDOW = timedelta(minutes=15)
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
def _subjects(node: Node, username: str, address: str) -> list[tuple[str, int]]:
    cfg = node.config.console
    # Cut to the column's width here, so what is counted is exactly what is stored.
    return [
        (f"user:{username}"[:200], cfg.login_failures_per_user),
        (f"addr:{address}"[:200], cfg.login_failures_per_address),
    ]


def _lock_subjects(conn: Connection, subjects: list[str]) -> None:
    """Serialise attempts on the same user or address until this transaction ends.

    SQLite writers already run one at a time (``BEGIN IMMEDIATE``); PostgreSQL takes a
    transaction-scoped advisory lock per subject, always in the same (sorted) order so
    two attempts cannot deadlock."""
    if conn.dialect.name != "postgresql":
        return
    for subject in sorted(subjects):
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:s, 0))"), {"s": subject})


def claim_attempt(node: Node, username: str, address: str) -> tuple[int, ...]:
    """Count one log-in attempt against the brake, atomically and before any check is made.

    Raises TooManyAttempts (recording nothing) while ``username`` or ``address`` has its
    limit of attempts in the window; otherwise stores the attempt as a failure and returns
    its rows, which :func:`forgive` removes if the attempt turns out right. Counting first
    is what keeps a burst of concurrent guesses to the documented limit."""
    now = node.clock.now()
    since = now - FAILURE_WINDOW
    subjects = _subjects(node, username, address)
    with node.engine.begin() as conn:
        _lock_subjects(conn, [s for s, _ in subjects])
        for subject, limit in subjects:
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
                    T("too many failed log-ins for user {who}", who=who)
                    if what == "user"
                    else T("too many failed log-ins from address {who}", who=who),
                    hint=N(
                        "wait {n} minute, or ask an admin to check the account",
                        "wait {n} minutes, or ask an admin to check the account",
                        minutes,
                    ),
                    details={"retry_after_s": int(wait.total_seconds()) + 1},
                )
        ids = tuple(
            int(
                conn.execute(
                    insert(console_login_failures)
                    .values(subject=s, at=now)
                    .returning(console_login_failures.c.id)
                ).scalar_one()
            )
            for s, _ in subjects
        )
        # Old failures say nothing any more: keep the table small.
        conn.execute(
            delete(console_login_failures).where(console_login_failures.c.at < now - 2 * FAILURE_WINDOW)
        )
    return ids


def forgive(node: Node, claimed: tuple[int, ...]) -> None:
    """Take back the attempt rows of a log-in that turned out right (only those: earlier
    failures keep counting)."""
    if claimed:
        with node.engine.begin() as conn:
            conn.execute(delete(console_login_failures).where(console_login_failures.c.id.in_(claimed)))


def record_failure(node: Node, username: str, address: str) -> None:
    now = node.clock.now()
    with node.engine.begin() as conn:
        for subject, _ in _subjects(node, username, address):
            conn.execute(insert(console_login_failures).values(subject=subject, at=now))


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


@dataclass(frozen=True)
class Attempt:
    """A log-in counted against the brake, with what its password is to be checked against."""

    username: str
    claimed: tuple[int, ...]
    password_hash: str | None  # None: no such (live) operator


def require_credentials(username: str, password: str) -> None:
    if not username or not password:
        raise UsageError(T("enter your user name and password"))


def begin_log_in(node: Node, username: str, address: str) -> Attempt:
    """Count the attempt (raising TooManyAttempts past the limit), then fetch the hash."""
    claimed = claim_attempt(node, username, address)
    return Attempt(username, claimed, password_hash_of(node, username))


def finish_log_in(node: Node, attempt: Attempt, right: bool) -> tuple[str, Session, Operator]:
    """Open a session (stage ``totp`` if a second factor is owed) after a right password."""
    if not right:
        raise AuthError(T("wrong user name or password"))
    forgive(node, attempt.claimed)
    op = get_operator(node, attempt.username)
    token, session = _new_session(node, op.username, "totp" if op.has_totp else "full")
    return token, session, op


def do_log_in(node: Node, username: str, password: str, address: str) -> tuple[str, Session, Operator]:
    """Check the password and open a session, all in this thread (the CLI and tests; the
    console goes through :class:`parley.console.login_gate.LoginGate` instead)."""
    require_credentials(username, password)
    attempt = begin_log_in(node, username, address)
    return finish_log_in(node, attempt, password_matches(attempt.password_hash, password))


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
        raise AuthError(T("your log-in has expired"), hint=T("log in again with your password"))
    claimed = claim_attempt(node, session.username, address)
    code = code.strip().replace(" ", "")
    with node.reader.connect() as conn:
        stored = conn.execute(
            select(operators.c.totp_secret).where(operators.c.username == session.username)
        ).scalar_one_or_none()
        last = conn.execute(
            select(console_totp_steps.c.last_step).where(console_totp_steps.c.username == session.username)
        ).scalar_one_or_none()
    secret = _secret_of(node, session.username, stored) if stored else None
    step = _matching_step(secret, code, node.clock.now()) if secret else None
    if step is None or (last is not None and step <= last):
        raise AuthError(
            T("wrong or already used code"), hint=T("enter the current code from your authenticator app")
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
        conn.execute(delete(console_login_failures).where(console_login_failures.c.id.in_(claimed)))
    return _new_session(node, session.username, "full")


def _secret_of(node: Node, username: str, stored: str) -> str:
    """The Base32 secret; one stored in plain text by an older Parley is sealed now."""
    secret = totp_secrets.open_secret(node.home, username, stored)
    if not totp_secrets.is_sealed(stored):
        sealed = totp_secrets.seal(node.home, username, secret)
        with node.engine.begin() as conn:
            conn.execute(
                update(operators)
                .where(operators.c.username == username, operators.c.totp_secret == stored)
                .values(totp_secret=sealed)
            )
    return secret


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
    sealed = totp_secrets.seal(node.home, username, secret)
    with node.engine.begin() as conn:
        conn.execute(update(operators).where(operators.c.username == username).values(totp_secret=sealed))
        conn.execute(delete(console_totp_steps).where(console_totp_steps.c.username == username))
    uri: str = pyotp.TOTP(secret).provisioning_uri(name=f"{username}@{node.name}", issuer_name=TOTP_ISSUER)
    return uri


def do_remove_totp(node: Node, username: str) -> None:
    get_operator(node, username)
    with node.engine.begin() as conn:
        conn.execute(update(operators).where(operators.c.username == username).values(totp_secret=None))
        conn.execute(delete(console_totp_steps).where(console_totp_steps.c.username == username))
