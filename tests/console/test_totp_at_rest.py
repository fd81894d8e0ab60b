"""TOTP secrets are sealed at rest with the node's ``console.key`` (issue 14, item 8).

On SQLite and PostgreSQL: after enrolment the database holds no Base32 secret; log-in with
the code still works; the same database opened from a home without ``console.key`` cannot
reveal the secret; a secret left in plain text by an older Parley is sealed on first use.
"""

from __future__ import annotations

import re
import stat
from datetime import UTC, datetime
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import Engine, insert, select, update

from parley.clock import ManualClock
from parley.config import Config
from parley.console import sessions, totp_secrets
from parley.directory.operators import do_add_operator
from parley.errors import ParleyError
from parley.node import Node
from parley.protocol.keys import SigningKeyPair
from parley.storage.tables import desks, operators

PASSWORD = "correct horse battery"
ADDRESS = "127.0.0.1"


def _node(engine: Engine, home: Path) -> Node:
    home.mkdir(exist_ok=True)
    clock = ManualClock(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    n = Node(home, Config(), SigningKeyPair.generate(), engine, clock)
    n.config.node.name = "node-a"
    return n


@pytest.fixture
def node(db_engine: Engine, tmp_path: Path) -> Node:
    n = _node(db_engine, tmp_path / "home")
    with db_engine.begin() as conn:
        conn.execute(insert(desks).values(name="duty", title="", created_at=n.clock.now()))
    do_add_operator(n, "alice", "duty", "duty", PASSWORD)
    do_add_operator(n, "bob", "duty", "duty", PASSWORD)
    return n


def _stored(node: Node, username: str) -> str:
    with node.engine.connect() as conn:
        value = conn.execute(
            select(operators.c.totp_secret).where(operators.c.username == username)
        ).scalar_one()
    assert isinstance(value, str)
    return value


def _log_in_with_code(node: Node, secret: str) -> None:
    token, half, _ = sessions.do_log_in(node, "alice", PASSWORD, ADDRESS)
    assert half.stage == "totp"
    _, full = sessions.do_second_factor(node, token, pyotp.TOTP(secret).at(node.clock.now()), ADDRESS)
    assert full.complete


def test_enrolment_stores_no_secret_and_the_code_still_works(node: Node) -> None:
    uri = sessions.do_enrol_totp(node, "alice")
    secret = re.search(r"secret=([A-Z2-7]+)", uri)
    assert secret
    stored = _stored(node, "alice")
    assert secret.group(1) not in stored
    assert not re.fullmatch(r"[A-Z2-7]+=*", stored)
    assert len(stored) <= 64  # fits the column on PostgreSQL
    key = node.home / totp_secrets.KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    _log_in_with_code(node, secret.group(1))


def test_a_copied_database_without_the_key_cannot_reveal_the_secret(
    node: Node, db_engine: Engine, tmp_path: Path
) -> None:
    uri = sessions.do_enrol_totp(node, "alice")
    secret = re.search(r"secret=([A-Z2-7]+)", uri)
    assert secret
    thief = _node(db_engine, tmp_path / "elsewhere")  # same database, no console.key
    with pytest.raises(ParleyError, match=r"console\.key is missing") as refused:
        totp_secrets.open_secret(thief.home, "alice", _stored(node, "alice"))
    assert "re-enrol" in refused.value.hint
    token, _, _ = sessions.do_log_in(thief, "alice", PASSWORD, ADDRESS)
    with pytest.raises(ParleyError, match=r"console\.key"):
        sessions.do_second_factor(thief, token, pyotp.TOTP(secret.group(1)).now(), ADDRESS)
    assert not (thief.home / totp_secrets.KEY_FILE).exists()  # no new key that could never open it


def test_a_sealed_secret_is_bound_to_its_user(node: Node) -> None:
    sessions.do_enrol_totp(node, "alice")
    alices = _stored(node, "alice")
    with node.engine.begin() as conn:
        conn.execute(update(operators).where(operators.c.username == "bob").values(totp_secret=alices))
    with pytest.raises(ParleyError, match="does not open"):
        totp_secrets.open_secret(node.home, "bob", _stored(node, "bob"))


def test_a_plain_secret_from_before_is_sealed_on_first_use(node: Node) -> None:
    secret = pyotp.random_base32()
    with node.engine.begin() as conn:
        conn.execute(update(operators).where(operators.c.username == "alice").values(totp_secret=secret))
    _log_in_with_code(node, secret)
    stored = _stored(node, "alice")
    assert stored.startswith(totp_secrets.PREFIX)
    assert secret not in stored
    assert totp_secrets.open_secret(node.home, "alice", stored) == secret


def test_a_key_readable_by_others_is_refused(node: Node) -> None:
    sessions.do_enrol_totp(node, "alice")
    key = node.home / totp_secrets.KEY_FILE
    key.chmod(0o644)
    with pytest.raises(ParleyError, match="can be read by other users") as refused:
        totp_secrets.open_secret(node.home, "alice", _stored(node, "alice"))
    assert refused.value.hint == f"chmod 600 {key}"
