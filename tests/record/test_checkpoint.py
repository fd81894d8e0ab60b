"""C2SP checkpoints, Ed25519 cosignatures and the witness checks, including tampering."""

from __future__ import annotations

import base64

import pytest

from parley.protocol.keys import SigningKeyPair
from parley.record import merkle
from parley.record.checkpoint import (
    BadSignatureAlarm,
    Checkpoint,
    CheckpointError,
    CosignatureVerifier,
    InconsistencyAlarm,
    RollbackAlarm,
    Witness,
    WitnessAlarm,
    cosign,
    cosignature_message,
    open_checkpoint,
    parse_cosigner_vkey,
    sign_checkpoint,
    verify_cosignature,
)
from parley.record.note import Ed25519Verifier, NoteError, parse_note, verify_note

ORIGIN = "authority-a.example/parley"
WITNESS = "authority-b.example/parley"

# The checkpoint body from c2sp.org/tlog-checkpoint.
SPEC_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"


def hashes(n: int) -> list[bytes]:
    return [merkle.leaf_hash(f"leaf {i}".encode()) for i in range(n)]


def memory_get_hash(leaves: list[bytes]) -> merkle.GetHash:
    def get(level: int, index: int) -> bytes:
        return merkle.root_from_leaf_hashes(leaves[index << level : (index + 1) << level])

    return get


def checkpoint_of(leaves: list[bytes], size: int) -> Checkpoint:
    return Checkpoint(ORIGIN, size, merkle.root_from_leaf_hashes(leaves[:size]))


def test_spec_body_roundtrip() -> None:
    cp = Checkpoint.parse(SPEC_BODY)
    assert (cp.origin, cp.size, cp.extensions) == ("example.com/behind-the-sofa", 20852163, ())
    assert cp.body() == SPEC_BODY
    with_ext = Checkpoint.parse(SPEC_BODY + "ext one\next two\n")
    assert with_ext.extensions == ("ext one", "ext two")
    assert with_ext.body() == SPEC_BODY + "ext one\next two\n"


def test_spec_cosigned_message() -> None:
    assert cosignature_message(SPEC_BODY, 1679315147) == (
        b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
        b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("o\n1\n" + base64.b64encode(bytes(32)).decode(), "end with a newline"),
        ("o\n1\n", "at least 3 lines"),
        ("o\n01\n" + base64.b64encode(bytes(32)).decode() + "\n", "leading zeroes"),
        ("o\n-1\n" + base64.b64encode(bytes(32)).decode() + "\n", "not a decimal"),
        ("o\n١\n" + base64.b64encode(bytes(32)).decode() + "\n", "not a decimal"),
        ("o\n1\nnot base64!\n", "not base64"),
        ("o\n1\n" + base64.b64encode(bytes(31)).decode() + "\n", "32 bytes, not 31"),
        ("\n1\n" + base64.b64encode(bytes(32)).decode() + "\n", "non-empty"),
        ("o\n0\n" + base64.b64encode(bytes(32)).decode() + "\n", "empty tree's root"),
        ("o\n1\n" + base64.b64encode(bytes(32)).decode() + "\n\n", "extension"),
        ("o\n1\n" + base64.b64encode(bytes(32)).decode() + "\nx\ty\n", "control character"),
    ],
)
def test_malformed_bodies(body: str, message: str) -> None:
    with pytest.raises(CheckpointError, match=message):
        Checkpoint.parse(body)


def test_sign_and_open() -> None:
    log_key = SigningKeyPair.generate()
    cp = checkpoint_of(hashes(10), 10)
    signed = sign_checkpoint(cp, log_key)
    assert signed.startswith(cp.body() + "\n— " + ORIGIN + " ")
    opened, note = open_checkpoint(signed, Ed25519Verifier(ORIGIN, log_key.public))
    assert opened == cp
    assert note.text == cp.body()
    with pytest.raises(NoteError):
        open_checkpoint(signed, Ed25519Verifier(ORIGIN, SigningKeyPair.generate().public))
    with pytest.raises(NoteError):
        open_checkpoint(signed.replace("\n10\n", "\n11\n"), Ed25519Verifier(ORIGIN, log_key.public))
    # Signed under a name other than the origin: the signature is fine, the origin is not.
    other = sign_checkpoint(cp, log_key, name="someone.example/else")
    with pytest.raises(CheckpointError, match="not the log's name"):
        open_checkpoint(other, Ed25519Verifier("someone.example/else", log_key.public))


