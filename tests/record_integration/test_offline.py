"""Proofs and transcripts made in process on both engines, and the offline checks.

Two nodes on real homes talk through the same functions the federation calls (send,
receive, receipts, acknowledgment, checkpoint exchange) without the network, so the
record is built on SQLite and PostgreSQL alike. Set inclusion proofs and the parallel
transcript check are tested on their own.
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from parley.channels.charter import charter_from_dict
from parley.channels.setup import do_accept_channel, do_propose_channel
from parley.directory.desks import do_add_desk
from parley.directory.operators import do_add_operator
from parley.errors import UsageError, VerificationError
from parley.evidence import transcript
from parley.evidence.measure import measure_transcript, measure_transcript_verification
from parley.evidence.offline import KeyRing, verify_offline_cli, verify_proof
from parley.evidence.proof import make_proof, root_from_set_proof, set_proof_coords
from parley.evidence.transcript import export_transcript, synthetic_transcript, verify_transcript
from parley.messaging.acknowledge import do_acknowledge
from parley.messaging.receipts import accept_receipts
from parley.messaging.receive import receive_batch
from parley.messaging.send import Draft, do_send_message
from parley.node import Node
from parley.protocol.envelope import SignedEnvelope
from parley.record import merkle
from tests.record_integration.conftest import Nodes, exchange, wire

CHANNEL = "north-line"


def keyring(nodes: Nodes) -> KeyRing:
    return KeyRing({"node-a": nodes.a.key.public, "node-b": nodes.b.key.public})


def deliver(sender: Node, receiver: Node, envs: list[SignedEnvelope]) -> None:
    """What the sending loop does: the batch to the peer, its receipts back."""
    result = receive_batch(receiver, sender.name, [wire(e.to_wire()) for e in envs])
    accept_receipts(sender, receiver.name, [wire(r.to_json()) for r in result.receipts])


def say(node: Node, text: str) -> SignedEnvelope:
    draft = Draft(CHANNEL, "duty", "general", "ROUTINE", "EXERCISE", {"text": text, "lang": "en"})
    return do_send_message(node, draft)


@pytest.fixture
def talked(nodes: Nodes) -> dict[str, Any]:
    """A channel, messages both ways, one acknowledgment, and both logs cosigned."""
    a, b = nodes.a, nodes.b
    for n in (a, b):
        do_add_desk(n, "duty")
    charter = charter_from_dict(
        {
            "id": CHANNEL,
            "name": {"en": "North line", "nb": "Nordlinja", "ru": "Северная линия"},
            "basis": {"agreement": "Test", "date": "2020-01-01"},
            "members": ["node-a/duty", "node-b/duty"],
            "types": ["general"],
            "languages": ["nb", "ru", "en"],
        }
    )
    proposed = do_propose_channel(a, charter, "node-b")
    countersigned, _ = do_accept_channel(b, wire(proposed.to_json()))
    do_accept_channel(a, wire(countersigned.to_json()), countersign=False)
    from_a = [say(a, f"from a {i}") for i in range(4)]
    deliver(a, b, from_a[:2])
    deliver(a, b, from_a[2:])
    from_b = [say(b, "from b")]
    deliver(b, a, from_b)
    operator = do_add_operator(b, "op-b", "duty", "duty", "correct horse battery")
    nodes.clock.advance(30)
    ack = do_acknowledge(b, from_a[1].id, operator)
    deliver(b, a, [ack])
    exchange(a, b)
    exchange(b, a)
    exchange(a, b)
    return {"from_a": from_a, "from_b": from_b, "ack": ack}


def test_proof_of_a_message_verifies_on_both_sides(nodes: Nodes, talked: dict[str, Any]) -> None:
    message = talked["from_a"][1]
    for node, other in ((nodes.a, "node-b"), (nodes.b, "node-a")):
        data, notes = make_proof(node, message.id)
        assert notes == []
        report = verify_proof(wire(data), keyring(nodes))
        assert report.message.id == message.id
        assert [r.receiver for r, _ in report.receipts] == ["node-b"]
        assert report.acknowledgment is not None
        assert report.acknowledgment[0].id == talked["ack"].id
        assert [r.receiver for r, _ in report.ack_receipts] == ["node-a"]
        assert [name for name, _ in report.log.cosigners] == [other]
        lines = "\n".join(report.lines())
        assert "VALID" in lines
        assert "not yet cosigned" not in lines
        # The receipt covering seq 2 is cumulative, up to seq 2: no link needed. The first
        # message's receipt names seq 2, so its proof carries seq 2 as the link.
    first, _ = make_proof(nodes.a, talked["from_a"][0].id)
    assert [i["role"] for i in first["items"]][:3] == ["message", "link", "receipt"]
    assert verify_proof(wire(first), keyring(nodes)).acknowledgment is None


def test_proof_of_a_new_message_says_it_is_not_witnessed_yet(nodes: Nodes, talked: dict[str, Any]) -> None:
    late = say(nodes.a, "after the last exchange")
    data, notes = make_proof(nodes.a, late.id)
    assert any("not cosigned by the counterpart yet" in n for n in notes)
    assert any("no receipt" in n for n in notes)
    assert data["log"]["witnessed"] is not None
    report = verify_proof(wire(data), keyring(nodes))
    assert report.log.witnessed_size is not None
    assert "not yet cosigned" in "\n".join(report.lines())
    # A broken consistency proof between the two checkpoints is caught.
    data["log"]["witnessed"]["consistency"] = data["log"]["witnessed"]["consistency"][:-1]
    with pytest.raises(VerificationError, match="does not extend the one cosigned"):
        verify_proof(wire(data), keyring(nodes))


def test_transcripts_of_both_sides_verify(nodes: Nodes, talked: dict[str, Any]) -> None:
    for node in (nodes.a, nodes.b):
        data = export_transcript(node, CHANNEL)
        report = verify_transcript(wire(data), keyring(nodes))
        assert report.chains["node-a"].last_seq == 4
        assert report.chains["node-a"].receipted == {"node-b": 4}
        assert report.chains["node-b"].last_seq == 2
        assert report.chains["node-b"].receipted == {"node-a": 2}
        assert report.acknowledgments == 1
        assert report.unwitnessed == 0
        kinds = [e["kind"] for e in data["entries"]]
        assert kinds.count("envelope") == 6


def test_transcript_of_a_suspended_channel_holds_its_status(nodes: Nodes, talked: dict[str, Any]) -> None:
    from parley.channels.status import apply_status_record_txn, make_status_record

    record = make_status_record(
        key=nodes.a.key,
        signer="node-a",
        channel=CHANNEL,
        status="suspended",
        reason="exercise",
        effective="2026-01-01T00:00:00.000Z",
        exempt_types=["general"],
    )
    for node in (nodes.a, nodes.b):
        with node.engine.begin() as conn:
            apply_status_record_txn(conn, record, nodes.clock.now())
    data = export_transcript(nodes.b, CHANNEL)
    report = verify_transcript(wire(data), keyring(nodes))
    assert report.status == ["suspended (2026-01-01T00:00:00.000Z, by node-a)"]
    data["status_records"][0]["record"]["reason"] = "nothing happened"
    with pytest.raises(VerificationError, match="5 status: status record 1"):
        verify_transcript(wire(data), keyring(nodes))


def test_offline_check_needs_cards(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="identity cards"):
        verify_offline_cli(proof=tmp_path / "p.json", transcript=None, cards=[])


# -- set inclusion proofs -------------------------------------------------------------------


def tree(size: int) -> tuple[list[bytes], merkle.GetHash]:
    leaves = [merkle.leaf_hash(b"%d" % i) for i in range(size)]

    def get(level: int, index: int) -> bytes:
        return merkle.root_from_leaf_hashes(leaves[index << level : (index + 1) << level])

    return leaves, get


@pytest.mark.parametrize("size", [1, 2, 3, 7, 8, 13, 64, 100])
def test_set_inclusion_proofs(size: int) -> None:
    rng = random.Random(size)
    leaves, get = tree(size)
    root = merkle.root_from_leaf_hashes(leaves)
    for _ in range(20):
        chosen = sorted(rng.sample(range(size), rng.randint(0, size)))
        proof = [get(level, i) for level, i in set_proof_coords(chosen, size)]
        given = [(i, leaves[i]) for i in chosen]
        assert root_from_set_proof(size, given, proof) == root
        if chosen:
            changed = [*given[:-1], (chosen[-1], merkle.leaf_hash(b"changed"))]
            assert root_from_set_proof(size, changed, proof) != root
        if proof:
            with pytest.raises(merkle.ProofError, match="wrong size"):
                root_from_set_proof(size, given, [*proof, proof[0]])
            with pytest.raises(merkle.ProofError, match="too short"):
                root_from_set_proof(size, given, proof[:-1])
    with pytest.raises(merkle.ProofError, match="ascending"):
        set_proof_coords([0, 0], max(size, 2))


def test_set_proof_is_compact_for_dense_sets() -> None:
    # Every other leaf of 1024: one hash per gap, not a path of ten per leaf.
    assert len(set_proof_coords(list(range(0, 1024, 2)), 1024)) == 512
    assert len(set_proof_coords(list(range(1024)), 1024)) == 0
    assert len(set_proof_coords([], 1024)) == 1


# -- the check itself, sequential and on every core ----------------------------------------


def test_parallel_check_reports_the_same_first_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    data, keys = synthetic_transcript(300)
    monkeypatch.setattr(transcript, "PARALLEL_MIN", 50)
    one = verify_transcript(wire(data), keys, workers=1)
    many = verify_transcript(wire(data), keys, workers=3)
    assert (one.entries, one.receipts) == (many.entries, many.receipts) == (300, one.receipts)
    assert one.receipts > 0
    # Two faults: a changed byte late in the file and a forged signature earlier on.
    bad = wire(data)
    bad["entries"][250]["data"]["envelope"]["body"]["text"] = "changed"
    bad["entries"][120]["data"]["signature"] = bad["entries"][121]["data"].get(
        "signature", bad["entries"][122]["data"].get("signature")
    )
    errors = []
    for workers in (1, 2, 3):
        with pytest.raises(VerificationError) as failed:
            verify_transcript(wire(bad), keys, workers=workers)
        errors.append(str(failed.value))
    assert errors[0] == errors[1] == errors[2]
    assert "entry 120" in errors[0]


def test_forked_workers_check_the_same_as_one_process() -> None:
    """A single-threaded caller (``parley verify``) forks its workers and sends them index
    ranges only; under pytest other threads run, so this is checked in a fresh process."""
    script = """
import json, threading
from parley.errors import VerificationError
from parley.evidence import transcript
from parley.evidence.transcript import synthetic_transcript, verify_transcript
transcript.PARALLEL_MIN = 50
data, keys = synthetic_transcript(300)
wire = lambda d: json.loads(json.dumps(d))
assert threading.active_count() == 1  # so the workers are forked
one, two = verify_transcript(wire(data), keys, workers=1), verify_transcript(wire(data), keys, workers=2)
assert (one.entries, one.receipts) == (two.entries, two.receipts) == (300, one.receipts)
bad = wire(data)
bad["entries"][250]["data"]["envelope"]["body"]["text"] = "changed"
errors = []
for workers in (1, 2):
    try:
        verify_transcript(wire(bad), keys, workers=workers)
    except VerificationError as exc:
        errors.append(str(exc))
assert len(errors) == 2 and errors[0] == errors[1] and "entry 250" in errors[0], errors
print("same")
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "same"


def test_measure_transcript_reports_a_rate() -> None:
    result = measure_transcript(200, workers=1)
    assert result["entries"] == 200
    assert result["verify_rate"] > 0
    assert measure_transcript_verification(100) > 0
