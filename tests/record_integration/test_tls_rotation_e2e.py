"""TLS certificate rotation between two real nodes over HTTPS, while messages flow both ways
(docs/protocol.md §13.7, docs/operations.md "TLS certificate rotation").

node-a runs ``parley tls rotate`` while serving and while both nodes keep sending. node-b
takes the signed update over the link and pins both certificates; node-a then loads the new
certificate into its live server context (no restart: its process id does not change),
node-b is told to drop the old pin, and every message sent before, during and after is
receipted. A keep-alive connection opened on the old certificate keeps working across the
switch, while a new connection that trusts only the old certificate is refused. Finally a
forged update (signed by a key node-b never pinned) is refused with a clear error and a
security alarm.
"""

from __future__ import annotations

import hashlib
import json
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from parley.federation.auth import sign_request
from parley.node import Node
from parley.protocol import signing
from parley.protocol.keys import SigningKeyPair
from parley.protocol.tls import pinned_client_context
from parley.storage.tables import envelopes
from tests.harness.nodes import NodeProcess, make_pair
from tests.record_integration.test_two_nodes import drained, engine_of, wait_for

pytestmark = pytest.mark.e2e
CHANNEL = "test-line"
MAX_PAIRS = 150  # messages each way at most while the rotation runs (bounded)
AFTER = 10  # and this many more each way once it has finished


def served_fingerprint(node: NodeProcess) -> str:
    """The SHA-256 fingerprint of the certificate a new handshake with ``node`` gets."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", node.port), timeout=10) as raw,
        ctx.wrap_socket(raw) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return "sha256:" + hashlib.sha256(der).hexdigest()


def rotation(node: NodeProcess) -> dict[str, Any]:
    from parley.directory.tls_rotation import rotation_status

    opened = Node.open(node.home)
    try:
        return rotation_status(opened).to_json()
    finally:
        opened.close()


def announced_pem(node: NodeProcess) -> str:
    from parley.directory.tls_rotation import latest_own_update

    opened = Node.open(node.home)
    try:
        with opened.reader.connect() as conn:
            latest = latest_own_update(conn, opened)
    finally:
        opened.close()
    assert latest is not None
    return latest.card.tls_cert


def received_from(node: NodeProcess, sender: str) -> int:
    engine = engine_of(node)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(envelopes).where(envelopes.c.sender_node == sender)
                ).scalar_one()
            )
    finally:
        engine.dispose()


def api(node: NodeProcess, pem: str) -> httpx.Client:
    return httpx.Client(
        base_url=node.url,
        verify=pinned_client_context(pem),
        headers={"authorization": f"Bearer {node.token}"},
        timeout=30,
    )


def send(client: httpx.Client, text: str) -> None:
    r = client.post(
        "/api/v1/messages", json={"channel": CHANNEL, "type": "general", "body": {"text": text, "lang": "en"}}
    )
    assert r.status_code == 201, r.text


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeProcess, NodeProcess, Path]]:
    base = tmp_path_factory.mktemp("tls")
    a, b = make_pair(base, interval=1, tick=0.2)
    a.start()
    b.start()
    try:
        yield a, b, base
    finally:
        a.stop()
        b.stop()


def test_tls_rotation_while_messages_flow(pair: tuple[NodeProcess, NodeProcess, Path]) -> None:
    a, b, _ = pair
    old_pem = a.cert()
    old_fp = served_fingerprint(a)
    assert a.proc is not None
    pid = a.proc.pid
    sent = 0
    # The operator clients trust both certificates (an operator's own pin would follow the
    # runbook); `keeper` trusts only the old one and keeps its connection alive throughout.
    keeper = api(a, old_pem)
    to_b = b.client()
    try:
        for i in range(10):
            send(keeper, f"a before {i}")
            send(to_b, f"b before {i}")
            sent += 1
        assert keeper.get("/healthz").status_code == 200
        a.cli_here("tls", "rotate")  # in process: no interpreter start while the connection idles
        assert keeper.get("/healthz").status_code == 200
        new_pem = announced_pem(a)  # the file may already be switched: read the update
        to_a = api(a, old_pem + new_pem)
        try:
            done = False
            started = time.monotonic()
            for i in range(MAX_PAIRS):
                send(to_a, f"a during {i}")
                send(to_b, f"b during {i}")
                sent += 1
                # The connection made on the old certificate still answers after the switch.
                assert keeper.get("/healthz").status_code == 200
                if i % 5 == 4 and rotation(a)["phase"] == "done":
                    done = True
                    break
                assert time.monotonic() - started < 240, "rotation did not finish in 240 s"
            assert done, f"rotation not finished after {MAX_PAIRS} messages each way: {rotation(a)}"
            assert served_fingerprint(a) != old_fp
            for i in range(AFTER):
                send(to_a, f"a after {i}")
                send(to_b, f"b after {i}")
                sent += 1
                # Switched: a new connection trusting only the old certificate would fail,
                # so this one is still the connection opened before the switch.
                assert keeper.get("/healthz").status_code == 200
        finally:
            to_a.close()
    finally:
        keeper.close()
        to_b.close()

    # Served without a restart: the same process, the new certificate on new handshakes.
    assert a.proc.pid == pid
    assert a.proc.poll() is None
    new_fp = served_fingerprint(a)
    assert new_fp != old_fp
    assert new_fp == rotation(a)["serving"]
    with pytest.raises(httpx.ConnectError), api(a, old_pem) as stale:
        stale.get("/healthz")
    # node-b pins only the new certificate now; its card for node-a carries it.
    peers = {p["name"]: p for p in b.cli_json("peer", "list")}
    assert peers["node-a"]["tls_fingerprint"] == new_fp
    from parley.directory.tls_rotation import pinned_certs_txn

    nb = Node.open(b.home)
    try:
        with nb.reader.connect() as conn:
            assert set(pinned_certs_txn(conn, "node-a")) == {new_fp}
    finally:
        nb.close()

    # Every message, each way, was delivered and receipted.
    wait_for("delivery after the rotation", lambda: drained(a, b), timeout=300)
    assert received_from(b, "node-a") >= sent
    assert received_from(a, "node-b") >= sent
    for n in (a, b):
        assert [x for x in n.cli_json("status")["alarms"] if x["severity"] == "security"] == []


def test_forged_update_is_refused_with_an_alarm(pair: tuple[NodeProcess, NodeProcess, Path]) -> None:
    a, b, _ = pair
    from parley.directory.tls_rotation import latest_own_update

    node_a = Node.open(a.home)
    try:
        with node_a.reader.connect() as conn:
            latest = latest_own_update(conn, node_a)
        assert latest is not None
        body = {**latest.doc["tls_update"], "number": latest.number + 1}
        # Signed by a key node-b never pinned, carried in a request node-a really signed.
        forged = {
            "tls_update": body,
            "signature": signing.sign("tls-update", body, SigningKeyPair.generate()),
        }
        raw = json.dumps(forged).encode()
        path = "/federation/v1/keys"
        headers = sign_request(node_a, "POST", path, "node-b", raw)
    finally:
        node_a.close()
    with httpx.Client(base_url=b.url, verify=pinned_client_context(b.cert()), timeout=30) as c:
        answer = c.post(path, content=raw, headers={**headers, "content-type": "application/json"})
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"] == "bad_tls_update_signature"
    assert "not signed by its pinned key" in answer.json()["message"]
    alarms = [x for x in b.cli_json("status")["alarms"] if x["severity"] == "security"]
    assert [x["kind"] for x in alarms] == ["tls_update_forged"], alarms
