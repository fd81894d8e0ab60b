"""C2SP signed notes: the spec's and the Go reference's examples, and tampering."""

from __future__ import annotations

import base64

import pytest

from parley.protocol.keys import SigningKeyPair
from parley.record.note import (
    Ed25519Signer,
    Ed25519Verifier,
    NoteError,
    add_signatures,
    encode_vkey,
    key_id,
    parse_note,
    parse_vkey,
    sign_note,
    verify_note,
)

# From c2sp.org/signed-note, "Verifier keys" → "Example".
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n\n"
    "— example.com/foo "
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)

# From the documentation of golang.org/x/mod/sumdb/note (data only). Ed25519 is
# deterministic, so signing this text with this key must give this exact note.
GO_SKEY_MATERIAL = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"  # 0x01 || seed
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n— PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def go_keypair() -> SigningKeyPair:
    material = base64.b64decode(GO_SKEY_MATERIAL)
    assert material[0] == 0x01
    return SigningKeyPair(material[1:])


def test_spec_example_verifies() -> None:
    verifier = parse_vkey(SPEC_VKEY)
    assert verifier.name == "example.com/foo"
    assert verifier.key_id == 0x530D903A
    assert verifier.vkey() == SPEC_VKEY
    note = verify_note(SPEC_NOTE, [verifier])
    assert note.text == "This is an example message.\n"
    assert [s.name for s in note.signatures] == ["example.com/foo"]


def test_go_reference_sign_is_byte_exact() -> None:
    kp = go_keypair()
    assert encode_vkey("PeterNeumann", 0x01, kp.public.raw) == GO_VKEY
    assert key_id("PeterNeumann", 0x01, kp.public.raw) == 0xC74F20A3
    assert sign_note(GO_TEXT, "PeterNeumann", kp) == GO_NOTE
    assert verify_note(GO_NOTE, [parse_vkey(GO_VKEY)]).text == GO_TEXT
    assert str(parse_note(GO_NOTE)) == GO_NOTE


def test_roundtrip_and_cosigners() -> None:
    a, b = SigningKeyPair.generate(), SigningKeyPair.generate()
    text = "line one\n\nline three after an empty line\n"
    signed = sign_note(text, "a.example/log", a)
    both = add_signatures(signed, [Ed25519Signer("b.example/w", b)])
    va = Ed25519Verifier("a.example/log", a.public)
    vb = Ed25519Verifier("b.example/w", b.public)
    assert verify_note(both, [va]).text == text
    assert [s.name for s in verify_note(both, [va, vb]).signatures] == [
        "a.example/log",
        "b.example/w",
    ]
    assert parse_note(both).text == text


def test_unknown_keys_are_ignored_but_a_known_bad_one_rejects() -> None:
    a, other = SigningKeyPair.generate(), SigningKeyPair.generate()
    signed = sign_note("hello\n", "a.example", a)
    va = Ed25519Verifier("a.example", a.public)
    # Same name, different key: a different key ID, so the signature is just unknown.
    impostor = Ed25519Verifier("a.example", other.public)
    with pytest.raises(NoteError, match="not signed by any known key"):
        verify_note(signed, [impostor])
    extra = add_signatures(signed, [Ed25519Signer("z.example", other)])
    assert len(verify_note(extra, [va]).signatures) == 1
    # A known name and key ID with a bad signature rejects the whole note.
    sig = parse_note(signed).signatures[0]
    forged = signed.replace(
        base64.b64encode(sig.key_id.to_bytes(4, "big") + sig.signature).decode(),
        base64.b64encode(sig.key_id.to_bytes(4, "big") + bytes(64)).decode(),
    )
    with pytest.raises(NoteError, match=r"signature by a\.example \(key ID [0-9a-f]{8}\) is invalid"):
        verify_note(add_signatures(forged, [Ed25519Signer("a.example", a)]), [va])


@pytest.mark.parametrize(
    "tamper",
    [
        lambda n: n.replace("example message", "example massage"),
        lambda n: n.replace("This", "this", 1),
        lambda n: "X" + n,
    ],
)
def test_tampered_text_fails(tamper: object) -> None:
    assert callable(tamper)
    with pytest.raises(NoteError):
        verify_note(tamper(SPEC_NOTE), [parse_vkey(SPEC_VKEY)])


@pytest.mark.parametrize(
    ("note", "message"),
    [
        ("no blank line\n— a AAAAAAA=\n", "blank line"),
        ("text\n\n", "at least one signature"),
        ("text\n\n— a.example AAAAAAAA", "end with a newline"),
        ("text\n\n- a.example AAAAAAAA\n", "em dash"),
        ("text\n\n— a.example\n", "lacks a signature"),
        ("text\n\n— a.example !!!!\n", "not base64"),
        ("text\n\n— a.example AAAA\n", "too short"),
        ("text\n\n— a+b AAAAAAAA\n", "spaces or '\\+'"),
        ("te\txt\n\n— a.example AAAAAAAA\n", "control character U\\+0009"),
        ("text\r\n\n— a.example AAAAAAAA\n", "control character U\\+000D"),
        ("text\n\n" + "— a.example AAAAAAAA\n" * 101, "at most 100"),
    ],
)
def test_malformed_notes(note: str, message: str) -> None:
    with pytest.raises(NoteError, match=message):
        parse_note(note)


def test_invalid_utf8_and_limits() -> None:
    with pytest.raises(NoteError, match="UTF-8"):
        parse_note(b"\xff\n\n\xe2\x80\x94 a AAAAAAAA\n")
    many = add_signatures(
        sign_note("t\n", "k0", SigningKeyPair.generate()),
        [Ed25519Signer(f"k{i}", SigningKeyPair.generate()) for i in range(1, 16)],
    )
    assert len(parse_note(many).signatures) == 16


def test_sign_rejects_bad_text_and_names() -> None:
    kp = SigningKeyPair.generate()
    with pytest.raises(NoteError, match="end with a newline"):
        sign_note("no newline", "a", kp)
    with pytest.raises(NoteError, match="spaces"):
        sign_note("t\n", "a b", kp)
    with pytest.raises(NoteError, match="empty"):
        sign_note("t\n", "", kp)


@pytest.mark.parametrize(
    ("vkey", "message"),
    [
        ("example.com/foo+530d903a", "got 2 parts"),
        ("example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "does not match"),
        ("example.com/foo+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "lowercase hex"),
        ("example.com/foo+530d903a+***", "not base64"),
    ],
)
def test_bad_vkeys(vkey: str, message: str) -> None:
    with pytest.raises(NoteError, match=message):
        parse_vkey(vkey)


def test_vkey_of_other_type_is_refused() -> None:
    kp = SigningKeyPair.generate()
    with pytest.raises(NoteError, match="expected Ed25519"):
        parse_vkey(encode_vkey("w.example", 0x04, kp.public.raw))
