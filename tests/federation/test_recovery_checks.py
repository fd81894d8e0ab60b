"""What a recovering node accepts from a peer (parley.continuity.recovery, docs/protocol.md §11.10).

Two real homes, no servers: node-a is backed up, sends three messages that node-b stores
and receipts, and is restored. Genuine answers are then taken back; a lying peer's (a head
no receipt names, a receipt it did not sign, an envelope node-a did not sign, a chain that
does not link) is refused and changes nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from parley.continuity.backup import restore_backup, take_backup
from parley.continuity.recovery import HeldClaim, check_held, store_returned
from parley.errors import ConflictError, RefusedError
from parley.messaging.chains import chain_head_txn
from parley.messaging.receive import receive_batch
from parley.messaging.send import Draft, do_send_message
from parley.node import Node
from parley.protocol.envelope import build_envelope
from parley.protocol.receipt import make_receipt
from tests.harness.nodes import make_pair

CH = "test-line"


@pytest.fixture
def restored(tmp_path: Path) -> Iterator[tuple[Node, Node, list[Any], dict[str, Any]]]:
    a_proc, b_proc = make_pair(tmp_path)
    archive = tmp_path / "a.backup"
    take_backup(a_proc.home, archive)
    a = Node.open(a_proc.home)
    b = Node.open(b_proc.home)
    sent = [
        do_send_message(a, Draft(CH, "duty", "general", "ROUTINE", "ACTUAL", {"text": f"m{i}", "lang": "en"}))
        for i in range(3)
    ]
    wires = [e.to_wire() for e in sent]
    result = receive_batch(b, "node-a", wires)
    a.close()
    restore_backup(archive, a_proc.home, force=True)
    a = Node.open(a_proc.home)
    head = {"seq": 3, "hash": sent[-1].hash}
    answer = {"channel": CH, "head": head, "receipt": result.receipts[0].to_json(), "checkpoint": None}
    try:
        yield a, b, wires, answer
    finally:
        a.close()
        b.close()


def own_head(node: Node) -> int:
    with node.reader.connect() as conn:
        head = chain_head_txn(conn, CH, node.name)
    return 0 if head is None else head[0]


def test_sending_is_held_after_restore(restored: tuple[Node, Node, list[Any], dict[str, Any]]) -> None:
    a, _, _, _ = restored
    with pytest.raises(ConflictError, match="recovering"):
        do_send_message(a, Draft(CH, "duty", "general", "ROUTINE", "ACTUAL", {"text": "x", "lang": "en"}))
    assert own_head(a) == 0


def test_genuine_answer_is_taken_back(restored: tuple[Node, Node, list[Any], dict[str, Any]]) -> None:
    a, _, wires, answer = restored
    claim = check_held(a, "node-b", CH, answer)
    assert (claim.seq, claim.hash) == (3, answer["head"]["hash"])
    assert (
        store_returned(a, "node-b", CH, 1, claim, {"envelopes": wires, "receipts": [answer["receipt"]]}) == 3
    )
    assert own_head(a) == 3


def test_head_without_matching_receipt_refused(
    restored: tuple[Node, Node, list[Any], dict[str, Any]],
) -> None:
    a, _, _, answer = restored
    lying = {**answer, "head": {"seq": 4, "hash": answer["head"]["hash"]}}
    with pytest.raises(RefusedError, match="does not name the head"):
        check_held(a, "node-b", CH, lying)


def test_receipt_not_signed_by_peer_refused(restored: tuple[Node, Node, list[Any], dict[str, Any]]) -> None:
    a, _, _, answer = restored
    forged = make_receipt(
        key=a.key,  # not node-b's key
        receiver="node-b",
        channel=CH,
        sender="node-a",
        upto_seq=3,
        upto_hash=answer["head"]["hash"],
        received_at="2026-12-01T00:00:00Z",
    )
    with pytest.raises(RefusedError, match="no valid receipt"):
        check_held(a, "node-b", CH, {**answer, "receipt": forged.to_json()})


def test_envelope_not_signed_by_us_refused(restored: tuple[Node, Node, list[Any], dict[str, Any]]) -> None:
    a, b, wires, answer = restored
    claim = check_held(a, "node-b", CH, answer)
    env = wires[0]["envelope"]
    forged = build_envelope(
        key=b.key,  # node-b signs an envelope in node-a's name
        channel=CH,
        sender_node="node-a",
        sender_desk="duty",
        seq=1,
        prev=None,
        created=a.clock.now(),
        type="general",
        type_version=env["type_version"],
        precedence="ROUTINE",
        status="ACTUAL",
        body={"text": "not ours", "lang": "en"},
    )
    with pytest.raises(RefusedError, match="does not verify"):
        store_returned(
            a, "node-b", CH, 1, claim, {"envelopes": [forged.to_wire(), *wires[1:]], "receipts": []}
        )
    assert own_head(a) == 0


def test_chain_that_does_not_link_refused(restored: tuple[Node, Node, list[Any], dict[str, Any]]) -> None:
    a, _, wires, answer = restored
    claim = check_held(a, "node-b", CH, answer)
    with pytest.raises(RefusedError, match="skip"):
        store_returned(a, "node-b", CH, 1, claim, {"envelopes": [wires[0], wires[2]], "receipts": []})
    tampered = copy.deepcopy(wires)
    tampered[1]["envelope"]["body"]["text"] = "changed"
    with pytest.raises(RefusedError):
        store_returned(a, "node-b", CH, 1, claim, {"envelopes": tampered, "receipts": []})
    assert own_head(a) == 0


def test_claimed_hash_must_match(restored: tuple[Node, Node, list[Any], dict[str, Any]]) -> None:
    a, _, wires, answer = restored
    claim = check_held(a, "node-b", CH, answer)
    other = HeldClaim(claim.peer, CH, 3, "sha256:" + "0" * 64, claim.receipt, None)
    with pytest.raises(RefusedError, match="another hash"):
        store_returned(a, "node-b", CH, 1, other, {"envelopes": wires, "receipts": []})
    assert own_head(a) == 0
