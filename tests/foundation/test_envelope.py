"""Envelopes, keys, cards, receipts, status records: round trips and domain separation."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parley.channels.status import make_status_record, parse_status_record
from parley.errors import UsageError, VerificationError
from parley.protocol import signing
from parley.protocol.canonical import canonical_bytes, content_hash, loads_strict
from parley.protocol.card import make_card, parse_card
from parley.protocol.envelope import SignedEnvelope, build_envelope
from parley.protocol.keys import PublicKey, SigningKeyPair, b64, unb64
from parley.protocol.receipt import make_receipt, parse_receipt
from parley.protocol.tls import fingerprint_of_pem, make_self_signed
from parley.protocol.verify import verify_envelope

KEY = SigningKeyPair(bytes(32))
RU_KEY = SigningKeyPair(bytes([7] * 32))
KEYS = {"no-njhq": KEY.public, "ru-nf": RU_KEY.public}

json_leaf = st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=20)
json_values = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _env(body: dict[str, Any], **kw: Any) -> SignedEnvelope:
    args: dict[str, Any] = {
        "key": KEY,
        "channel": "direct-line",
        "sender_node": "no-njhq",
        "sender_desk": "duty-officer",
        "seq": 1,
        "prev": None,
        "created": datetime(2026, 3, 2, 6, 15, 0, 999999, tzinfo=UTC),
        "type": "general",
        "type_version": 1,
        "precedence": "FLASH",
        "status": "EXERCISE",
        "body": body,
    }
    return build_envelope(**(args | kw))


@settings(max_examples=80, deadline=None)
@given(body=st.dictionaries(st.text(max_size=10), json_values, max_size=5))
def test_round_trip_through_bytes_and_verification(body: dict[str, Any]) -> None:
    env = _env(body)
    raw = env.to_bytes()
    assert raw == canonical_bytes(json.loads(raw))  # stored bytes are canonical
    back = SignedEnvelope.from_bytes(raw)
    assert back == env
    assert verify_envelope(json.loads(raw), KEYS.get) == env
    assert env.hash == content_hash(env.envelope)


def test_envelope_fields_and_time_form() -> None:
    env = _env({"text": "x", "lang": "en"}, refs=["00000000-0000-4000-8000-000000000009"])
    assert env.created == "2026-03-02T06:15:00.999Z"  # milliseconds, truncated, Z
    assert env.envelope["protocol"] == "parley/1"
    assert env.sender_node == "no-njhq"
    assert env.sender_desk == "duty-officer"
    assert env.refs == ["00000000-0000-4000-8000-000000000009"]
    assert env.key_id == KEY.public.key_id
    assert len(unb64(env.signature)) == 64
    with pytest.raises(ValueError, match="naive"):
        _env({}, created=datetime(2026, 3, 2))


def test_loads_strict_refuses_what_rfc8785_cannot_sign() -> None:
    with pytest.raises(ValueError, match="duplicate key 'a'"):
        loads_strict('{"a": 1, "a": 2}')
    with pytest.raises(ValueError, match="NaN"):
        loads_strict('{"a": NaN}')


def test_canonical_form_examples() -> None:
    assert canonical_bytes({"b": [1, 2.5, 1e21, -0.0], "a": "é\u2028"}) == (
        '{"a":"é\u2028","b":[1,2.5,1e+21,0]}'.encode()
    )
    with pytest.raises(ValueError, match="cannot canonicalize"):
        canonical_bytes({"x": float("inf")})


def test_base64_must_be_canonical() -> None:
    sig = b64(KEY.sign(b"x"))
    assert unb64(sig) == KEY.sign(b"x")
    for bad in (sig.rstrip("="), sig + "=", " " + sig, sig[:5] + "-" + sig[6:], "A===", "AB=C"):
        with pytest.raises(ValueError):  # noqa: PT011
            unb64(bad)


def test_key_id_is_the_first_8_bytes_of_the_sha256_of_the_raw_key() -> None:
    import hashlib

    assert KEY.public.key_id == hashlib.sha256(KEY.public.raw).hexdigest()[:16]
    assert PublicKey.from_b64(KEY.public.b64) == KEY.public
    with pytest.raises(ValueError, match="32 bytes"):
        PublicKey(b"\x00" * 31)


def test_key_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "identity.key"
    KEY.save(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert SigningKeyPair.load(path).seed == KEY.seed
    path.chmod(0o640)
    with pytest.raises(PermissionError, match="chmod 600"):
        SigningKeyPair.load(path)
    with pytest.raises(FileExistsError):
        KEY.save(path)


def test_signing_input_and_kinds() -> None:
    assert signing.signing_input("receipt", {"b": 1, "a": 2}) == b'parley/1 receipt\n{"a":2,"b":1}'
    assert {
        "envelope",
        "receipt",
        "card",
        "charter",
        "status",
        "request",
        "linktest",
        "bundle",
        "key-certificate",
        "key-record",
        "tls-update",
        "record-restart",
    } == signing.KINDS
    with pytest.raises(ValueError, match="unknown signature kind"):
        signing.signing_input("message", {})
    assert not signing.verify("message", {}, b64(bytes(64)), KEY.public)


@pytest.mark.parametrize("signed_as", sorted(signing.KINDS))
def test_domain_separation_between_every_pair_of_kinds(signed_as: str) -> None:
    payload = {"channel": "direct-line", "n": 1}
    sig = signing.sign(signed_as, payload, KEY)
    for kind in signing.KINDS:
        assert signing.verify(kind, payload, sig, KEY.public) is (kind == signed_as)


# --- identity cards -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def card_json() -> dict[str, Any]:
    cert, _ = make_self_signed("127.0.0.1", "ru-nf")
    pem = cert.decode()
    card = make_card(
        key=RU_KEY,
        name="ru-nf",
        party="Russia",
        url="https://127.0.0.1:9443",
        tls_cert_pem=pem,
        tls_fingerprint=fingerprint_of_pem(pem),
    )
    return card.to_json()


def test_card_round_trip(card_json: dict[str, Any]) -> None:
    card = parse_card(copy.deepcopy(card_json))
    assert card.to_json() == card_json
    assert card.public == RU_KEY.public
    assert card.key_id == RU_KEY.public.key_id
    assert card.tls_fingerprint.startswith("sha256:")


@pytest.mark.parametrize(
    ("edit", "error", "match"),
    [
        (lambda c: c["card"].__setitem__("party", "Norway"), VerificationError, "does not verify"),
        (lambda c: c["card"].__setitem__("key_id", "00" * 8), VerificationError, "key id"),
        (lambda c: c["card"].__setitem__("public_key", "AAAA"), VerificationError, "public key"),
        (
            lambda c: c["card"].__setitem__("tls_fingerprint", "sha256:" + "0" * 64),
            VerificationError,
            "does not verify",
        ),
        (lambda c: c["card"].__setitem__("protocol", "parley/9"), UsageError, "speaks"),
        # A parley/2 card carries the root and its certificate (§13): without them, refused.
        (lambda c: c["card"].__setitem__("protocol", "parley/2"), UsageError, "exactly the fields"),
        (lambda c: c["card"].__setitem__("name", "RU NF"), UsageError, "not valid"),
        (lambda c: c["card"].pop("url"), UsageError, "exactly the fields"),
        (lambda c: c.__setitem__("signature", 5), UsageError, "string"),
        (lambda c: c.__setitem__("extra", 5), UsageError, "not an identity card"),
    ],
)
def test_card_refusals(card_json: dict[str, Any], edit: Any, error: type, match: str) -> None:
    card = copy.deepcopy(card_json)
    edit(card)
    with pytest.raises(error, match=match):
        parse_card(card)


def test_card_with_a_swapped_certificate(card_json: dict[str, Any]) -> None:
    """A certificate that does not match the signed fingerprint is refused, even re-signed."""
    other, _ = make_self_signed("127.0.0.1", "ru-nf")
    card = copy.deepcopy(card_json)
    card["card"]["tls_cert"] = other.decode()
    card["signature"] = signing.sign("card", card["card"], RU_KEY)
    with pytest.raises(VerificationError, match="fingerprint does not match"):
        parse_card(card)


def test_an_envelope_signature_is_no_card_signature(card_json: dict[str, Any]) -> None:
    card = copy.deepcopy(card_json)
    card["signature"] = signing.sign("envelope", card["card"], RU_KEY)
    with pytest.raises(VerificationError, match="does not verify"):
        parse_card(card)


# --- receipts and status records ------------------------------------------------------------


def _receipt(**kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "key": RU_KEY,
        "receiver": "ru-nf",
        "channel": "direct-line",
        "sender": "no-njhq",
        "upto_seq": 42,
        "upto_hash": "sha256:" + "ab" * 32,
        "received_at": "2026-03-02T06:15:01.000Z",
    }
    return make_receipt(**(args | kw)).to_json()


def test_receipt_round_trip_is_cumulative() -> None:
    raw = _receipt()
    receipt = parse_receipt(json.loads(canonical_bytes(raw)), KEYS.get)
    assert (receipt.upto_seq, receipt.sender, receipt.receiver) == (42, "no-njhq", "ru-nf")
    assert receipt.to_bytes() == canonical_bytes(raw)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda r: r["receipt"].__setitem__("upto_seq", 43), "does not verify"),
        (lambda r: r["receipt"].__setitem__("upto_seq", 0), "positive integer"),
        (lambda r: r["receipt"].__setitem__("upto_seq", True), "positive integer"),
        (lambda r: r["receipt"].__setitem__("receiver", "xx"), "not a known node"),
        (lambda r: r["receipt"].__setitem__("kind", "envelope"), "fields are wrong"),
        (lambda r: r["receipt"].pop("received_at"), "fields are wrong"),
        (lambda r: r.__setitem__("extra", 1), "not a receipt"),
        (
            lambda r: r.__setitem__("signature", signing.sign("envelope", r["receipt"], RU_KEY)),
            "does not verify",
        ),
    ],
)
def test_receipt_refusals(edit: Any, match: str) -> None:
    raw = _receipt()
    edit(raw)
    with pytest.raises(VerificationError, match=match) as caught:
        parse_receipt(raw, KEYS.get)
    assert caught.value.step == "receipt"


def test_a_receipt_signed_by_another_node_than_its_receiver() -> None:
    raw = _receipt(key=KEY)  # says ru-nf received, signed by no-njhq
    with pytest.raises(VerificationError, match="does not verify"):
        parse_receipt(raw, KEYS.get)


def test_status_record_round_trip_and_refusals() -> None:
    rec = make_status_record(
        key=KEY,
        signer="no-njhq",
        channel="direct-line",
        status="suspended",
        reason="2014",
        effective="2014-03-01T00:00:00.000Z",
        exempt_types=["incident-at-sea", "incident-at-sea"],
    )
    assert rec.exempt_types == ["incident-at-sea"]
    assert parse_status_record(rec.to_json(), KEYS.get) == rec
    active = make_status_record(
        key=KEY,
        signer="no-njhq",
        channel="direct-line",
        status="active",
        reason="x",
        effective="2015-01-01T00:00:00.000Z",
        exempt_types=["general"],
    )
    assert active.exempt_types == []  # exemptions only mean something while suspended
    forged = copy.deepcopy(rec.to_json())
    forged["record"]["signer"] = "ru-nf"
    with pytest.raises(VerificationError, match="does not verify"):
        parse_status_record(forged, KEYS.get)
    edited = copy.deepcopy(rec.to_json())
    edited["record"]["exempt_types"] = ["general"]
    with pytest.raises(VerificationError, match="does not verify"):
        parse_status_record(edited, KEYS.get)
    with pytest.raises(UsageError, match="unknown status"):
        make_status_record(
            key=KEY,
            signer="no-njhq",
            channel="c",
            status="paused",
            reason="x",
            effective="2015-01-01T00:00:00.000Z",
        )
