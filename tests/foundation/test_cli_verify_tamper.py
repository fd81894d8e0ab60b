"""``parley verify`` passes on an intact record and names the first broken thing otherwise.

The database is tampered with by SQL, as an attacker with write access to it would: a byte
flipped inside the stored bytes of an envelope, an indexed column changed, an envelope
deleted, a status record or charter edited. Each time ``verify`` must exit non-zero with one
line naming the message (or record) and the step that failed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from foundation_support import Cli, Pair, connect, make_pair, open_channel
from sqlalchemy import Connection, text

from parley.errors import VerificationError
from parley.messaging.integrity import verify_store
from parley.node import Node


def _send_three(cli: Cli, home: Path) -> list[str]:
    ids = []
    for words, status in (("First", "ACTUAL"), ("Second", "EXERCISE"), ("Third", "TEST")):
        out = cli.ok(
            "--home",
            home,
            "send",
            "--channel",
            "direct-line",
            "--text",
            f"{words} message",
            "--status",
            status,
        )
        ids.append(out.out.split()[-1])  # send's report ends with the id
    return ids


def _raw(conn: Connection, message_id: str) -> bytes:
    return bytes(
        conn.execute(text("select raw from envelopes where id = :i"), {"i": message_id}).scalar_one()
    )


def _set_raw(conn: Connection, message_id: str, raw: bytes) -> None:
    conn.execute(text("update envelopes set raw = :r where id = :i"), {"r": raw, "i": message_id})


def _replace_in_raw(old: bytes, new: bytes) -> Callable[[bytes], bytes]:
    def edit(raw: bytes) -> bytes:
        assert raw.count(old) >= 1, (old, raw)
        return raw.replace(old, new, 1)

    return edit


def _flip_signature_pad_bits(raw: bytes) -> bytes:
    """Change the last base64 digit of the signature without changing the decoded bytes."""
    wire = json.loads(raw)
    sig: str = wire["signature"]
    assert sig.endswith("==")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet.index(sig[-3])
    same_bytes = alphabet[(last & ~0x0F) | ((last + 1) & 0x0F)]
    return raw.replace(sig.encode(), (sig[:-3] + same_bytes + "==").encode())


def _flip_signature_middle(raw: bytes) -> bytes:
    sig = json.loads(raw)["signature"]
    middle = sig[40]
    return raw.replace(sig.encode(), (sig[:40] + ("A" if middle != "A" else "B") + sig[41:]).encode())


def _flip_hash_digit(raw: bytes) -> bytes:
    h = json.loads(raw)["hash"]
    digit = h[-1]
    return raw.replace(h.encode(), (h[:-1] + ("0" if digit != "0" else "1")).encode())


def _flip_key_id(raw: bytes) -> bytes:
    k = json.loads(raw)["key_id"]
    return raw.replace(
        f'"key_id":"{k}"'.encode(), f'"key_id":"{k[:-1]}{"0" if k[-1] != "0" else "1"}"'.encode()
    )


TAMPERS = {
    "body text": (_replace_in_raw(b"Second", b"Secund"), "4 hash"),
    "seq": (_replace_in_raw(b'"seq":2', b'"seq":3'), "4 hash"),
    "status in the envelope": (_replace_in_raw(b'"EXERCISE"', b'"ACTUAL"'), "4 hash"),
    "content hash": (_flip_hash_digit, "4 hash"),
    "key id": (_flip_key_id, "5 key"),
    "signature byte": (_flip_signature_middle, "6 signature"),
    "signature pad bits": (_flip_signature_pad_bits, "6 signature"),
    "not JSON any more": (lambda raw: b"[" + raw[1:], "1 shape"),
    "extra field": (_replace_in_raw(b'"refs":[]', b'"refs":[],"x":1'), "1 shape"),
}


@pytest.mark.parametrize("tamper", sorted(TAMPERS))
def test_a_tampered_envelope_is_named_with_its_step(cli: Cli, linked: Pair, tamper: str) -> None:
    ids = _send_three(cli, linked.a)
    assert "3 envelopes on 1 chain," in cli.ok("--home", linked.a, "verify").out
    edit, step = TAMPERS[tamper]
    with connect(linked.a) as conn:
        before = _raw(conn, ids[1])
        after = edit(before)
        assert after != before
        _set_raw(conn, ids[1], after)
    cli.fails("--home", linked.a, "verify", what=rf"^{step}: message {ids[1]}: ", todo=None)


INDEX_TAMPERS = {
    "precedence": "update envelopes set precedence = 'FLASH' where id = :i",
    "status": "update envelopes set status = 'ACTUAL' where id = :i",
    "type": "update envelopes set type = 'incident-at-sea' where id = :i",
    "sender_desk": "update envelopes set sender_desk = 'someone-else' where id = :i",
    "created": "update envelopes set created = '2020-01-01T00:00:00.000Z' where id = :i",
    "hash": "update envelopes set hash = 'sha256:' || repeat('0', 64) where id = :i",
    "outgoing": "update envelopes set outgoing = false where id = :i",
}


@pytest.mark.parametrize("column", sorted(INDEX_TAMPERS))
def test_a_changed_index_column_is_caught(cli: Cli, linked: Pair, column: str) -> None:
    ids = _send_three(cli, linked.a)
    sql = INDEX_TAMPERS[column]
    with connect(linked.a) as conn:
        if conn.dialect.name == "sqlite":
            sql = sql.replace("repeat('0', 64)", "'" + "0" * 64 + "'")
        assert conn.execute(text(sql), {"i": ids[1]}).rowcount == 1
    cli.fails(
        "--home",
        linked.a,
        "verify",
        what=rf"^8 index: message {ids[1]}: stored {column} differs",
        todo=None,
    )


def test_a_deleted_middle_envelope_breaks_the_chain(cli: Cli, linked: Pair) -> None:
    ids = _send_three(cli, linked.a)
    with connect(linked.a) as conn:
        conn.execute(text("delete from envelopes where id = :i"), {"i": ids[1]})
    cli.fails(
        "--home",
        linked.a,
        "verify",
        what=rf"^7 chain: message {ids[2]}: expected seq 2, got 3",
        todo=None,
    )


def test_a_deleted_last_envelope_no_longer_matches_the_head(cli: Cli, linked: Pair) -> None:
    ids = _send_three(cli, linked.a)
    with connect(linked.a) as conn:
        conn.execute(text("delete from envelopes where id = :i"), {"i": ids[2]})
    cli.fails(
        "--home",
        linked.a,
        "verify",
        what=r"^7 chain: chain head of no-njhq in direct-line",
        todo=None,
    )


def test_deleting_every_envelope_of_a_chain_is_caught(cli: Cli, linked: Pair) -> None:
    _send_three(cli, linked.a)
    with connect(linked.a) as conn:
        conn.execute(text("delete from envelopes"))
    cli.fails("--home", linked.a, "verify", what=r"^7 chain: chain head of no-njhq", todo=None)


def test_an_edited_status_record_is_caught(cli: Cli, linked: Pair) -> None:
    cli.ok(
        "--home",
        linked.a,
        "channel",
        "suspend",
        "direct-line",
        "--reason",
        "storm",
        "--exempt",
        "general",
    )
    cli.ok("--home", linked.a, "verify")
    with connect(linked.a) as conn:
        raw = bytes(conn.execute(text("select raw from status_records")).scalar_one())
        conn.execute(text("update status_records set raw = :r"), {"r": raw.replace(b"storm", b"sturm")})
    cli.fails("--home", linked.a, "verify", what=r"^status: signature on the status record", todo=None)


def test_a_status_column_that_contradicts_the_signed_history_is_caught(cli: Cli, linked: Pair) -> None:
    cli.ok("--home", linked.a, "channel", "suspend", "direct-line", "--reason", "storm")
    with connect(linked.a) as conn:
        conn.execute(text("update channels set status = 'active'"))
    cli.fails(
        "--home",
        linked.a,
        "verify",
        what=r"^status: channel direct-line: stored status differs",
        todo=None,
    )


def test_an_edited_charter_is_caught(cli: Cli, linked: Pair) -> None:
    with connect(linked.a) as conn:
        doc = conn.execute(text("select charter from channels")).scalar_one()
        edited = doc.replace(
            '"types":["general","incident-at-sea"]',
            '"types":["border-incident","general","incident-at-sea"]',
        )
        assert edited != doc
        conn.execute(text("update channels set charter = :c"), {"c": edited})
    cli.fails("--home", linked.a, "verify", what=r"^charter: 'no-njhq''s signature", todo=None)


def test_every_single_byte_change_in_a_stored_envelope_is_caught(cli: Cli, tmp_path: Path) -> None:
    """Exhaustive, on SQLite: each byte of one stored envelope, replaced by two other values."""
    linked = make_pair(cli, tmp_path, "sqlite")
    open_channel(cli, linked)
    ids = _send_three(cli, linked.a)
    node = Node.open(linked.a)
    try:
        with node.engine.begin() as conn:
            original = _raw(conn, ids[1])
        missed = []
        for i in range(len(original)):
            for new in {original[i] ^ 0x01, original[i] ^ 0x20} - {original[i]}:
                changed = original[:i] + bytes([new]) + original[i + 1 :]
                with node.engine.begin() as conn:
                    _set_raw(conn, ids[1], changed)
                try:
                    verify_store(node)
                except VerificationError:
                    continue
                missed.append((i, chr(original[i]), chr(new)))
        assert missed == []
    finally:
        node.close()
