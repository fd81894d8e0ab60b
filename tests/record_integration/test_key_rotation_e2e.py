"""Key rotation and revocation between two real nodes over HTTPS (docs/protocol.md §13).

Both nodes are made the old way (one key each), then given root keys while stopped: each
queues its upgraded card, which the peer takes over the link because the key it pinned
signed it. MESSAGES_EACH_WAY messages go each way, node-a's operational key is rotated in
the middle (the node stopped for the change, as the runbook says), and the rest follow on
the new key. Every message, old and new, then verifies on both nodes and in an offline
transcript, checked with node-a's card from before the rotation. Finally node-a revokes its
old key; an envelope signed with it after the revocation is refused by node-b with
``key_revoked`` and a security alarm, while everything signed before still verifies.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from parley.clock import format_time
from parley.devnet.nodes import PARLEY
from parley.directory.key_tables import key_records, key_roots
from parley.federation.auth import sign_request
from parley.node import Node
from parley.protocol.envelope import build_envelope
from parley.protocol.keys import SigningKeyPair
from parley.protocol.tls import pinned_client_context
from tests.harness.nodes import NodeProcess, make_pair
from tests.record_integration.test_two_nodes import drained, engine_of, fully_cosigned, wait_for

pytestmark = pytest.mark.e2e
CHANNEL = "test-line"
# The issue asks for 1,000 each way; each message is its own API call and delivery on a
# shared two-core machine, so the suite uses 200 (the code path is the same at any count);
# PARLEY_E2E_KEY_MESSAGES=1000 runs the full figure.
MESSAGES_EACH_WAY = int(os.environ.get("PARLEY_E2E_KEY_MESSAGES", "200"))


def count(node: NodeProcess, table: Any, peer: str) -> int:
    engine = engine_of(node)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(select(func.count()).select_from(table).where(table.c.node == peer)).scalar_one()
            )
    finally:
        engine.dispose()


def history(node: NodeProcess) -> dict[str, Any]:
    data: dict[str, Any] = node.cli_json("key", "history")
    return data


def offline(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PARLEY_HOME"}
    return subprocess.run([*PARLEY, *args], capture_output=True, text=True, timeout=300, env=env)


def send_many(a: NodeProcess, b: NodeProcess, start: int, end: int) -> None:
    for i in range(start, end):
        a.send(CHANNEL, f"from a {i}")
        b.send(CHANNEL, f"from b {i}")


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeProcess, NodeProcess, Path]]:
    base = tmp_path_factory.mktemp("keys")
    a, b = make_pair(base, interval=1, tick=0.2)
    roots = base / "offline"
    roots.mkdir()
    for n in (a, b):
        # The migration: made before roots, certified now; the upgraded card is queued.
        n.cli_here("key", "root", "init", "--out", str(roots / f"{n.name}.root"))
        n.cli_here("key", "certify", "--root", str(roots / f"{n.name}.root"))
        n.cli_here("identity", "--out", str(base / f"{n.name}.card-v2.json"))
    a.start()
    b.start()
    try:
        yield a, b, base
    finally:
        a.stop()
        b.stop()


def test_rotation_in_the_middle_and_revocation(pair: tuple[NodeProcess, NodeProcess, Path]) -> None:
    a, b, base = pair
    root_a = base / "offline" / "node-a.root"
    wait_for(
        "upgraded cards over the link",
        lambda: count(b, key_roots, "node-a") == 1 and count(a, key_roots, "node-b") == 1,
    )
    half = MESSAGES_EACH_WAY // 2
    send_many(a, b, 0, half)
    wait_for("delivery before the rotation", lambda: drained(a, b), timeout=300)

    # The rotation, node-a stopped for the change; its old key kept by the test only.
    old_key = SigningKeyPair.load(a.home / "identity.key")
    a.stop()
    a.cli("key", "rotate", "--root", str(root_a))
    a.start()
    keys = history(a)["keys"]
    assert [k["current"] for k in keys] == [False, True]
    old_id, new_id = keys[0]["key_id"], keys[1]["key_id"]
    assert old_id == old_key.public.key_id

    send_many(a, b, half, MESSAGES_EACH_WAY)
    wait_for("delivery after the rotation", lambda: drained(a, b), timeout=300)
    assert count(b, key_records, "node-a") == 1
    peers = {p["name"]: p for p in b.cli_json("peer", "list")}
    assert peers["node-a"]["key_id"] == new_id
    # No alarm for a rotation.
    for n in (a, b):
        assert [x for x in n.cli_json("status")["alarms"] if x["severity"] == "security"] == []
        assert "record intact" in n.cli("verify").stdout

    # Offline: a transcript from each side, checked with node-a's card from before the rotation.
    wait_for("cosigned checkpoints", lambda: fully_cosigned(a, "node-b") and fully_cosigned(b, "node-a"))
    cards = ["--key", str(base / "node-a.card-v2.json"), "--key", str(base / "node-b.card-v2.json")]
    for n in (a, b):
        out = base / f"transcript-{n.name}.json"
        n.cli("transcript", "export", "--channel", CHANNEL, "--out", str(out))
        data = json.loads(out.read_text())
        assert set(data["key_history"]) == {"node-a", "node-b"}
        signers = {e["data"]["key_id"] for e in data["entries"] if e["kind"] == "envelope"}
        assert {old_id, new_id} <= signers
        checked = offline("verify", "--transcript", str(out), *cards)
        assert checked.returncode == 0, checked.stderr
        # Without the history, the new key is unknown to the old card: node-a's checkpoint
        # (signed by the new key) or, in node-b's log, node-a's first new-key envelope.
        del data["key_history"]
        bare = base / f"bare-{n.name}.json"
        bare.write_text(json.dumps(data))
        refused = offline("verify", "--transcript", str(bare), *cards)
        assert refused.returncode == 1
        expected = "3 checkpoint: the checkpoint: note is not signed" if n is a else f"key id {new_id} is not"
        assert expected in refused.stderr, refused.stderr

    # Revocation of the old key, from now on; it reaches node-b over the link.
    effective = format_time(Node.open(a.home).clock.now())
    a.cli("key", "revoke", old_id, "--effective", effective, "--reason", "test", "--root", str(root_a))
    wait_for("revocation over the link", lambda: count(b, key_records, "node-a") == 2)

    # An envelope signed with the revoked key, after the revocation, in a valid request.
    node_a = Node.open(a.home)
    try:
        env = build_envelope(
            key=old_key,
            channel=CHANNEL,
            sender_node="node-a",
            sender_desk="duty",
            seq=MESSAGES_EACH_WAY + 1,
            prev="sha256:" + "0" * 64,
            created=node_a.clock.now() + timedelta(seconds=1),
            type="general",
            type_version=1,
            precedence="ROUTINE",
            status="ACTUAL",
            body={"text": "forged", "lang": "en"},
        )
        body = json.dumps({"envelopes": [env.to_wire()]}).encode()
        path = "/federation/v1/envelopes"
        headers = sign_request(node_a, "POST", path, "node-b", body)
    finally:
        node_a.close()
    with httpx.Client(base_url=b.url, verify=pinned_client_context(b.cert()), timeout=30) as c:
        answer = c.post(path, content=body, headers={**headers, "content-type": "application/json"})
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"] == "key_revoked"
    alarms = [x for x in b.cli_json("status")["alarms"] if x["severity"] == "security"]
    assert [x["kind"] for x in alarms] == ["key_revoked_use"], alarms
    # What the old key signed before the revocation still verifies, on both nodes.
    for n in (a, b):
        n.cli("verify")
