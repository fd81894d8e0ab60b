"""Checkpoint exchange and cosigning between two nodes, in process, with a ManualClock.

The HTTP transport is left out: ``exchange`` runs the requester and responder halves the
way :func:`parley.federation.witnessing.exchange_checkpoints` does, including the retry on a
409 ``witness_size_mismatch``, with a JSON round trip in between.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from parley.errors import ConflictError
from parley.federation.witnessing import (
    accept_response,
    answer_checkpoint,
    cosigner_verifier,
    log_name,
    prepare_request,
)
from parley.node import Node
from parley.protocol.keys import SigningKeyPair, b64
from parley.record import log
from parley.record.checkpoint import Checkpoint, sign_checkpoint, verify_cosignature
from parley.record.note import parse_note
from parley.record.tables import log_head
from parley.record.witness_tables import (
    record_cosignatures,
    witness_evidence,
    witness_state,
)
from parley.running.status import node_status
from tests.record_integration.conftest import Nodes, exchange, grow, tamper_log, wire


def cosigned_sizes(node: Node, cosigner: str) -> list[int]:
    with node.engine.connect() as conn:
        rows = conn.execute(
            select(record_cosignatures.c.size)
            .where(record_cosignatures.c.cosigner == cosigner)
            .order_by(record_cosignatures.c.size)
        ).all()
    return [int(r.size) for r in rows]


def witnessed_size(node: Node, peer: str) -> int | None:
    with node.engine.connect() as conn:
        row = conn.execute(select(witness_state.c.size).where(witness_state.c.peer == peer)).first()
    return None if row is None or row.size is None else int(row.size)


def open_alarms(node: Node) -> list[tuple[str, str, str]]:
    return [(a["kind"], a["severity"], a["subject"]) for a in node_status(node)["alarms"]]


def test_first_exchange_witnesses_both_directions(nodes: Nodes) -> None:
    a, b = nodes.a, nodes.b
    grow(a, 5)
    grow(b, 3)
    result = exchange(a, b)
    assert result.cosigned_by_peer
    assert result.own_size == 5
    assert result.peer_size == 3
    assert result.alarm is None
    assert cosigned_sizes(a, "node-b") == [5]
    assert witnessed_size(b, "node-a") == 5
    assert witnessed_size(a, "node-b") == 3
    # The cosignature is a C2SP tlog-cosignature by node-b's identity key, at the clock's time.
    with a.engine.connect() as conn:
        line = conn.execute(select(record_cosignatures.c.line)).scalar_one()
        body = Checkpoint(log_name("node-a"), 5, log.root(conn)).body()
    ts = verify_cosignature(body, line, cosigner_verifier("node-b", b.key.public))
    assert ts == int(nodes.clock.now().timestamp())
    # node-b's checkpoint was witnessed by node-a; the cosignature reaches node-b next time.
    assert cosigned_sizes(b, "node-a") == []
    grow(a, 2)
    nodes.clock.advance(60)
    assert exchange(a, b).cosigned_by_peer
    assert cosigned_sizes(b, "node-a") == [3]
    assert cosigned_sizes(a, "node-b") == [5, 7]
    # And node-b's own link test gets its new checkpoint cosigned directly.
    grow(b, 4)
    assert exchange(b, a).cosigned_by_peer
    assert cosigned_sizes(b, "node-a") == [3, 7]
    assert witnessed_size(a, "node-b") == 7
    assert open_alarms(a) == []
    assert open_alarms(b) == []


def test_unchanged_log_is_cosigned_again(nodes: Nodes) -> None:
    grow(nodes.a, 1)
    exchange(nodes.a, nodes.b)
    nodes.clock.advance(10)
    again = exchange(nodes.a, nodes.b)
    assert again.cosigned_by_peer
    assert again.alarm is None
    assert exchange(nodes.b, nodes.a).alarm is None  # node-b's empty log, twice
    assert exchange(nodes.b, nodes.a).alarm is None


def test_size_mismatch_is_answered_and_retried(nodes: Nodes) -> None:
    a, b = nodes.a, nodes.b
    grow(a, 4)
    exchange(a, b)
    # node-a loses the cosignature it got (an answer lost on the way): it believes node-b saw
    # nothing yet and sends a proof from 0; node-b asks for one from 4 instead.
    with a.engine.begin() as conn:
        conn.execute(record_cosignatures.delete())
    grow(a, 3)
    request = prepare_request(a, "node-b")
    assert request["from_size"] == 0
    with pytest.raises(ConflictError) as refused:
        answer_checkpoint(b, "node-a", wire(request))
    assert refused.value.details["last_size"] == 4
    with a.engine.connect() as conn:  # and its root, so node-a can tell a lost answer from a restore
        assert refused.value.details["last_root"] == b64(log.root(conn, 4))
    assert refused.value.http_status == 409
    result = exchange(a, b)
    assert result.cosigned_by_peer
    assert result.alarm is None
    assert witnessed_size(b, "node-a") == 7


def test_two_roots_for_one_size_raise_a_fork_alarm(nodes: Nodes) -> None:
    a, b = nodes.a, nodes.b
    grow(a, 2)
    grow(b, 8)
    exchange(a, b)
    tamper_log(b.engine)  # node-b's database is edited: the subtree over leaves 0..7
    nodes.clock.advance(60)
    result = exchange(a, b)
    assert result.alarm == "record_fork"
    assert result.cosigned_by_peer  # node-a's own checkpoint is still cosigned
    assert ("record_fork", "security", "node-b") in open_alarms(a)
    assert ("record_local_changed", "security", "node-b") in open_alarms(b)
    assert witnessed_size(a, "node-b") == 8  # the good checkpoint stays the reference
    with a.engine.connect() as conn:
        evidence = conn.execute(select(witness_evidence)).all()
    assert [e.reason for e in evidence] == ["record_fork"]
    assert parse_note(evidence[0].checkpoint).text.startswith("parley.node-b\n8\n")
    # The alarm is raised once while open, however often the peer shows the other root.
    exchange(b, a)
    assert [k for k, _, _ in open_alarms(a)].count("record_fork") == 1
    with a.engine.connect() as conn:
        assert len(conn.execute(select(witness_evidence)).all()) == 1  # kept once


def test_rewritten_history_raises_an_inconsistency_alarm(nodes: Nodes) -> None:
    a, b = nodes.a, nodes.b
    grow(b, 6)
    exchange(b, a)
    tamper_log(b.engine, b"\x02" * 32)
    grow(b, 5)  # appends on top of the edited subtree
    result = exchange(a, b)
    assert result.alarm == "record_inconsistent"
    assert "not an extension" in (result.message or "")
    # node-b's own link test reaches node-a with the same story: refused, not cosigned.
    back = exchange(b, a)
    assert not back.cosigned_by_peer
    assert [k for k, _, _ in open_alarms(a)] == ["record_inconsistent"]


def test_rollback_raises_an_alarm(nodes: Nodes) -> None:
    a, b = nodes.a, nodes.b
    grow(b, 6)
    exchange(a, b)
    with b.engine.begin() as conn:  # restore an old backup: the log is smaller
        conn.execute(update(log_head).values(size=2))
    # An honest restored node says so (test_restart_notice.py); one that says nothing, or a
    # notice lost or stripped on the way, is a rollback.
    request = prepare_request(a, "node-b")
    response = answer_checkpoint(b, "node-a", wire(request))
    assert response.pop("restart")["notice"]["abandoned_size"] == 6
    response["from_size"], response["proof"] = 6, []  # what a node without notices answers
    result = accept_response(a, "node-b", request, wire(response))
    assert result.alarm == "record_inconsistent"
    assert "rolled back" in (result.message or "")


def test_forged_checkpoint_is_refused_with_an_alarm(nodes: Nodes) -> None:
    a, b = nodes.a, nodes.b
    grow(a, 3)
    with a.engine.connect() as conn:
        root = log.root(conn)
    forged = sign_checkpoint(Checkpoint(log_name("node-a"), 3, root), SigningKeyPair.generate())
    answer = answer_checkpoint(b, "node-a", {"checkpoint": forged, "from_size": 0, "proof": []})
    assert answer["cosignature"] is None
    assert "not signed by any known key" in answer["refused"]
    assert [k for k, _, _ in open_alarms(b)] == ["record_bad_signature"]
    # Messages and honest exchanges go on.
    assert exchange(a, b).cosigned_by_peer


def test_malformed_requests_are_refused(nodes: Nodes) -> None:
    from parley.errors import UsageError

    for body in (
        None,
        {"checkpoint": "x"},
        {"checkpoint": "x", "from_size": -1, "proof": []},
        {"checkpoint": "x", "from_size": 0, "proof": ["not base64"]},
        {"checkpoint": "x", "from_size": 0, "proof": [], "extra": 1},
    ):
        with pytest.raises(UsageError) as refused:
            answer_checkpoint(nodes.b, "node-a", body)
        assert refused.value.code == "malformed_request"
