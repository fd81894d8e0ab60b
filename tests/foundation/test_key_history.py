"""Keys in two levels (docs/protocol.md §13): certificates, rotations, revocations.

The formats are checked on their own (bad signature, wrong root, expired certificate,
replayed or stale rotation: each refused by its code), then through the real CLI on two
homes: the migration of a node made before roots (its peer takes the upgraded card because
the key it pinned signed it), a rotation by request file, and the peer taking the rotation
and revocation and verifying envelopes across them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from foundation_support import NO, RU, Cli, Pair

from parley.clock import format_time
from parley.errors import ParleyError, VerificationError
from parley.protocol import keyhistory as kh
from parley.protocol.envelope import build_envelope
from parley.protocol.keys import SigningKeyPair
from parley.protocol.verify import verify_envelope

NODE = "no-njhq"
T0 = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)


def at(minutes: float) -> str:
    return format_time(T0 + timedelta(minutes=minutes))


def envelope(key: SigningKeyPair, minutes: float, seq: int = 1) -> dict[str, Any]:
    env = build_envelope(
        key=key,
        channel="direct-line",
        sender_node=NODE,
        sender_desk="duty",
        seq=seq,
        prev=None if seq == 1 else "sha256:" + "0" * 64,
        created=T0 + timedelta(minutes=minutes),
        type="general",
        type_version=1,
        precedence="ROUTINE",
        status="ACTUAL",
        body={"text": "x", "lang": "en"},
    )
    return env.to_wire()


class World:
    """A root, a first key certified from the epoch, and helpers to rotate and revoke."""

    def __init__(self) -> None:
        self.root = SigningKeyPair.generate()
        self.keys = [SigningKeyPair.generate()]
        first = kh.make_cert(NODE, self.keys[0].public, valid_from=kh.EPOCH, serial=1)
        self.first = kh.sign_cert(first, self.root)
        self.history = kh.KeyHistory.start(
            NODE, self.root.public, kh.parse_cert(self.first, self.root.public, node=NODE)
        )

    def rotation(
        self, minutes: float, *, root: SigningKeyPair | None = None, old: bool = True
    ) -> dict[str, Any]:
        signer = root or self.root
        new = SigningKeyPair.generate()
        serial = self.history.serial + 1
        cert = kh.sign_cert(kh.make_cert(NODE, new.public, valid_from=at(minutes), serial=serial), signer)
        record = kh.rotation_record(
            NODE,
            serial=serial,
            old_key_id=self.keys[-1].public.key_id,
            certificate=cert,
            effective=at(minutes),
        )
        doc = kh.sign_record(record, signer)
        if old:
            doc = kh.add_old_signature(doc, self.keys[-1])
        self.keys.append(new)
        return doc

    def apply(self, doc: dict[str, Any], now: float = 0) -> None:
        self.history = self.history.apply(kh.parse_record(doc, self.root.public, node=NODE), now=at(now))


def code_of(fn: Any) -> str:
    with pytest.raises(ParleyError) as info:
        fn()
    return str(info.value.code)


def test_certificate_refusals() -> None:
    w = World()
    other_root = SigningKeyPair.generate()
    assert kh.parse_cert(w.first, w.root.public, node=NODE).key_id == w.keys[0].public.key_id
    tampered = json.loads(json.dumps(w.first))
    tampered["cert"]["valid_from"] = at(0)
    assert code_of(lambda: kh.parse_cert(tampered, w.root.public, node=NODE)) == "bad_root_signature"
    assert code_of(lambda: kh.parse_cert(w.first, other_root.public, node=NODE)) == "bad_root_signature"
    assert code_of(lambda: kh.parse_cert(w.first, w.root.public, node="ru-nf")) == "bad_key_document"
    expiring = kh.sign_cert(
        kh.make_cert(NODE, w.keys[0].public, valid_from=at(0), valid_until=at(60), serial=1), w.root
    )
    kh.parse_cert(expiring, w.root.public, node=NODE, now=at(59))
    assert (
        code_of(lambda: kh.parse_cert(expiring, w.root.public, node=NODE, now=at(60)))
        == "certificate_expired"
    )
    bad_time = kh.sign_cert({**w.first["cert"], "valid_from": "2026-12-01 07:00"}, w.root)
    assert code_of(lambda: kh.parse_cert(bad_time, w.root.public, node=NODE)) == "bad_key_document"


def test_rotation_keeps_old_signatures_and_refuses_replays() -> None:
    w = World()
    before = envelope(w.keys[0], 5)
    r1 = w.rotation(10)
    w.apply(r1)
    assert w.history.current_id == w.keys[1].public.key_id
    # Signed by the old key before the rotation, by the new one after: both verify.
    verify_envelope(before, lambda n: w.history if n == NODE else None)
    verify_envelope(envelope(w.keys[1], 11), lambda n: w.history if n == NODE else None)
    # The old key after the rotation, the new one before it: refused, by code.
    with pytest.raises(VerificationError) as late:
        verify_envelope(envelope(w.keys[0], 11), lambda n: w.history)
    assert late.value.code == "key_not_valid"
    assert late.value.step == "5 key"
    with pytest.raises(VerificationError):
        verify_envelope(envelope(w.keys[1], 9), lambda n: w.history)
    # Other objects (receipts, status records) verify with any unrevoked key of the history.
    assert w.history.verify(b"m", w.keys[0].sign(b"m"))
    assert w.history.verify(b"m", w.keys[1].sign(b"m"))

    r2 = w.rotation(20)
    w.apply(r2)
    # The first rotation again: older than the last record applied.
    assert code_of(lambda: w.apply(r1)) == "key_record_replayed"
    # A rotation of a key that is no longer current (a fork of the history).
    fork = World()
    fork.root, fork.history = w.root, w.history
    fork.keys = [w.keys[0]]
    assert code_of(lambda: fork.apply(fork.rotation(30))) == "key_record_stale"


def test_rotation_refusals() -> None:
    w = World()
    other_root = SigningKeyPair.generate()
    wrong = w.rotation(10, root=other_root)
    assert code_of(lambda: kh.parse_record(wrong, w.root.public, node=NODE)) == "bad_root_signature"
    w.keys.pop()
    good = w.rotation(10)
    tampered = json.loads(json.dumps(good))
    tampered["record"]["effective"] = at(9)
    assert code_of(lambda: kh.parse_record(tampered, w.root.public, node=NODE)) == "bad_root_signature"
    forged_old = {**good, "old_signature": kh.add_old_signature(good, other_root)["old_signature"]}
    assert code_of(lambda: w.apply(forged_old)) == "bad_key_signature"
    # A new certificate that expired before it reached the verifier.
    w2 = World()
    new = SigningKeyPair.generate()
    cert = kh.sign_cert(
        kh.make_cert(NODE, new.public, valid_from=at(10), valid_until=at(20), serial=2), w2.root
    )
    rec = kh.rotation_record(
        NODE, serial=2, old_key_id=w2.keys[0].public.key_id, certificate=cert, effective=at(10)
    )
    doc = kh.sign_record(rec, w2.root)
    assert code_of(lambda: w2.apply(doc, now=30)) == "certificate_expired"
    w2.apply(doc, now=15)


def test_revocation() -> None:
    w = World()
    w.apply(w.rotation(10))
    old = w.keys[0].public.key_id
    revoke = kh.sign_record(
        kh.revocation_record(NODE, serial=3, key_id=old, effective=at(5), reason="laptop stolen"), w.root
    )
    w.apply(revoke)
    ring = w.history
    verify_envelope(envelope(w.keys[0], 4), lambda n: ring)
    with pytest.raises(VerificationError) as refused:
        verify_envelope(envelope(w.keys[0], 6), lambda n: ring)
    assert refused.value.code == "key_revoked"
    assert refused.value.details == {"key_id": old, "revoked_at": at(5)}
    # Dated objects (receipts, status records): the revoked key counts only before the revocation.
    assert not ring.dated(at(6)).verify(b"m", w.keys[0].sign(b"m"))
    assert ring.dated(at(4)).verify(b"m", w.keys[0].sign(b"m"))
    current = kh.sign_record(
        kh.revocation_record(NODE, serial=4, key_id=ring.current_id, effective=at(5), reason="-"), w.root
    )
    assert code_of(lambda: w.apply(current)) == "key_revoke_current"
    unsigned = {"record": revoke["record"], "signature": revoke["signature"][:-4] + "AAA="}
    assert code_of(lambda: kh.parse_record(unsigned, w.root.public, node=NODE)) == "bad_root_signature"


# -- through the CLI, on two homes -------------------------------------------------------------


def key_history(cli: Cli, home: Path) -> dict[str, Any]:
    data: dict[str, Any] = cli.ok("--home", home, "key", "history", "--json").json()
    return data


def test_migration_rotation_by_request_and_peer(cli: Cli, pair: Pair, tmp_path: Path) -> None:
    from parley.directory.key_tables import key_records
    from parley.directory.keys import apply_peer_document
    from parley.node import Node

    root = tmp_path / "offline" / "no-root.key"
    root.parent.mkdir()
    cli.fails("--home", pair.a, "key", "root", "init", "--out", pair.a / "root.key", what="must not be kept")
    cli.ok("--home", pair.a, "key", "root", "init", "--out", root)
    # Migration: the existing key becomes the operational key, certified by the new root.
    cli.ok("--home", pair.a, "key", "certify", "--root", root)
    hist = key_history(cli, pair.a)
    assert [k["valid_from"] for k in hist["keys"]] == [kh.EPOCH]
    upgraded = pair.files / "no-card-v2.json"
    cli.ok("--home", pair.a, "identity", "--out", upgraded)
    assert json.loads(upgraded.read_text())["card"]["protocol"] == "parley/2"
    # The peer takes it: it is signed by the key it pinned; a second time changes nothing.
    assert "pinned peer" in cli.ok("--home", pair.b, "peer", "add", upgraded).out
    assert "nothing changed" in cli.ok("--home", pair.b, "peer", "add", upgraded).out

    # Rotation by request file: the root signs elsewhere, the node installs it.
    request, signed = pair.files / "rotate.json", pair.files / "rotate.signed.json"
    cli.ok("--home", pair.a, "key", "rotate", "--request", request)
    other = tmp_path / "offline" / "other.key"
    cli.ok("key", "root", "init", "--out", other)
    cli.fails("key", "sign-request", request, "--root", other, "--out", signed, what="this root key is")
    cli.ok("key", "sign-request", request, "--root", root, "--out", signed)
    old_seed = (pair.a / "identity.key").read_text()
    cli.ok("--home", pair.a, "key", "rotate", "--apply", signed)
    assert "nothing changed" in cli.ok("--home", pair.a, "key", "rotate", "--apply", signed).out
    # An --apply interrupted after its commit, before the key file moved: the next command
    # on the home finishes the move.
    new_seed = (pair.a / "identity.key").read_text()
    (pair.a / "identity.key.pending").write_text(new_seed)
    (pair.a / "identity.key.pending").chmod(0o600)
    (pair.a / "identity.key").write_text(old_seed)
    cli.ok("--home", pair.a, "key", "history")
    assert (pair.a / "identity.key").read_text() == new_seed
    assert not (pair.a / "identity.key.pending").exists()
    hist = key_history(cli, pair.a)
    old_id, new_id = (k["key_id"] for k in hist["keys"])
    assert hist["keys"][1]["current"]
    assert hist["keys"][0]["valid_until"] == hist["keys"][1]["valid_from"]
    cli.ok("--home", pair.a, "verify")

    # The peer takes the rotation as it comes over the link (the queued control document).
    a, b = Node.open(pair.a), Node.open(pair.b)
    try:
        with a.reader.connect() as conn:
            doc = json.loads(conn.execute(key_records.select()).first().raw)  # type: ignore[union-attr]
        assert "old_signature" in doc  # the old key was at hand: it countersigned
        assert apply_peer_document(b, NO, doc) is True
        assert apply_peer_document(b, NO, doc) is False  # delivered again: nothing changes
        ring = b.key_for(NO)
        assert ring is not None
        assert ring.key_id == new_id
        assert isinstance(ring, kh.KeyHistory)
        assert set(ring.entries) == {old_id, new_id}
        # A record for another node, delivered by this one: refused.
        with pytest.raises(ParleyError) as wrong:
            apply_peer_document(a, RU, doc)
        assert wrong.value.code in ("no_root_pinned", "wrong_sender")
    finally:
        a.close()
        b.close()

    # Revoke the old key; the peer's copy of the record refuses what it signs afterwards.
    cli.ok(
        "--home", pair.a, "key", "revoke", old_id, "--effective", "2020-01-01T00:00:00.000Z", "--root", root
    )
    cli.fails(
        "--home",
        pair.a,
        "key",
        "revoke",
        new_id,
        "--effective",
        "2020-01-01T00:00:00.000Z",
        "--root",
        root,
        what="current key",
        todo="rotate",
    )
    assert key_history(cli, pair.a)["keys"][0]["revoked_at"] == "2020-01-01T00:00:00.000Z"


def test_rotation_before_the_upgraded_card_reached_the_peer(cli: Cli, pair: Pair, tmp_path: Path) -> None:
    """The node certifies and rotates before its link delivered the upgraded card: the queued
    card then travels in a request signed by the new key, which the peer cannot know yet. The
    card vouches for itself (the pinned key signed it), so both documents get through, in order."""
    from parley.directory.control_outbox import ROUTES, pending_control
    from parley.directory.keys import apply_peer_document
    from parley.errors import AuthError
    from parley.federation.auth import authenticate_request, sign_request
    from parley.node import Node

    root = tmp_path / "offline" / "no-root.key"
    root.parent.mkdir()
    cli.ok("--home", pair.a, "key", "root", "init", "--out", root)
    cli.ok("--home", pair.a, "key", "certify", "--root", root)
    cli.ok("--home", pair.a, "key", "rotate", "--root", root)
    new_id = key_history(cli, pair.a)["keys"][1]["key_id"]

    a, b = Node.open(pair.a), Node.open(pair.b)
    try:
        items = pending_control(a, RU)
        assert "card" in items[0][2], items
        assert '"key-rotation"' in json.dumps(items[1][2]), items

        def post(payload: dict[str, Any]) -> str:
            path = "/federation/v1" + ROUTES["key"]
            body = json.dumps(payload, separators=(",", ":")).encode()
            headers = sign_request(a, "POST", path, RU, body)
            return authenticate_request(b, "POST", path, headers, body).origin

        # The rotation first would not get through: no root is pinned for the request's key.
        with pytest.raises(AuthError) as early:
            post(items[1][2])
        assert early.value.code == "bad_request_signature"
        # Someone else's card, or one with another key, vouches for nothing.
        forged = json.loads(json.dumps(items[0][2]))
        forged["card"]["name"] = "ru-nf"
        with pytest.raises(AuthError):
            post(forged)
        # In order: the card (signed by the key b pinned), then the rotation (by the root).
        assert post(items[0][2]) == NO
        assert apply_peer_document(b, NO, items[0][2]) is True
        assert post(items[1][2]) == NO
        assert apply_peer_document(b, NO, items[1][2]) is True
        ring = b.key_for(NO)
        assert ring is not None
        assert ring.key_id == new_id
    finally:
        a.close()
        b.close()