def test_cosign_and_verify() -> None:
    w = SigningKeyPair.generate()
    verifier = CosignatureVerifier(WITNESS, w.public)
    body = checkpoint_of(hashes(5), 5).body()
    line = cosign(body, WITNESS, w, 1679315147)
    assert line.startswith(f"— {WITNESS} ")
    assert line.endswith("\n")
    blob = base64.b64decode(line.split(" ")[2])
    assert len(blob) == 4 + 8 + 64
    assert int.from_bytes(blob[:4], "big") == verifier.key_id
    assert int.from_bytes(blob[4:12], "big") == 1679315147
    assert w.public.verify(cosignature_message(body, 1679315147), blob[12:])
    assert verify_cosignature(body, line, verifier) == 1679315147
    assert verify_cosignature(body, line.rstrip("\n"), verifier) == 1679315147
    assert parse_cosigner_vkey(verifier.vkey()) == verifier

    # A cosigner verifier also works as a note verifier (c2sp signature type 0x04).
    log_key = SigningKeyPair.generate()
    signed = sign_checkpoint(Checkpoint.parse(body), log_key) + line
    assert verify_note(signed, [verifier]).signatures[0].name == WITNESS

    with pytest.raises(CheckpointError, match="does not verify"):
        verify_cosignature(body.replace("\n5\n", "\n6\n"), line, verifier)
    # Changing the timestamp invalidates the signature.
    forged_blob = blob[:4] + (1679315148).to_bytes(8, "big") + blob[12:]
    forged = f"— {WITNESS} {base64.b64encode(forged_blob).decode()}\n"
    with pytest.raises(CheckpointError, match="does not verify"):
        verify_cosignature(body, forged, verifier)
    with pytest.raises(CheckpointError, match="not authority-c"):
        verify_cosignature(body, line, CosignatureVerifier("authority-c.example/x", w.public))
    future = CosignatureVerifier(WITNESS, w.public, max_timestamp=1679315146)
    with pytest.raises(CheckpointError, match="does not verify"):
        verify_cosignature(body, line, future)
    # An Ed25519 note signature (type 0x01) by the same key is not a cosignature (0x04).
    assert CosignatureVerifier(WITNESS, w.public).key_id != Ed25519Verifier(WITNESS, w.public).key_id


def test_cosign_refuses_bad_input() -> None:
    w = SigningKeyPair.generate()
    body = checkpoint_of(hashes(5), 5).body()
    with pytest.raises(CheckpointError, match="timestamp"):
        cosign(body, WITNESS, w, -1)
    with pytest.raises(CheckpointError, match="timestamp"):
        cosign(body, WITNESS, w, 2**63)
    with pytest.raises(CheckpointError):
        cosign("not a checkpoint\n", WITNESS, w, 1)
    with pytest.raises(NoteError, match="spaces"):
        cosign(body, "bad name", w, 1)


# -- witness ------------------------------------------------------------------------------


class Setup:
    def __init__(self) -> None:
        self.log_key = SigningKeyPair.generate()
        self.witness_key = SigningKeyPair.generate()
        self.leaves = hashes(40)
        self.witness = Witness(WITNESS, self.witness_key, Ed25519Verifier(ORIGIN, self.log_key.public))

    def signed(self, size: int, leaves: list[bytes] | None = None) -> str:
        return sign_checkpoint(checkpoint_of(leaves or self.leaves, size), self.log_key)

    def proof(self, size1: int, size2: int, leaves: list[bytes] | None = None) -> list[bytes]:
        return merkle.consistency_proof(size1, size2, memory_get_hash(leaves or self.leaves))


def test_witness_happy_path() -> None:
    s = Setup()
    first = s.witness.cosign(None, s.signed(7), [], 1000)
    assert first.checkpoint.size == 7
    verifier = s.witness.verifier()
    assert verify_cosignature(first.checkpoint.body(), first.cosignature, verifier) == 1000
    # The returned note carries both signatures and verifies for either key.
    note = parse_note(first.note)
    assert [sig.name for sig in note.signatures] == [ORIGIN, WITNESS]
    verify_note(first.note, [verifier, Ed25519Verifier(ORIGIN, s.log_key.public)])

    second = s.witness.cosign(first.checkpoint, s.signed(20), s.proof(7, 20), 1001)
    assert second.checkpoint.size == 20
    same = s.witness.cosign(second.checkpoint, s.signed(20), [], 1002)
    assert same.timestamp == 1002
    third = s.witness.cosign(same.checkpoint, s.signed(40), s.proof(20, 40), 1003)
    assert third.checkpoint.root == merkle.root_from_leaf_hashes(s.leaves)


def test_witness_from_empty_tree() -> None:
    s = Setup()
    empty = s.witness.cosign(None, s.signed(0), [], 1)
    assert empty.checkpoint.root == merkle.EMPTY_ROOT
    grown = s.witness.cosign(empty.checkpoint, s.signed(3), [], 2)
    assert grown.checkpoint.size == 3


