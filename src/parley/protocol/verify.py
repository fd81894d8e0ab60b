"""The one routine that checks an envelope (docs/protocol.md §Verification).

Verification runs in numbered steps; a failure raises :class:`parley.errors.VerificationError`
whose ``step`` names the step, so the CLI, a peer's error answer and a test all say the same
thing about the same fault. The steps, in order:

1. shape      the wire object has exactly ``envelope``, ``hash``, ``key_id``, ``signature``,
              and the envelope exactly the fields of ENVELOPE_FIELDS (plus any of
              OPTIONAL_FIELDS), each of its JSON type;
2. protocol   ``protocol`` is a version this implementation speaks (``parley/1``);
3. fields     values are well-formed: UUID id, non-empty names, seq ≥ 1, prev is null
              exactly when seq is 1 and otherwise ``sha256:`` + 64 hex, UTC ``created``,
              known precedence and status, body an object, refs a list of ids, and
              the optional ``reply_to`` exactly {id, hash} with its id in refs;
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
from parley.formats.texts import T
from parley.protocol import signing
from parley.protocol.canonical import canonical_bytes, sha256_hex
from parley.protocol.envelope import (
    ENVELOPE_FIELDS,
    OPTIONAL_FIELDS,
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
        raise VerificationError("1 shape", T("an envelope must be a JSON object"))
    if sorted(wire) != sorted(WIRE_FIELDS):
        raise VerificationError(
            "1 shape",
            T("wire object must have exactly the fields {wire_fields}", wire_fields=", ".join(WIRE_FIELDS)),
        )
    env = wire["envelope"]
    if not isinstance(env, dict):
        raise VerificationError("1 shape", T("'envelope' must be a JSON object"))
    missing = [f for f in ENVELOPE_FIELDS if f not in env]
    extra = [f for f in env if f not in ENVELOPE_FIELDS and f not in OPTIONAL_FIELDS]
    if missing or extra:
        raise VerificationError(
            "1 shape",
            T(
                "envelope fields wrong: missing {missing}, unexpected {extra}",
                missing=missing or "-",
                extra=extra or "-",
            ),
        )
    for name, typ in _FIELD_TYPES.items():
        value = env[name]
        # bool is an int in Python, never in our format.
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            raise VerificationError("1 shape", T("envelope field {name!r} has the wrong type", name=name))
    if "reply_to" in env and not isinstance(env["reply_to"], dict):
        raise VerificationError("1 shape", T("envelope field 'reply_to' has the wrong type"))
    for name in ("hash", "key_id", "signature"):
        if not isinstance(wire[name], str):
            raise VerificationError("1 shape", T("{name!r} must be a string", name=name))

    # Step 2: protocol.
    if env["protocol"] != PROTOCOL:
        raise VerificationError(
            "2 protocol",
            T(
                "protocol {env_protocol!r} is not supported (this node speaks {protocol})",
                env_protocol=env["protocol"],
                protocol=PROTOCOL,
            ),
        )

    # Step 3: field values.
    _check_fields(env)

    # Step 4: hash.
    try:
        canonical = canonical_bytes(env)
        digest = "sha256:" + sha256_hex(canonical)
    except ValueError as exc:
        raise VerificationError("4 hash", T("envelope cannot be canonicalized: {exc}", exc=exc)) from exc
    if digest != wire["hash"]:
        raise VerificationError(
            "4 hash",
            T("content hash is {digest}, envelope says {wire_hash}", digest=digest, wire_hash=wire["hash"]),
        )

    # Step 5: key.
    sender = env["sender"]["node"]
    public = key_for(sender)
    if public is None:
        raise VerificationError("5 key", T("sender node {sender!r} is not a known peer", sender=sender))
    for_signature = getattr(public, "for_signature", None)
    if for_signature is not None:
        # A key history (§13): the key the envelope names, if valid and unrevoked when signed.
        public = for_signature(wire["key_id"], env["created"])
    elif wire["key_id"] != public.key_id:
        raise VerificationError(
            "5 key",
            T(
                "key id {wire_key_id} is not the pinned key {public_key_id} of {sender!r}",
                wire_key_id=wire["key_id"],
                public_key_id=public.key_id,
                sender=sender,
            ),
        )

    # Step 6: signature.
    if not signing.verify_canonical("envelope", canonical, wire["signature"], public):
        raise VerificationError(
            "6 signature", T("signature does not verify with {sender!r}'s key", sender=sender)
        )

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
                "7 chain",
                T("sequence gap: expected seq 1, got {signed_seq}", signed_seq=signed.seq),
                code="sequence_gap",
            )
        return
    last_seq, last_hash = previous
    if signed.seq != last_seq + 1:
        code = "sequence_gap" if signed.seq > last_seq + 1 else "sequence_old"
        raise VerificationError(
            "7 chain",
            T(
                "expected seq {last_seq_plus_1}, got {signed_seq}",
                last_seq_plus_1=last_seq + 1,
                signed_seq=signed.seq,
            ),
            code=code,
        )
    if signed.prev != last_hash:
        raise VerificationError(
            "7 chain",
            T(
                "prev is {signed_prev}, but the previous envelope's hash is {last_hash}",
                signed_prev=signed.prev,
                last_hash=last_hash,
            ),
            code="chain_broken",
        )


def _check_fields(env: dict[str, Any]) -> None:
    step = "3 fields"
    if not _is_message_id(env["id"]):
        raise VerificationError(
            step, T("id {env_id!r} is not a UUID in lower-case hyphenated form", env_id=env["id"])
        )
    if not NAME_RE.match(env["channel"]):
        raise VerificationError(
            step, T("channel {env_channel!r} is not a valid name", env_channel=env["channel"])
        )
    sender = env["sender"]
    if sorted(sender) != ["desk", "node"] or not all(
        isinstance(sender[k], str) and NAME_RE.match(sender[k]) for k in ("node", "desk")
    ):
        raise VerificationError(step, T("sender must be {{node, desk}} with valid names"))
    if env["seq"] < 1:
        raise VerificationError(step, T("seq counts from 1"))
    if env["seq"] == 1 and env["prev"] is not None:
        raise VerificationError(step, T("the first envelope of a chain has prev null"))
    if env["seq"] > 1 and not (isinstance(env["prev"], str) and HASH_RE.match(env["prev"])):
        raise VerificationError(step, T("prev must be 'sha256:' followed by 64 hex digits"))
    # Only the one time form of §1 is accepted: stored times are compared as strings.
    try:
        canonical_time = format_time(parse_time(env["created"]))
    except (ValueError, OverflowError):
        raise VerificationError(
            step, T("created {env_created!r} is not an RFC 3339 UTC time", env_created=env["created"])
        ) from None
    if canonical_time != env["created"]:
        raise VerificationError(step, T("created must be UTC, three fractional digits, Z suffix"))
    if not TYPE_RE.match(env["type"]):
        raise VerificationError(step, T("type {env_type!r} is not a valid type name", env_type=env["type"]))
    if env["type_version"] < 1:
        raise VerificationError(step, T("type_version counts from 1"))
    if env["precedence"] not in PRECEDENCES:
        raise VerificationError(
            step, T("precedence must be one of {precedences}", precedences=", ".join(PRECEDENCES))
        )
    if env["status"] not in STATUSES:
        raise VerificationError(step, T("status must be one of {statuses}", statuses=", ".join(STATUSES)))
    for ref in env["refs"]:
        if not isinstance(ref, str):
            raise VerificationError(step, T("refs must be message ids (strings)"))
        if not _is_message_id(ref):
            raise VerificationError(step, T("ref {ref!r} is not a message id", ref=ref))
    if "reply_to" in env:
        _check_reply_to(env)


def _check_reply_to(env: dict[str, Any]) -> None:
    """§4.3: exactly {id, hash}, a message id and a content hash; the id is also in refs."""
    step = "3 fields"
    reply_to = env["reply_to"]
    if sorted(reply_to) != ["hash", "id"]:
        raise VerificationError(step, T("reply_to must be exactly {{id, hash}}"))
    if not (isinstance(reply_to["id"], str) and _is_message_id(reply_to["id"])):
        raise VerificationError(step, T("reply_to.id must be a message id"))
    if not (isinstance(reply_to["hash"], str) and HASH_RE.match(reply_to["hash"])):
        raise VerificationError(step, T("reply_to.hash must be 'sha256:' followed by 64 hex digits"))
    if reply_to["id"] == env["id"]:
        raise VerificationError(step, T("a message cannot reply to itself"))
    if reply_to["id"] not in env["refs"]:
        raise VerificationError(step, T("reply_to.id must also be listed in refs"))


def _is_message_id(value: str) -> bool:
    """A UUID in its 36-character lower-case hyphenated form, the only one §1 allows."""
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False
