"""The log-in brake under concurrent guesses (issue 14, item 5), on SQLite and PostgreSQL.

A burst of 16 concurrent wrong log-ins for one user must get exactly 5 passwords checked
(the documented limit); the other 11 are refused before any hashing. The rows of the brake
are what is counted: one per checked attempt and subject.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, insert, select

from parley.clock import ManualClock
from parley.config import Config
from parley.console import sessions
from parley.directory.operators import do_add_operator
from parley.directory.session_tables import console_login_failures
from parley.errors import AuthError
from parley.node import Node
from parley.protocol.keys import SigningKeyPair
from parley.storage.tables import desks

PASSWORD = "correct horse battery"
ADDRESS = "192.0.2.7"
BURST = 16


@pytest.fixture
def node(db_engine: Engine, tmp_path: Path) -> Node:
    clock = ManualClock(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    n = Node(tmp_path, Config(), SigningKeyPair.generate(), db_engine, clock)
    n.config.node.name = "node-a"
    with db_engine.begin() as conn:
        conn.execute(insert(desks).values(name="duty", title="", created_at=clock.now()))
    do_add_operator(n, "alice", "duty", "duty", PASSWORD)
    return n


def _rows(node: Node, subject: str) -> int:
    with node.engine.connect() as conn:
        return int(
            conn.execute(select(func.count()).where(console_login_failures.c.subject == subject)).scalar_one()
        )


def test_a_burst_of_16_wrong_log_ins_gets_exactly_5_checked(node: Node) -> None:
    start = threading.Barrier(BURST, timeout=30)
    outcomes: list[str] = []
    lock = threading.Lock()

    def guess(i: int) -> None:
        start.wait()
        try:
            sessions.do_log_in(node, "alice", f"wrong guess {i}", ADDRESS)
            outcome = "logged in"
        except sessions.TooManyAttempts:
            outcome = "refused"
        except AuthError:
            outcome = "checked"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(BURST)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert sorted(outcomes).count("checked") == 5, outcomes
    assert outcomes.count("refused") == BURST - 5, outcomes
    assert _rows(node, "user:alice") == 5
    assert _rows(node, f"addr:{ADDRESS}") == 5  # refused attempts were not counted again


def test_a_right_password_takes_back_only_its_own_attempt(node: Node) -> None:
    for _ in range(4):
        with pytest.raises(AuthError, match="wrong user name or password"):
            sessions.do_log_in(node, "alice", "wrong password", ADDRESS)
    sessions.do_log_in(node, "alice", PASSWORD, ADDRESS)
    assert _rows(node, "user:alice") == 4  # the earlier failures still count
    with pytest.raises(AuthError, match="wrong user name or password"):
        sessions.do_log_in(node, "alice", "wrong password", ADDRESS)
    with pytest.raises(sessions.TooManyAttempts):
        sessions.do_log_in(node, "alice", PASSWORD, ADDRESS)


def test_the_limits_come_from_the_config(node: Node) -> None:
    node.config.console.login_failures_per_user = 2
    for _ in range(2):
        with pytest.raises(AuthError, match="wrong"):
            sessions.do_log_in(node, "alice", "wrong password", ADDRESS)
    with pytest.raises(sessions.TooManyAttempts, match="user alice"):
        sessions.do_log_in(node, "alice", PASSWORD, ADDRESS)