def test_witness_bad_signature() -> None:
    s = Setup()
    impostor = sign_checkpoint(checkpoint_of(s.leaves, 7), SigningKeyPair.generate())
    with pytest.raises(BadSignatureAlarm, match="not signed by any known key") as info:
        s.witness.cosign(None, impostor, [], 1)
    assert info.value.reason == "bad-signature"
    tampered = s.signed(7).replace("\n7\n", "\n8\n")
    with pytest.raises(BadSignatureAlarm, match="invalid"):
        s.witness.cosign(None, tampered, [], 1)
    with pytest.raises(BadSignatureAlarm):
        s.witness.cosign(None, "garbage", [], 1)


def test_witness_rollback() -> None:
    s = Setup()
    prev = s.witness.cosign(None, s.signed(20), [], 1).checkpoint
    with pytest.raises(RollbackAlarm, match="rolled back from size 20 to size 7") as info:
        s.witness.cosign(prev, s.signed(7), [], 2)
    assert info.value.reason == "rollback"
    assert isinstance(info.value, WitnessAlarm)


def test_witness_fork_at_same_size() -> None:
    s = Setup()
    prev = s.witness.cosign(None, s.signed(20), [], 1).checkpoint
    forked = [*s.leaves[:19], merkle.leaf_hash(b"rewritten")]
    with pytest.raises(InconsistencyAlarm, match="two different roots for size 20") as info:
        s.witness.cosign(prev, s.signed(20, forked), [], 2)
    assert info.value.reason == "inconsistent"


def test_witness_rewritten_history() -> None:
    s = Setup()
    prev = s.witness.cosign(None, s.signed(20), [], 1).checkpoint
    rewritten = [*s.leaves[:5], merkle.leaf_hash(b"rewritten"), *s.leaves[6:]]
    # The log presents a proof that is honest about its new tree, but it cannot connect it
    # to the root already cosigned.
    with pytest.raises(InconsistencyAlarm, match="not an extension of size 20"):
        s.witness.cosign(prev, s.signed(30, rewritten), s.proof(20, 30, rewritten), 2)
    with pytest.raises(InconsistencyAlarm, match="wrong size"):
        s.witness.cosign(prev, s.signed(30), s.proof(20, 30)[:-1], 2)
    bad = s.proof(20, 30)
    bad[0] = bytes(32)
    with pytest.raises(InconsistencyAlarm, match="mismatch"):
        s.witness.cosign(prev, s.signed(30), bad, 2)
    with pytest.raises(InconsistencyAlarm, match="empty proof"):
        s.witness.cosign(None, s.signed(30), s.proof(20, 30), 2)


def test_witness_other_origin() -> None:
    s = Setup()
    prev = Checkpoint("elsewhere.example/log", 3, merkle.root_from_leaf_hashes(s.leaves[:3]))
    with pytest.raises(BadSignatureAlarm, match="differs from the witnessed"):
        s.witness.cosign(prev, s.signed(7), s.proof(3, 7), 1)


DOC_EXAMPLE = (
    "authority-a.example/parley\n"
    "5\n"
    "fKo0Xb2JKmZFTWxlEuo8PqPw0+whvj/C4jdXBf049nI=\n"
    "\n"
    "— authority-a.example/parley Kh7iRxZGQ5HjGWEHEVqREtik0BY6nKA7UBk299i2s/"
    "F4Gqm6x9jPfJSvh43iTM7B0/J5dNVydCt4B/cqF5CHgxO2mAg=\n"
    "— authority-b.example/parley k9W2RwAAAABpVbkAZYsf6A7kBD9pqMHaXh9sIOfmd3wM3lREJen273DnG"
    "rMmZ35kussaN6fxjqdhxCeSZ+CqGJ21ghu0288WlYvkAQ==\n"
)


def test_documented_example() -> None:
    """docs/record-format.md shows this exact output; keep the two in step."""
    log_key = SigningKeyPair(bytes(range(32)))
    witness_key = SigningKeyPair(bytes(range(32, 64)))
    leaves = [merkle.leaf_hash(f"entry {i}".encode()) for i in range(5)]
    cp = Checkpoint(ORIGIN, 5, merkle.root_from_leaf_hashes(leaves))
    signed = sign_checkpoint(cp, log_key)
    assert signed + cosign(cp.body(), WITNESS, witness_key, 1767225600) == DOC_EXAMPLE
    log_verifier = Ed25519Verifier(ORIGIN, log_key.public)
    cosigner = CosignatureVerifier(WITNESS, witness_key.public)
    assert log_verifier.vkey() == (
        "authority-a.example/parley+2a1ee247+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"
    )
    assert cosigner.vkey() == (
        "authority-b.example/parley+93d5b647+BCmsuuFBvMrwsi4alNNNC8c2HlJtC/4SyJeUvJMilm3X"
    )
    assert len(verify_note(DOC_EXAMPLE, [log_verifier, cosigner]).signatures) == 2
