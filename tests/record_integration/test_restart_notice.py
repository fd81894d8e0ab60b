"""A node restored from a backup tells its witness where its record restarts (§11.10).

Two nodes in process with a ManualClock, exchanging checkpoints as the link test does. Node B
is backed up (``parley backup``'s code), grows and is witnessed further, then restored
(``parley restore``'s code) and grows other leaves: no consistency proof leads from what A
cosigned to B's new log. B's signed restart notice names what A cosigned last and a
checkpoint A cosigned before the backup; A keeps the abandoned checkpoint as evidence,
raises a warning (not a security alarm) and goes on witnessing from the kept size. A notice
that does not hold changes nothing: the rollback alarm is raised as before.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from parley.continuity.backup import restore_backup, take_backup
from parley.errors import ConflictError
from parley.federation.restart import KIND
from parley.federation.witnessing import answer_checkpoint, own_checkpoint_txn, prepare_request
from parley.node import Node
from parley.protocol import signing
from parley.protocol.keys import SigningKeyPair, b64, unb64
from parley.record.witness_tables import witness_evidence, witness_state, witnessed_checkpoints
from parley.running.status import node_status
from tests.record_integration.conftest import Nodes, exchange, grow, wire


def alarms(node: Node) -> dict[str, str]:
    return {a["kind"]: a["severity"] for a in node_status(node)["alarms"]}


def witnessed(node: Node, peer: str) -> int:
    with node.engine.connect() as conn:
        return int(
            conn.execute(select(witness_state.c.size).where(witness_state.c.peer == peer)).scalar_one()
        )


def restored_b(nodes: Nodes, tmp_path: Path) -> Node:
    """B backed up at size 4 (cosigned by A), grown to 10 and witnessed, then restored."""
    a, b = nodes.a, nodes.b
    grow(b, 4)
    exchange(b, a)  # A cosigns B's 4 and B keeps the cosignature
    archive = tmp_path / "b.backup"
    take_backup(b.home, archive, clock=nodes.clock)
    grow(b, 6)
    nodes.clock.advance(60)
    exchange(b, a)
    assert witnessed(a, "node-b") == 10
    b.close()
    restore_backup(archive, b.home, force=True)
    b = Node.open(b.home, clock=nodes.clock)
    nodes.b = b
    grow(b, 3)  # other leaves than before: size 7, another root
    nodes.clock.advance(60)
    return b


@pytest.mark.parametrize("first", ["restored", "witness"])
def test_a_restored_node_restarts_its_record_with_a_signed_notice(
    nodes: Nodes, tmp_path: Path, first: str
) -> None:
    a = nodes.a
    b = restored_b(nodes, tmp_path)
    # Either B asks first (A answers 409 with what it cosigned; B's log cannot prove from
    # there, so B sends the notice) or A asks first (B answers with the notice).
    result = exchange(b, a) if first == "restored" else exchange(a, b)
    assert result.alarm is None, result
    assert witnessed(a, "node-b") == 7
    assert alarms(a) == {"record_restarted": "warning"}
    with a.engine.connect() as conn:
        kept = conn.execute(select(witness_evidence)).one()
        sizes = [r.size for r in conn.execute(select(witnessed_checkpoints.c.size).order_by("size"))]
    assert kept.reason == "restart"
    assert "\n10\n" in kept.checkpoint  # the abandoned checkpoint, as A cosigned it
    assert json.loads(kept.message)["notice"]["kept_size"] == 4
    assert 10 not in sizes
    assert 7 in sizes
    # From then on B's log is witnessed by ordinary consistency proofs, both ways.
    grow(b, 5)
    nodes.clock.advance(60)
    assert exchange(b, a).alarm is None
    assert exchange(a, b).alarm is None
    assert witnessed(a, "node-b") == 12
    assert alarms(a) == {"record_restarted": "warning"}


@pytest.mark.parametrize("first", ["restored", "witness"])
def test_a_restored_log_grown_back_to_the_size_last_cosigned_restarts_too(
    nodes: Nodes, tmp_path: Path, first: str
) -> None:
    """B's restored log reaches size 10 again, with another root, and B signs a checkpoint
    of it before the exchange: the size A cosigned last is in B's log, but not A's root."""
    a = nodes.a
    b = restored_b(nodes, tmp_path)
    grow(b, 3)
    with b.engine.begin() as conn:
        own, _ = own_checkpoint_txn(conn, b)
    assert own.size == 10
    result = exchange(b, a) if first == "restored" else exchange(a, b)
    assert result.alarm is None, result
    assert alarms(a) == {"record_restarted": "warning"}
    assert witnessed(a, "node-b") == 10
    grow(b, 2)
    nodes.clock.advance(60)
    assert exchange(a, b).alarm is None
    assert exchange(b, a).alarm is None
    assert alarms(a) == {"record_restarted": "warning"}


def test_a_notice_that_does_not_hold_changes_nothing(nodes: Nodes, tmp_path: Path) -> None:
    a = nodes.a
    b = restored_b(nodes, tmp_path)
    honest = prepare_request(b, "node-a", 10)
    assert honest["restart"]["notice"]["abandoned_size"] == 10

    def forged(**change: object) -> dict[str, object]:
        body = json.loads(json.dumps(honest))
        notice = body["restart"]["notice"]
        notice.update(change)
        body["restart"]["signature"] = signing.sign(KIND, notice, b.key)
        return body

    root = unb64(honest["restart"]["notice"]["kept_root"])
    stranger = json.loads(json.dumps(honest))
    stranger["restart"]["signature"] = signing.sign(
        KIND, stranger["restart"]["notice"], SigningKeyPair.generate()
    )
    # A notice naming another size than A cosigned last is out of date (another exchange
    # moved A on): answered like any size mismatch, with what A cosigned last.
    with pytest.raises(ConflictError) as stale:
        answer_checkpoint(a, "node-b", wire(forged(abandoned_size=9)))
    assert stale.value.details["last_size"] == 10
    assert alarms(a) == {}
    for body in (
        stranger,  # not signed by B's key
        forged(kept_root=b64(bytes([root[0] ^ 1]) + root[1:])),  # not a root A cosigned
        forged(kept_size=3),  # not the size the proof starts from
    ):
        answer = answer_checkpoint(a, "node-b", wire(body))
        assert answer["cosignature"] is None
        assert witnessed(a, "node-b") == 10
    assert alarms(a) == {"record_inconsistent": "security"}
    with a.engine.connect() as conn:
        assert "restart" not in {r.reason for r in conn.execute(select(witness_evidence.c.reason))}
    # The honest notice still holds afterwards.
    answer = answer_checkpoint(a, "node-b", wire(honest))
    assert answer["cosignature"] is not None
    assert witnessed(a, "node-b") == 7


def test_recovery_takes_a_checkpoint_signed_before_a_key_rotation(nodes: Nodes, tmp_path: Path) -> None:
    """The checkpoint a peer returns in ``/held`` (§11.10) may be signed by a key this node has
    rotated away from since: it verifies by the key history, not only the current key."""
    from parley.cli.main import main
    from parley.continuity.recovery import _check_checkpoint
    from parley.directory.control_outbox import pending_control
    from parley.directory.keys import apply_peer_document

    a, b = nodes.a, nodes.b
    grow(b, 3)
    exchange(b, a)
    with a.engine.connect() as conn:
        held = conn.execute(select(witness_state).where(witness_state.c.peer == "node-b")).one()
    doc = {"note": held.note, "cosignature": held.cosignature}
    assert _check_checkpoint(b, "node-a", doc) == 3

    root = tmp_path / "offline" / "b-root.key"
    root.parent.mkdir()
    b.close()
    for args in (("key", "root", "init", "--out", root), ("key", "certify", "--root", root)):
        assert main(["--home", str(b.home), *map(str, args)]) == 0
    assert main(["--home", str(b.home), "key", "rotate", "--root", str(root)]) == 0
    b = nodes.b = Node.open(b.home, clock=nodes.clock)
    for _, _, payload in pending_control(b, "node-a"):
        apply_peer_document(a, "node-b", payload)
    assert _check_checkpoint(b, "node-a", doc) == 3


def test_a_size_no_log_can_have_gets_no_notice(nodes: Nodes) -> None:
    """A requester naming 2^63-1 as what it cosigned of ours (the federation fuzz found it):
    the answer carries no notice, since no notice can name that size in canonical JSON."""
    a, b = nodes.a, nodes.b
    grow(b, 2)
    body = wire(prepare_request(a, "node-b"))
    body["your_last_size"] = 2**63 - 1
    answer = answer_checkpoint(b, "node-a", body)
    assert "restart" not in answer
    assert answer["from_size"] == 2**63 - 1


def test_a_cosignature_of_a_size_no_log_has_is_answered_without_a_notice(nodes: Nodes) -> None:
    """A hostile or broken peer names 2^63-1 as what it cosigned last, with a cosignature that
    cannot verify: the answer is the ordinary one (the fuzzer once made this a 500)."""
    a, b = nodes.a, nodes.b
    grow(b, 3)
    body = prepare_request(b, "node-a")
    huge = 2**63 - 1
    body["your_last_size"] = huge
    body["your_cosignature"] = {"size": huge, "cosignature": "— node-a AAAA\n"}
    answer = answer_checkpoint(a, "node-b", wire(body))
    assert "restart" not in answer
    assert answer["from_size"] == huge
