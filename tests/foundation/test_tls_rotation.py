"""TLS certificate rotation by signed card update (docs/protocol.md §13.7), without processes.

The update document is checked on its own (forged signature, another node's, malformed
``keep``: each refused by its code). Then two real homes, on SQLite and PostgreSQL: the
node announces a new certificate (the old one still served), the peer takes the update as
it would come over the link and pins both; a forged update is refused with an alarm and
changes nothing; once the peer has acknowledged, the node switches its files and queues the
second update, after which the peer pins only the new certificate. The serving side (the
live reload) is exercised with real processes in tests/record_integration.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from foundation_support import NO, RU, Cli, Pair, snapshot
from sqlalchemy import select

from parley.errors import ParleyError
from parley.protocol import signing, tlsupdate
from parley.protocol.card import make_card
from parley.protocol.keys import SigningKeyPair
from parley.protocol.tls import fingerprint_of_pem, make_self_signed


def card_for(key: SigningKeyPair, name: str = NO) -> Any:
    pem = make_self_signed("127.0.0.1", name)[0].decode()
    return make_card(
        key=key,
        name=name,
        party="Norway",
        url="https://127.0.0.1:18443",
        tls_cert_pem=pem,
        tls_fingerprint=fingerprint_of_pem(pem),
    )


def test_update_document_refusals() -> None:
    key, other = SigningKeyPair.generate(), SigningKeyPair.generate()
    old = "sha256:" + "a" * 64
    doc = tlsupdate.make_update(key, card_for(key), number=1, issued="2026-12-07T20:00:00.000Z", keep=[old])
    upd = tlsupdate.parse_update(doc, node=NO, key=key.public)
    assert upd.keep == (old,)
    assert upd.number == 1

    def refused(data: Any, code: str, node: str = NO) -> None:
        with pytest.raises(ParleyError) as exc:
            tlsupdate.parse_update(data, node=node, key=key.public)
        assert exc.value.code == code, exc.value.message

    forged = {**doc, "signature": signing.sign("tls-update", doc["tls_update"], other)}
    refused(forged, "bad_tls_update_signature")
    refused(doc, "wrong_sender", node=RU)
    for change in ({"keep": ["sha1:abc"]}, {"keep": [old, old]}, {"number": 0}, {"issued": "yesterday"}):
        body = {**doc["tls_update"], **change}
        refused({"tls_update": body, "signature": signing.sign("tls-update", body, key)}, "bad_tls_update")
    refused({**doc, "extra": 1}, "bad_tls_update")
    # Altered after signing (another number): the signature no longer covers it.
    refused({**doc, "tls_update": {**doc["tls_update"], "number": 2}}, "bad_tls_update_signature")
    # Signed by the right key but carrying another node's card.
    body = {**doc["tls_update"], "card": card_for(key, RU).to_json()}
    refused({"tls_update": body, "signature": signing.sign("tls-update", body, key)}, "wrong_sender")


def queued(home: Path) -> list[tuple[int, dict[str, Any]]]:
    """The TLS updates queued for the peer, not yet delivered (id, document)."""
    from foundation_support import connect

    from parley.storage.tables import control_outbox

    with connect(home) as conn:
        rows = conn.execute(
            select(control_outbox.c.id, control_outbox.c.payload).where(
                control_outbox.c.kind == "key", control_outbox.c.delivered_at.is_(None)
            )
        ).all()
    return [(r.id, json.loads(r.payload)) for r in rows if "tls_update" in r.payload]


def pins(home: Path, peer: str) -> set[str]:
    from parley.directory.tls_rotation import pinned_certs_txn
    from parley.node import Node

    node = Node.open(home)
    try:
        with node.reader.connect() as conn:
            return set(pinned_certs_txn(conn, peer))
    finally:
        node.close()


def test_rotation_announce_switch_finish(cli: Cli, pair: Pair) -> None:
    from parley.directory.control_outbox import mark_delivered
    from parley.directory.keys import apply_peer_document
    from parley.directory.tls_rotation import finish_switch, switch_if_acknowledged
    from parley.node import Node

    old_pem = (pair.a / "tls" / "cert.pem").read_text()
    old_fp = fingerprint_of_pem(old_pem)
    announced = cli.ok("--home", pair.a, "tls", "rotate", "--json").json()
    assert announced["phase"] == "announced"
    assert announced["serving"] == old_fp
    new_fp = announced["new"]
    assert announced["waiting_for"] == [RU]
    # The old pair is still served; the new one waits next to it.
    assert (pair.a / "tls" / "cert.pem").read_text() == old_pem
    assert fingerprint_of_pem((pair.a / "tls" / "next-cert.pem").read_text()) == new_fp
    assert (pair.a / "tls" / "next-key.pem").stat().st_mode & 0o077 == 0
    cli.fails("--home", pair.a, "tls", "rotate", what="already under way", todo="tls status")

    [(item, first)] = queued(pair.a)
    assert first["tls_update"]["keep"] == [old_fp]
    a, b = Node.open(pair.a), Node.open(pair.b)
    try:
        # A forged update (another key signed it): refused, an alarm, nothing else changes.
        before = snapshot(pair.b)
        forged = {
            **first,
            "signature": signing.sign("tls-update", first["tls_update"], SigningKeyPair.generate()),
        }
        with pytest.raises(ParleyError) as exc:
            apply_peer_document(b, NO, forged)
        assert exc.value.code == "bad_tls_update_signature"
        assert "not signed by its pinned key" in exc.value.message
        after = snapshot(pair.b)
        assert after["tables"]["alarms"] != before["tables"]["alarms"]
        assert {k: v for k, v in after["tables"].items() if k != "alarms"} == {
            k: v for k, v in before["tables"].items() if k != "alarms"
        }
        alarms = cli.ok("--home", pair.b, "status", "--json").json()["alarms"]
        assert [(x["kind"], x["severity"]) for x in alarms] == [("tls_update_forged", "security")]

        # The real one: both certificates pinned (the overlap); delivered again, nothing changes.
        assert apply_peer_document(b, NO, first) is True
        assert apply_peer_document(b, NO, first) is False
        assert pins(pair.b, NO) == {old_fp, new_fp}

        # Not switched before the peer acknowledged; then switched, the old pair kept.
        assert switch_if_acknowledged(a) is False
        mark_delivered(a, item)
        assert switch_if_acknowledged(a) is True
        assert fingerprint_of_pem((pair.a / "tls" / "cert.pem").read_text()) == new_fp
        assert (pair.a / "tls" / "previous-cert.pem").read_text() == old_pem
        assert not (pair.a / "tls" / "next-cert.pem").exists()
        second = finish_switch(a)
        assert second is not None
        assert second["tls_update"]["keep"] == []
        assert finish_switch(a) is None  # queued once
        assert cli.ok("--home", pair.a, "tls", "status", "--json").json()["phase"] == "switched"

        assert apply_peer_document(b, NO, second) is True
        assert pins(pair.b, NO) == {new_fp}
        # The first update again, after the second: already held, it changes nothing.
        assert apply_peer_document(b, NO, first) is False
        assert pins(pair.b, NO) == {new_fp}
        # Another document under a number already passed: refused as a replay.
        body = {**first["tls_update"], "issued": "2026-12-07T21:00:00.000Z"}
        replay = {"tls_update": body, "signature": signing.sign("tls-update", body, a.key)}
        with pytest.raises(ParleyError) as exc:
            apply_peer_document(b, NO, replay)
        assert exc.value.code == "tls_update_replayed"
    finally:
        a.close()
        b.close()
    for item, _ in queued(pair.a):
        node = Node.open(pair.a)
        try:
            mark_delivered(node, item)
        finally:
            node.close()
    assert cli.ok("--home", pair.a, "tls", "status", "--json").json()["phase"] == "done"
    # The peer's pinned card is the new one; the node's own card carries the new certificate.
    peers = {p["name"]: p for p in cli.ok("--home", pair.b, "peer", "list", "--json").json()}
    assert peers[NO]["tls_fingerprint"] == new_fp
    card = pair.files / "no-card-new.json"
    cli.ok("--home", pair.a, "identity", "--out", card)
    assert json.loads(card.read_text())["card"]["tls_fingerprint"] == new_fp
    # The card from before the rotation is refused by hand, as any other certificate is.
    cli.fails("--home", pair.b, "peer", "add", pair.files / "no-card.json", what="another certificate")


def test_rotation_without_peers_switches_at_once(cli: Cli, tmp_path: Path) -> None:
    home = tmp_path / "solo"
    cli.ok("--home", home, "init", "--name", "solo", "--party", "Norway", "--listen", "127.0.0.1:17443")
    old_fp = fingerprint_of_pem((home / "tls" / "cert.pem").read_text())
    done = cli.ok("--home", home, "tls", "rotate", "--json").json()
    assert done["phase"] == "done"
    assert done["serving"] == done["new"] != old_fp
    assert "rotation finished" in cli.ok("--home", home, "tls", "status").out


def test_interrupted_steps_are_finished_or_named(cli: Cli, pair: Pair) -> None:
    from parley.directory.control_outbox import mark_delivered
    from parley.directory.tls_rotation import (
        NEXT_CERT,
        NEXT_KEY,
        finish_interrupted_switch,
        finish_switch,
        switch_if_acknowledged,
    )
    from parley.node import Node

    tls = pair.a / "tls"
    # Files left by a `tls rotate` that stopped before it stored its update: named, not reused.
    (pair.a / NEXT_KEY).write_text("left over")
    cli.fails("--home", pair.a, "tls", "rotate", what="interrupted rotation", todo="delete")
    assert not (pair.a / NEXT_CERT).exists()
    (pair.a / NEXT_KEY).unlink()

    new_fp = cli.ok("--home", pair.a, "tls", "rotate", "--json").json()["new"]
    [(item, _)] = queued(pair.a)
    node = Node.open(pair.a)
    try:
        mark_delivered(node, item)
        # A crash between the two renames: the new key is served with the old certificate.
        (tls / "previous-key.pem").write_bytes((tls / "key.pem").read_bytes())
        (pair.a / NEXT_KEY).replace(tls / "key.pem")
        assert not finish_interrupted_switch(pair.b)  # nothing to finish elsewhere
        assert finish_interrupted_switch(pair.a)
        assert fingerprint_of_pem((tls / "cert.pem").read_text()) == new_fp
        # Switched, then a crash before the second update: the next round queues it.
        assert switch_if_acknowledged(node) is True
        second = finish_switch(node)
        assert second is not None
        assert second["tls_update"]["keep"] == []
        assert switch_if_acknowledged(node) is False
    finally:
        node.close()
