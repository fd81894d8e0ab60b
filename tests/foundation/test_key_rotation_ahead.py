"""An operational-key rotation dated ahead, installed while the node would serve (§13.4).

Two real homes (the Norwegian one on SQLite and on PostgreSQL) with a channel: the root
signs a rotation effective a little later; ``--apply`` installs it without stopping the
node and leaves the old key signing. With an injected clock, the node schedules the new key:
an envelope dated a millisecond before the effective time is signed with the old key, one
dated at it with the new key, and the peer, holding the rotation, takes both. Past the time
the new key becomes ``identity.key``. A rotation dated too soon is refused, changing nothing.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from foundation_support import NO, NO_DESK, Cli, Pair, connect

from parley.clock import ManualClock, format_time, parse_time
from parley.directory.key_tables import key_records
from parley.directory.keys import PENDING_KEY_FILE, apply_peer_document
from parley.messaging.receive import receive_batch
from parley.messaging.send import Draft, do_send_message
from parley.node import Node
from parley.protocol.card import parse_card


def send(node: Node, text: str) -> dict[str, object]:
    draft = Draft("direct-line", NO_DESK, "general", "ROUTINE", "EXERCISE", {"text": text, "lang": "en"})
    return do_send_message(node, draft).to_wire()


def check_requests(a: Node, b: Node, clock: ManualClock, at: datetime) -> None:
    from parley.errors import AuthError
    from parley.federation.auth import authenticate_request, sign_request

    path, body = "/federation/v1/linktest", b"{}"
    b.clock = clock  # both sides read the same injected time
    clock.set(at - timedelta(seconds=1))
    old_signed = sign_request(a, "POST", path, b.name, body)
    assert authenticate_request(b, "POST", path, old_signed, body).origin == NO
    clock.set(at)
    new_signed = sign_request(a, "POST", path, b.name, body)  # the new key, from its time
    assert authenticate_request(b, "POST", path, new_signed, body).origin == NO
    # The old key for a request dated from the time on: refused.
    scheduled, a.next_key = a.next_key, None
    try:
        late = sign_request(a, "POST", path, b.name, body)
    finally:
        a.next_key = scheduled
    with pytest.raises(AuthError) as refused:
        authenticate_request(b, "POST", path, late, body)
    assert refused.value.code == "bad_request_signature"


def test_rotation_dated_ahead_switches_at_its_time(cli: Cli, linked: Pair, tmp_path: Path) -> None:
    root = tmp_path / "offline" / "no-root.key"
    root.parent.mkdir()
    cli.ok("--home", linked.a, "key", "root", "init", "--out", root)
    cli.ok("--home", linked.a, "key", "certify", "--root", root)
    upgraded = linked.files / "no-card-v2.json"  # the peer pins the root (over the link, or so)
    cli.ok("--home", linked.a, "identity", "--out", upgraded)
    cli.ok("--home", linked.b, "peer", "add", upgraded)
    old_key = (linked.a / "identity.key").read_text()

    probe = Node.open(linked.a)
    now = probe.clock.now()
    probe.close()
    soon = format_time(now + timedelta(seconds=3))
    cli.fails(
        "--home", linked.a, "key", "rotate", "--root", root, "--effective", soon, what="less than 10 seconds"
    )
    assert not (linked.a / PENDING_KEY_FILE).exists()

    effective = format_time(now + timedelta(minutes=10))
    out = cli.ok("--home", linked.a, "key", "rotate", "--root", root, "--effective", effective).out
    assert f"signs from {effective}" in out
    # Installed ahead: the old key still signs, the new one waits for its time.
    assert (linked.a / "identity.key").read_text() == old_key
    assert (linked.a / PENDING_KEY_FILE).exists()
    keys = cli.ok("--home", linked.a, "key", "history", "--json").json()["keys"]
    old_id, new_id = keys[0]["key_id"], keys[1]["key_id"]
    assert keys[1]["valid_from"] == effective
    # Until then the node's card is signed by the old key, with the old key's certificate.
    card_file = linked.files / "no-card-ahead.json"
    cli.ok("--home", linked.a, "identity", "--out", card_file)
    assert parse_card(json.loads(card_file.read_text())).key_id == old_id

    from parley.directory.key_swap import take_up_rotation

    at = parse_time(effective)
    clock = ManualClock(at - timedelta(minutes=5))
    a, b = Node.open(linked.a, clock=clock), Node.open(linked.b)
    try:
        assert a.key.public.key_id == old_id  # opening the home does not take the key up early
        assert take_up_rotation(a) == "scheduled"
        assert take_up_rotation(a) is None  # once
        clock.set(at - timedelta(milliseconds=1))
        before = send(a, "before")
        clock.set(at)
        after = send(a, "after")
        assert before["key_id"] == old_id
        assert after["key_id"] == new_id
        # The peer takes the rotation (queued for it), then both envelopes.
        with connect(linked.a) as conn:
            doc = json.loads(conn.execute(key_records.select()).first().raw)  # type: ignore[union-attr]
        assert apply_peer_document(b, NO, doc) is True
        result = receive_batch(b, NO, [before, after])
        assert len(result.stored) == 2
        # The peer, holding the rotation, takes requests by the key valid at their time.
        check_requests(a, b, clock, at)
        # A TLS update made just before the time: signed by the old key, with its
        # certificate; the peer, already holding the rotation, takes it by its issued time.
        from parley.directory.tls_rotation import latest_own_update, start_rotation

        clock.set(at - timedelta(seconds=1))
        start_rotation(a)
        with a.reader.connect() as conn:
            update = latest_own_update(conn, a)
        assert update is not None
        assert update.card.key_id == old_id
        clock.set(at)
        assert apply_peer_document(b, NO, update.doc) is True
        # Past the time: the new key becomes identity.key and signs everything.
        clock.advance(1)
        assert take_up_rotation(a) == "switched"
        assert a.key.public.key_id == new_id
        assert not (linked.a / PENDING_KEY_FILE).exists()
    finally:
        a.close()
        b.close()
    assert (linked.a / "identity.key").read_text() != old_key
    cli.ok("--home", linked.a, "verify")
    cli.ok("--home", linked.b, "verify")
