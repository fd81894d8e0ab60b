"""Two real node processes: after messages went through, ``parley status`` shows the link
UP and each side's checkpoint cosigned by the other at its current size; on a stopped or
killed node it says the node is not running (docs/watch.md §Link and record state).

Before these fixes the link stayed as the last hourly link test left it (here: DOWN, as
a node finds a peer that is still starting), and checkpoints were cosigned only at that
test, so the peer's cosignature stayed at the size of the log before the traffic.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from parley.federation.linktest import DOWN
from parley.node import Node
from parley.storage.tables import alarms, link_state
from tests.harness.nodes import NodeProcess, make_pair

pytestmark = pytest.mark.e2e


def _seed_down(node: NodeProcess, peer: str) -> None:
    """What three failed link tests leave behind, with the next test an hour away: so only
    traffic can change the state within this test."""
    n = Node.open(node.home)
    try:
        now = n.clock.now()
        with n.engine.begin() as conn:
            conn.execute(
                insert(link_state).values(
                    channel="test-line",
                    peer=peer,
                    state=DOWN,
                    since=now,
                    last_rtt_ms=3.0,
                    consecutive_failures=3,
                    next_test_at=now + timedelta(hours=1),
                )
            )
            conn.execute(
                insert(alarms).values(
                    kind="link_down",
                    subject=f"test-line/{peer}",
                    severity="critical",
                    message=f"link to {peer} on test-line is DOWN: connection refused",
                    raised_at=now,
                )
            )
    finally:
        n.close()


def _status(node: NodeProcess) -> Any:
    with node.client() as c:
        return c.get("/api/v1/status").json()


def _wait_for(what: str, check: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g}s: {what}")
        time.sleep(0.2)


def _cosigned_current(node: NodeProcess, peer: str) -> Any:
    rec = _status(node)["record"]
    mine = [c for c in rec["cosignatures"] if c["peer"] == peer]
    return mine and mine[0]["behind"] == 0 and mine[0]["log_size"] > 0 and rec


@pytest.mark.timeout(300)  # every wait inside is bounded; node starts are slow under load
def test_after_traffic_links_are_up_and_checkpoints_cosigned_at_current_size(tmp_path: Path) -> None:
    a, b = make_pair(tmp_path, tick=0.2)
    _seed_down(a, "node-b")
    a.start()
    b.start()
    try:
        assert _status(a)["links_not_up"] == [{"channel": "test-line", "peer": "node-b", "link": DOWN}]
        for i in range(3):
            with a.client() as c:
                r = c.post(
                    "/api/v1/messages?wait=receipt&timeout=20",
                    json={"channel": "test-line", "type": "general", "body": {"text": f"m{i}", "lang": "en"}},
                )
            assert r.status_code == 201, r.text
        b.send("test-line", "reply")

        # A delivery answered with receipts is evidence: UP at once, not at the next test.
        _wait_for("node-a sees the link UP", lambda: _status(a)["links_not_up"] == [], timeout=5)
        st = _status(a)
        assert [c["link"] for c in st["channels"]] == ["UP"]
        assert not [x for x in st["alarms"] if x["kind"] == "link_down"], "the DOWN alarm cleared"

        # Each side's log grew by the traffic; each gets it cosigned by the other, debounced.
        rec_a = _wait_for("node-b cosigned node-a's log at its size", lambda: _cosigned_current(a, "node-b"))
        rec_b = _wait_for("node-a cosigned node-b's log at its size", lambda: _cosigned_current(b, "node-a"))
        assert rec_a["log_size"] >= 8
        assert rec_b["log_size"] >= 8
        assert rec_a["cosigned_by"]["node-b"] == rec_a["log_size"]
        assert rec_b["witnessing"]["node-a"]["size"] == rec_a["log_size"]

        text = a.cli("status").stdout
        assert f"cosigned by node-b at size {rec_a['log_size']} of {rec_a['log_size']}: up to date" in text
        assert "Every tested link is UP." in text
        assert "node-a is running at https://" in text
        assert a.proc is not None
        assert a.cli_json("status")["serving"]["pid"] == a.proc.pid

        # Stopped cleanly: not running, and the stored state is still shown.
        b.stop()
        st_b = b.cli_json("status")
        assert st_b["serving"] == {**st_b["serving"], "running": False, "crashed": False}
        text_b = b.cli("status").stdout
        assert "node-b is NOT RUNNING: no `parley serve` is running for this home." in text_b
        assert "channel test-line" in text_b

        # Killed: not running, and it says the last serve did not stop cleanly.
        a.kill()
        st_a = a.cli_json("status")
        assert (st_a["serving"]["running"], st_a["serving"]["crashed"]) == (False, True)
        text_a = a.cli("status", "--lang", "nb").stdout
        assert "node-a KJØRER IKKE" in text_a
        assert "krasjet" in text_a
    finally:
        a.stop()
        b.stop()
