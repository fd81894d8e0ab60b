"""The one routine that checks an envelope (docs/protocol.md §Verification).

Verification runs in numbered steps; a failure raises :class:`parley.errors.VerificationError`
whose ``step`` names the step, so the CLI, a peer's error answer and a test all say the same
thing about the same fault. The steps, in order:

1. shape      the wire object has exactly ``envelope``, ``hash``, ``key_id``, ``signature``,
              and the envelope exactly the fields of ENVELOPE_FIELDS, each of its JSON type;
2. protocol   ``protocol`` is a version this implementation speaks (``parley/1``);
3. fields     values are well-formed: UUID id, non-empty names, seq ≥ 1, prev is null
              exactly when seq is 1 and otherwise ``sha256:`` + 64 hex, UTC ``created``,
              known precedence and status, body an object, refs a list of ids;
4. hash       ``hash`` equals SHA-256 over the RFC 8785 bytes of the envelope;
5. key        the sender node is known and ``key_id`` is the id of its pinned key;
6. signature  the Ed25519 signature verifies over the domain-separated canonical bytes;
7. chain      (when the caller gives the sender's last stored link) ``seq`` is the next
              number and ``prev`` is the hash of the previous envelope.

Steps 1–6 need only the envelope and the sender's public key; step 7 needs the receiver's
state, which is why the caller passes it in.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from parley.clock import format_time, parse_time
from parley.errors import VerificationError
from parley.protocol import signing
from parley.protocol.canonical import canonical_bytes, sha256_hex
from parley.protocol.envelope import (
    ENVELOPE_FIELDS,
    PRECEDENCES,
    PROTOCOL,
    STATUSES,
    WIRE_FIELDS,
    SignedEnvelope,
)
from parley.protocol.keys import PublicKey

HASH_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
TYPE_RE = re.compile(r"^[a-z][a-z0-9-]{0,62}$")

_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "protocol": str,
    "id": str,
    "channel": str,
    "sender": dict,
    "seq": int,
    "prev": (str, type(None)),
    "created": str,
    "type": str,
    "type_version": int,
    "precedence": str,
    "status": str,
    "body": dict,
    "refs": list,
}

KeyLookup = Callable[[str], PublicKey | None]


def verify_envelope(
    wire: Any,
    key_for: KeyLookup,
    *,
    previous: tuple[int, str] | None = None,
    check_chain: bool = False,
) -> SignedEnvelope:
    """Check ``wire`` in the numbered steps above and return it as a SignedEnvelope.

    ``key_for(node)`` returns the pinned public key of a node, or None if unknown.
    With ``check_chain``, ``previous`` is the (seq, hash) of the sender's last stored
    envelope in the channel, or None if none is stored yet.
    """
    # Step 1: shape.
    if not isinstance(wire, dict):
        raise VerificationError("1 shape", "an envelope must be a JSON object")
    if sorted(wire) != sorted(WIRE_FIELDS):
        raise VerificationError(
            "1 shape", f"wire object must have exactly the fields {', '.join(WIRE_FIELDS)}"
        )
    env = wire["envelope"]
    if not isinstance(env, dict):
        raise VerificationError("1 shape", "'envelope' must be a JSON object")
    missing = [f for f in ENVELOPE_FIELDS if f not in env]
    extra = [f for f in env if f not in ENVELOPE_FIELDS]
    if missing or extra:
        raise VerificationError(
            "1 shape", f"envelope fields wrong: missing {missing or '-'}, unexpected {extra or '-'}"
        )
    for name, typ in _FIELD_TYPES.items():
        value = env[name]
        # bool is an int in Python, never in our format.
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            raise VerificationError("1 shape", f"envelope field {name!r} has the wrong type")
    for name in ("hash", "key_id", "signature"):
        if not isinstance(wire[name], str):
            raise VerificationError("1 shape", f"{name!r} must be a string")

    # Step 2: protocol.
    if env["protocol"] != PROTOCOL:
        raise VerificationError(
            "2 protocol", f"protocol {env['protocol']!r} is not supported (this node speaks {PROTOCOL})"
        )

    # Step 3: field values.
    _check_fields(env)

    # Step 4: hash.
    try:
        canonical = canonical_bytes(env)
        digest = "sha256:" + sha256_hex(canonical)
    except ValueError as exc:
        raise VerificationError("4 hash", f"envelope cannot be canonicalized: {exc}") from exc
    if digest != wire["hash"]:
        raise VerificationError("4 hash", f"content hash is {digest}, envelope says {wire['hash']}")

    # Step 5: key.
    sender = env["sender"]["node"]
    public = key_for(sender)
    if public is None:
        raise VerificationError("5 key", f"sender node {sender!r} is not a known peer")
    if wire["key_id"] != public.key_id:
        raise VerificationError(
            "5 key", f"key id {wire['key_id']} is not the pinned key {public.key_id} of {sender!r}"
        )

    # Step 6: signature.
    if not signing.verify_canonical("envelope", canonical, wire["signature"], public):
        raise VerificationError("6 signature", f"signature does not verify with {sender!r}'s key")

    signed = SignedEnvelope(env, wire["hash"], wire["key_id"], wire["signature"], canonical)

    # Step 7: chain.
    if check_chain:
        check_chain_link(signed, previous)
    return signed


def check_chain_link(signed: SignedEnvelope, previous: tuple[int, str] | None) -> None:
    """Step 7 alone: does ``signed`` continue the chain whose last link is ``previous``?"""
    if previous is None:
        if signed.seq != 1:
            raise VerificationError(
                "7 chain", f"sequence gap: expected seq 1, got {signed.seq}", code="sequence_gap"
            )
        return
    last_seq, last_hash = previous
    if signed.seq != last_seq + 1:
        code = "sequence_gap" if signed.seq > last_seq + 1 else "sequence_old"
        raise VerificationError("7 chain", f"expected seq {last_seq + 1}, got {signed.seq}", code=code)
    if signed.prev != last_hash:
        raise VerificationError(
            "7 chain",
            f"prev is {signed.prev}, but the previous envelope's hash is {last_hash}",
            code="chain_broken",
        )


def _check_fields(env: dict[str, Any]) -> None:
    step = "3 fields"
    if not _is_message_id(env["id"]):
        raise VerificationError(step, f"id {env['id']!r} is not a UUID in lower-case hyphenated form")
    if not NAME_RE.match(env["channel"]):
        raise VerificationError(step, f"channel {env['channel']!r} is not a valid name")
    sender = env["sender"]
    if sorted(sender) != ["desk", "node"] or not all(
        isinstance(sender[k], str) and NAME_RE.match(sender[k]) for k in ("node", "desk")
    ):
        raise VerificationError(step, "sender must be {node, desk} with valid names")
    if env["seq"] < 1:
        raise VerificationError(step, "seq counts from 1")
    if env["seq"] == 1 and env["prev"] is not None:
        raise VerificationError(step, "the first envelope of a chain has prev null")
    if env["seq"] > 1 and not (isinstance(env["prev"], str) and HASH_RE.match(env["prev"])):
        raise VerificationError(step, "prev must be 'sha256:' followed by 64 hex digits")
    # Only the one time form of §1 is accepted: stored times are compared as strings.
    try:
        canonical_time = format_time(parse_time(env["created"]))
    except (ValueError, OverflowError):
        raise VerificationError(step, f"created {env['created']!r} is not an RFC 3339 UTC time") from None
    if canonical_time != env["created"]:
        raise VerificationError(step, "created must be UTC, three fractional digits, Z suffix")
    if not TYPE_RE.match(env["type"]):
        raise VerificationError(step, f"type {env['type']!r} is not a valid type name")
    if env["type_version"] < 1:
        raise VerificationError(step, "type_version counts from 1")
    if env["precedence"] not in PRECEDENCES:
        raise VerificationError(step, f"precedence must be one of {', '.join(PRECEDENCES)}")
    if env["status"] not in STATUSES:
        raise VerificationError(step, f"status must be one of {', '.join(STATUSES)}")
    for ref in env["refs"]:
        if not isinstance(ref, str):
            raise VerificationError(step, "refs must be message ids (strings)")
        if not _is_message_id(ref):
            raise VerificationError(step, f"ref {ref!r} is not a message id")


def _is_message_id(value: str) -> bool:
    """A UUID in its 36-character lower-case hyphenated form, the only one §1 allows."""
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False
