"""Console sessions, the log-in brake and the TOTP second factor, on a clock the test moves.

Runs on SQLite and PostgreSQL (the ``db_engine`` fixture), with a ``ManualClock``: session
expiry, the brake's sliding window and TOTP time steps are all about time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import Engine, insert, select

from parley.clock import ManualClock
from parley.config import Config
from parley.console import sessions
from parley.console.app import _safe_next, script_json
from parley.directory.operators import do_add_operator
from parley.directory.session_tables import console_sessions
from parley.errors import AuthError, NotFoundError, UsageError
from parley.node import Node
from parley.protocol.keys import SigningKeyPair
from parley.storage.tables import desks

PASSWORD = "correct horse battery"
ADDRESS = "127.0.0.1"


@pytest.fixture
def node(db_engine: Engine, tmp_path: Path) -> Node:
    clock = ManualClock(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    n = Node(tmp_path, Config(), SigningKeyPair.generate(), db_engine, clock)
    n.config.node.name = "node-a"
    with db_engine.begin() as conn:
        conn.execute(insert(desks).values(name="duty", title="", created_at=clock.now()))
    do_add_operator(n, "alice", "duty", "duty", PASSWORD)
    return n


def clock_of(node: Node) -> ManualClock:
    assert isinstance(node.clock, ManualClock)
    return node.clock


def test_a_session_lives_for_the_configured_hours_and_ends_at_logout(node: Node) -> None:
    token, session, op = sessions.do_log_in(node, "alice", PASSWORD, ADDRESS)
    assert op.username == "alice"
    assert session.complete
    assert len(token) >= 40
    with node.engine.connect() as conn:
        stored = conn.execute(select(console_sessions.c.token_hash)).scalars().all()
    assert token not in stored  # only the hash is kept
    loaded = sessions.load_session(node, token)
    assert loaded is not None
    assert loaded.csrf == session.csrf
    clock_of(node).advance(11.9 * 3600)
    assert sessions.load_session(node, token) is not None
    clock_of(node).advance(0.2 * 3600)
    assert sessions.load_session(node, token) is None  # past session_hours (12)
    token2, _, _ = sessions.do_log_in(node, "alice", PASSWORD, ADDRESS)
    sessions.do_log_out(node, token2)
    assert sessions.load_session(node, token2) is None
    assert sessions.load_session(node, "no such token") is None


def test_the_brake_refuses_after_five_failures_until_the_window_moves_on(node: Node) -> None:
    for _ in range(5):
        with pytest.raises(AuthError, match="wrong user name or password"):
            sessions.do_log_in(node, "alice", "wrong password", ADDRESS)
        clock_of(node).advance(60)
    with pytest.raises(sessions.TooManyAttempts) as refused:
        sessions.do_log_in(node, "alice", PASSWORD, ADDRESS)
    assert refused.value.http_status == 429
    assert "wait 11 min" in refused.value.hint  # the first failure leaves the window in 11 min
    clock_of(node).advance(11 * 60)
    sessions.do_log_in(node, "alice", PASSWORD, ADDRESS)  # the oldest failure has aged out


def test_the_brake_also_counts_by_address(node: Node) -> None:
    with pytest.raises(AuthError):
        sessions.do_log_in(node, "nobody", "guess", "10.0.0.9")
    for i in range(19):  # as do_log_in records them, without 19 more Argon2 hashes
        sessions.record_failure(node, f"nobody{i}", "10.0.0.9")
    with pytest.raises(sessions.TooManyAttempts, match=r"from address 10\.0\.0\.9"):
        sessions.do_log_in(node, "alice", PASSWORD, "10.0.0.9")
    sessions.do_log_in(node, "alice", PASSWORD, ADDRESS)  # another address is not braked


def test_empty_credentials_are_a_usage_error(node: Node) -> None:
    with pytest.raises(UsageError, match="enter your user name and password"):
        sessions.do_log_in(node, "", "", ADDRESS)


def test_totp_promotes_a_half_session_once_per_code(node: Node) -> None:
    uri = sessions.do_enrol_totp(node, "alice")
    assert uri.startswith("otpauth://totp/Parley:alice%40node-a?secret=")
    totp = pyotp.TOTP(uri.split("secret=")[1].split("&")[0])
    token, session, op = sessions.do_log_in(node, "alice", PASSWORD, ADDRESS)
    assert op.has_totp
    assert session.stage == "totp"
    now = clock_of(node).now()
    with pytest.raises(AuthError, match="wrong or already used code"):
        sessions.do_second_factor(node, token, "123", ADDRESS)
    # One step of clock drift is allowed either way; two are not.
    with pytest.raises(AuthError):
        sessions.do_second_factor(node, token, totp.at(now, counter_offset=-2), ADDRESS)
    full_token, full = sessions.do_second_factor(node, token, totp.at(now, counter_offset=-1), ADDRESS)
    assert full.complete
    assert full_token != token
    assert sessions.load_session(node, token) is None  # the half-session is gone
    # The same time step cannot be used again, even in a fresh log-in.
    token, _, _ = sessions.do_log_in(node, "alice", PASSWORD, ADDRESS)
    with pytest.raises(AuthError):
        sessions.do_second_factor(node, token, totp.at(now, counter_offset=-1), ADDRESS)
    sessions.do_second_factor(node, token, totp.at(now), ADDRESS)


def test_the_half_session_expires_after_five_minutes(node: Node) -> None:
    uri = sessions.do_enrol_totp(node, "alice")
    totp = pyotp.TOTP(uri.split("secret=")[1].split("&")[0])
    token, _, _ = sessions.do_log_in(node, "alice", PASSWORD, ADDRESS)
    clock_of(node).advance(301)
    with pytest.raises(AuthError, match="expired"):
        sessions.do_second_factor(node, token, totp.at(clock_of(node).now()), ADDRESS)


def test_removing_totp_and_unknown_operators(node: Node) -> None:
    sessions.do_enrol_totp(node, "alice")
    sessions.do_remove_totp(node, "alice")
    _, session, _ = sessions.do_log_in(node, "alice", PASSWORD, ADDRESS)
    assert session.complete
    with pytest.raises(NotFoundError):
        sessions.do_enrol_totp(node, "mallory")


def test_next_links_stay_inside_the_console() -> None:
    assert _safe_next("/console/inbox?box=out") == "/console/inbox?box=out"
    for hostile in ("https://evil.example/", "//evil.example/console/", "/api/v1/status", None, ""):
        assert _safe_next(hostile) == "/console/"


def test_json_for_a_script_block_cannot_close_it() -> None:
    text = str(script_json({"title": "</script><script>alert(1)</script> & more"}))
    assert "<" not in text
    assert ">" not in text
    assert "&" not in text
