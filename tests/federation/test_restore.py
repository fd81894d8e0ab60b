"""Restore without forks (issue 15, item 2): real nodes over HTTPS, on SQLite and PostgreSQL.

A backup is taken while node-a serves, node-a then sends ``AFTER_BACKUP`` more messages that
node-b receipts, node-a is stopped and restored from the backup and started again: it takes
its own envelopes back from node-b before it signs anything (docs/protocol.md §11.10), so
its next messages continue the chain and node-b accepts them; nothing is lost, node-b
witnesses node-a's restarted record after its signed restart notice (a warning, no security
alarm), and ``parley verify`` passes on both.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.federation.test_exactly_once import db_urls, stored, wait_drained
from tests.harness.nodes import NodeProcess, make_pair
from tests.watch.test_link_truth_e2e import _cosigned_current, _wait_for

pytestmark = pytest.mark.e2e

AFTER_BACKUP = 500  # messages sent after the backup (the figure issue 15 asks for)


def post_many(node: NodeProcess, count: int, prefix: str) -> None:
    with node.client() as c:
        for i in range(count):
            r = c.post(
                "/api/v1/messages",
                json={
                    "channel": "test-line",
                    "type": "general",
                    "body": {"text": f"{prefix} {i}", "lang": "en"},
                },
            )
            assert r.status_code == 201, r.text


def wait_ready(node: NodeProcess, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    body = None
    while time.monotonic() < deadline:
        with node.client() as c:
            r = c.get("/readyz")
        if r.status_code == 200:
            return
        body = r.json()
        time.sleep(0.2)
    raise AssertionError(f"{node.name} not ready after {timeout}s: {body}")


@pytest.mark.timeout(900)
def test_restore_recovers_own_chain_from_peer(
    tmp_path: Path, engine_kind: str, request: pytest.FixtureRequest
) -> None:
    factory = request.getfixturevalue("pg_factory") if engine_kind == "postgresql" else None
    a, b = make_pair(tmp_path, db_urls=db_urls(engine_kind, factory))
    archive = tmp_path / "node-a.backup"
    a.start()
    b.start()
    try:
        post_many(a, 5, "before")
        wait_drained(a, b)
        a.cli("backup", "--out", str(archive))  # online, while node-a serves
        post_many(a, AFTER_BACKUP, "after")
        wait_drained(a, b)
        before_restore = stored(b, "node-a")
        assert len(before_restore) == 5 + AFTER_BACKUP
        # node-b has witnessed node-a's log past the backup: the restore rolls that back.
        witnessed = _wait_for("node-b cosigned node-a's log", lambda: _cosigned_current(a, "node-b"), 60)
        assert witnessed["log_size"] > 5 + AFTER_BACKUP
        a.stop()

        # The node's database holds a record: a restore over it needs --force.
        refused = a.cli("restore", str(archive), check=False)
        assert refused.returncode != 0
        assert "--force" in refused.stderr
        a.cli("restore", str(archive), "--force")
        assert len(stored(a, "node-a")) == 5  # the backup's state
        st = a.cli_json("status")
        assert st["recovery"]["recovering"] is True
        # Until it has recovered, the node signs nothing, from the command line either.
        held = a.cli("send", "--channel", "test-line", "--desk", "duty", "--text", "x", check=False)
        assert held.returncode != 0
        assert "recovering" in held.stderr, held.stderr

        a.start()
        wait_ready(a)
        assert stored(a, "node-a") == before_restore  # every envelope back, same ids and seqs
        assert a.cli_json("status")["recovery"] is None

        post_many(a, 3, "later")
        wait_drained(a, b)
        after = stored(b, "node-a")
        assert len(after) == 5 + AFTER_BACKUP + 3
        assert [seq for _, seq in after] == list(range(1, len(after) + 1))
        assert stored(a, "node-a") == after
        st_a = a.cli_json("status")
        assert all(not p["last_error"] for p in st_a["peers"]), st_a["peers"]
        codes = {x["kind"] for x in st_a["alarms"]}
        assert "recovery_unheld" in codes, st_a["alarms"]
        assert "recovery_refused" not in codes, st_a["alarms"]
        # node-b witnesses node-a's new log: the restart notice holds, so a warning, not a
        # security alarm, and node-b cosigns node-a's log at its current size.
        rec_a = _wait_for("node-b cosigned node-a's restored log", lambda: _cosigned_current(a, "node-b"), 60)
        kinds_b = {x["kind"]: x["severity"] for x in b.cli_json("status")["alarms"]}
        assert kinds_b.get("record_restarted") == "warning", kinds_b
        assert not [k for k, sev in kinds_b.items() if sev == "security"], kinds_b
        assert rec_a["log_size"] > 5
        for n in (a, b):
            out = n.cli("verify")
            assert "record intact" in out.stdout, out.stdout + out.stderr
    finally:
        a.stop()
        b.stop()
