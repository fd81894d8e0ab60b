"""Every numbered step of ``verify_envelope`` fails, naming itself, for a crafted input."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parley.errors import VerificationError
from parley.protocol import signing
from parley.protocol.canonical import content_hash
from parley.protocol.envelope import ENVELOPE_FIELDS, SignedEnvelope, build_envelope
from parley.protocol.keys import PublicKey, SigningKeyPair
from parley.protocol.verify import check_chain_link, verify_envelope

KEY = SigningKeyPair(bytes(range(32)))
OTHER = SigningKeyPair(bytes(range(1, 33)))
KEYS: dict[str, PublicKey] = {"no-njhq": KEY.public}


def envelope(seq: int = 1, prev: str | None = None, **kw: Any) -> SignedEnvelope:
    args: dict[str, Any] = {
        "key": KEY,
        "channel": "direct-line",
        "sender_node": "no-njhq",
        "sender_desk": "duty-officer",
        "seq": seq,
        "prev": prev,
        "created": datetime(2026, 3, 2, 6, 15, tzinfo=UTC),
        "type": "general",
        "type_version": 1,
        "precedence": "ROUTINE",
        "status": "ACTUAL",
        "body": {"text": "Line test", "lang": "en"},
        "message_id": "00000000-0000-4000-8000-000000000001",
    }
    return build_envelope(**(args | kw))


def resigned(edit: Callable[[dict[str, Any]], None], key: SigningKeyPair = KEY) -> dict[str, Any]:
    """The wire form after ``edit`` of the envelope, with hash and signature made anew."""
    wire = copy.deepcopy(envelope().to_wire())
    edit(wire["envelope"])
    wire["hash"] = content_hash(wire["envelope"])
    wire["signature"] = signing.sign("envelope", wire["envelope"], key)
    return wire


def fails_at(step: str, wire: Any, keys: dict[str, PublicKey] = KEYS) -> str:
    with pytest.raises(VerificationError) as caught:
        verify_envelope(wire, keys.get)
    assert caught.value.step == step
    assert caught.value.message.startswith(f"{step}: ")
    return caught.value.message


def test_a_good_envelope_passes_every_step() -> None:
    env = envelope()
    assert verify_envelope(env.to_wire(), KEYS.get, previous=None, check_chain=True) == env
    assert SignedEnvelope.from_bytes(env.to_bytes()) == env


# Step 1: shape.
@pytest.mark.parametrize(
    "wire",
    [
        [],
        "envelope",
        {"envelope": {}, "hash": "", "key_id": ""},
        {**envelope().to_wire(), "extra": 1},
        {**envelope().to_wire(), "envelope": []},
        {**envelope().to_wire(), "signature": 5},
        {**envelope().to_wire(), "hash": None},
    ],
)
def test_step_1_shape_of_the_wire_object(wire: Any) -> None:
    fails_at("1 shape", wire)


@pytest.mark.parametrize("field", ENVELOPE_FIELDS)
def test_step_1_a_missing_envelope_field(field: str) -> None:
    fails_at("1 shape", resigned(lambda e: e.pop(field)))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seq", "1"),
        ("seq", True),
        ("seq", 1.0),
        ("prev", 0),
        ("body", []),
        ("refs", {}),
        ("sender", "no-njhq/duty-officer"),
        ("type_version", False),
        ("id", None),
    ],
)
def test_step_1_a_field_of_the_wrong_json_type(field: str, value: Any) -> None:
    message = fails_at("1 shape", resigned(lambda e: e.__setitem__(field, value)))
    assert repr(field) in message


@settings(max_examples=60, deadline=None)
@given(extra=st.text(min_size=1, max_size=12).filter(lambda s: s not in ENVELOPE_FIELDS))
def test_step_1_any_unexpected_field(extra: str) -> None:
    fails_at("1 shape", resigned(lambda e: e.__setitem__(extra, None)))


# Step 2: protocol.
@pytest.mark.parametrize("version", ["parley/2", "parley/0", "PARLEY/1", ""])
def test_step_2_protocol(version: str) -> None:
    fails_at("2 protocol", resigned(lambda e: e.__setitem__("protocol", version)))


# Step 3: fields.
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", "not-a-uuid"),
        ("channel", "Direct Line"),
        ("channel", ""),
        ("sender", {"node": "no-njhq"}),
        ("sender", {"node": "no-njhq", "desk": "Duty"}),
        ("sender", {"node": "no-njhq", "desk": "x", "extra": "y"}),
        ("seq", 0),
        ("seq", -1),
        ("prev", "sha256:" + "0" * 64),
        ("created", "yesterday"),
        ("created", "2026-03-02T06:15:00"),
        ("created", "2026-03-02T08:15:00.000+02:00"),
        ("type", "General"),
        ("type_version", 0),
        ("precedence", "URGENT"),
        ("status", "DRILL"),
        ("refs", [1]),
        ("refs", ["not-an-id"]),
    ],
)
def test_step_3_field_values(field: str, value: Any) -> None:
    fails_at("3 fields", resigned(lambda e: e.__setitem__(field, value)))


@pytest.mark.parametrize("prev", [None, "sha256:xyz", "sha1:" + "0" * 40, "sha256:" + "A" * 64])
def test_step_3_prev_of_a_later_envelope(prev: str | None) -> None:
    def edit(e: dict[str, Any]) -> None:
        e["seq"], e["prev"] = 2, prev

    fails_at("3 fields", resigned(edit))


# Step 4: hash.
def test_step_4_body_changed_after_signing() -> None:
    wire = envelope().to_wire()
    wire["envelope"]["body"]["text"] = "Line test!"
    fails_at("4 hash", wire)


def test_step_4_hash_not_of_this_envelope() -> None:
    wire = envelope().to_wire()
    wire["hash"] = envelope(message_id="00000000-0000-4000-8000-000000000002").hash
    fails_at("4 hash", wire)


def test_step_4_a_value_rfc8785_cannot_encode() -> None:
    wire = resigned(lambda e: None)
    wire["envelope"]["body"]["n"] = float("nan")
    fails_at("4 hash", wire)


# Step 5: key.
def test_step_5_unknown_sender() -> None:
    assert "not a known peer" in fails_at("5 key", envelope().to_wire(), {})


def test_step_5_key_id_of_another_key() -> None:
    wire = envelope().to_wire()
    wire["key_id"] = OTHER.public.key_id
    fails_at("5 key", wire)


# Step 6: signature.
def test_step_6_signed_by_another_key() -> None:
    fails_at("6 signature", resigned(lambda e: None, key=OTHER))


@pytest.mark.parametrize("signature", ["", "not base64!", "AAAA", "A" * 86 + "==", " " + "A" * 86])
def test_step_6_malformed_signature(signature: str) -> None:
    wire = envelope().to_wire()
    wire["signature"] = signature
    fails_at("6 signature", wire)


@settings(max_examples=100, deadline=None)
@given(position=st.integers(min_value=0, max_value=87), char=st.sampled_from("AQgw+/09aZ="))
def test_step_6_any_changed_signature_digit(position: int, char: str) -> None:
    wire = envelope().to_wire()
    sig = wire["signature"]
    changed = sig[:position] + char + sig[position + 1 :]
    if changed == sig:
        return
    wire["signature"] = changed
    fails_at("6 signature", wire)


@pytest.mark.parametrize("kind", sorted(signing.KINDS - {"envelope"}))
def test_step_6_a_signature_made_for_another_kind(kind: str) -> None:
    """Domain separation: the same bytes signed as another kind never verify as an envelope."""
    wire = envelope().to_wire()
    wire["signature"] = signing.sign(kind, wire["envelope"], KEY)
    fails_at("6 signature", wire)


# Step 7: chain.
def test_step_7_chain() -> None:
    first = envelope()
    second = envelope(seq=2, prev=first.hash, message_id="00000000-0000-4000-8000-000000000002")
    check_chain_link(first, None)
    check_chain_link(second, (1, first.hash))
    cases = [
        (second, None, "sequence_gap"),
        (second, (2, first.hash), "sequence_old"),
        (second, (0, first.hash), "sequence_gap"),
        (second, (1, "sha256:" + "1" * 64), "chain_broken"),
        (first, (1, first.hash), "sequence_old"),
    ]
    for env, previous, code in cases:
        with pytest.raises(VerificationError) as caught:
            verify_envelope(env.to_wire(), KEYS.get, previous=previous, check_chain=True)
        assert caught.value.step == "7 chain"
        assert caught.value.code == code


def test_steps_run_in_order() -> None:
    """A wire broken at several steps reports the first of them."""
    wire = envelope().to_wire()
    wire["envelope"]["protocol"] = "parley/9"  # step 2
    wire["envelope"]["precedence"] = "URGENT"  # step 3
    wire["key_id"] = OTHER.public.key_id  # step 5
    fails_at("2 protocol", wire, {})
