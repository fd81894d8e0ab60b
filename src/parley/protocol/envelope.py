"""The signed envelope: Parley's unit of communication (docs/protocol.md §Envelope).

An envelope is a JSON object; its canonical bytes (RFC 8785) are hashed with SHA-256 to name
it and signed with the sending node's Ed25519 key (RFC 8032) to prove who sent it. Each
sending node keeps one hash chain per channel: ``seq`` counts from 1, ``prev`` is the hash of
the same sender's previous envelope in that channel (``null`` for the first), so a receiver
can tell a gap, a reordering or a rewrite from the envelope alone.

On the wire an envelope travels as ``{"envelope": {...}, "hash": "sha256:…",
"key_id": "…", "signature": "<base64>"}``.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from parley.clock import format_time
from parley.protocol import signing
from parley.protocol.canonical import canonical_bytes, loads_strict
from parley.protocol.keys import SigningKeyPair

PROTOCOL = signing.PROTOCOL
PRECEDENCES = ("FLASH", "IMMEDIATE", "PRIORITY", "ROUTINE")
STATUSES = ("ACTUAL", "EXERCISE", "TEST")
ENVELOPE_FIELDS = (
    "protocol",
    "id",
    "channel",
    "sender",
    "seq",
    "prev",
    "created",
    "type",
    "type_version",
    "precedence",
    "status",
    "body",
    "refs",
)
# Members an envelope may carry in addition (§4.3): absent unless used, so an envelope
# without them has the same bytes, hash and signature as before they were defined.
OPTIONAL_FIELDS = ("reply_to",)
WIRE_FIELDS = ("envelope", "hash", "key_id", "signature")


@dataclass(frozen=True, slots=True)
class SignedEnvelope:
    envelope: dict[str, Any]
    hash: str
    key_id: str
    signature: str
    # The envelope's RFC 8785 bytes when already computed (by signing or verifying), so
    # hashing, signing and storing canonicalize once instead of three times.
    canonical: bytes = field(default=b"", compare=False, repr=False)

    # Convenience views of the signed fields, read-only.
    @property
    def id(self) -> str:
        return str(self.envelope["id"])

    @property
    def channel(self) -> str:
        return str(self.envelope["channel"])

    @property
    def sender_node(self) -> str:
        return str(self.envelope["sender"]["node"])

    @property
    def sender_desk(self) -> str:
        return str(self.envelope["sender"]["desk"])

    @property
    def seq(self) -> int:
        return int(self.envelope["seq"])

    @property
    def prev(self) -> str | None:
        p = self.envelope["prev"]
        return None if p is None else str(p)

    @property
    def type(self) -> str:
        return str(self.envelope["type"])

    @property
    def precedence(self) -> str:
        return str(self.envelope["precedence"])

    @property
    def status(self) -> str:
        return str(self.envelope["status"])

    @property
    def created(self) -> str:
        return str(self.envelope["created"])

    @property
    def body(self) -> dict[str, Any]:
        b: dict[str, Any] = self.envelope["body"]
        return b

    @property
    def refs(self) -> list[str]:
        return [str(r) for r in self.envelope["refs"]]

    @property
    def reply_to(self) -> dict[str, str] | None:
        """The signed reference to the message this one answers (§4.3), if it is a reply."""
        r = self.envelope.get("reply_to")
        return None if r is None else {"id": str(r["id"]), "hash": str(r["hash"])}

    def to_wire(self) -> dict[str, Any]:
        return {
            "envelope": self.envelope,
            "hash": self.hash,
            "key_id": self.key_id,
            "signature": self.signature,
        }

    def to_bytes(self) -> bytes:
        """The canonical bytes of the wire form: what a node stores and what it logs."""
        if not self.canonical:
            return canonical_bytes(self.to_wire())
        # RFC 8785 sorts keys (envelope < hash < key_id < signature) and leaves these ASCII
        # strings unescaped, so the wire form is the envelope's bytes in a fixed frame.
        return b"".join(
            (
                b'{"envelope":',
                self.canonical,
                b',"hash":"',
                self.hash.encode(),
                b'","key_id":"',
                self.key_id.encode(),
                b'","signature":"',
                self.signature.encode(),
                b'"}',
            )
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> SignedEnvelope:
        """Rebuild from stored bytes *without* verifying (use protocol.verify for that)."""
        wire = loads_strict(data)
        return cls(wire["envelope"], wire["hash"], wire["key_id"], wire["signature"])


def new_message_id() -> str:
    return str(uuid.uuid4())


def build_envelope(
    *,
    key: SigningKeyPair,
    channel: str,
    sender_node: str,
    sender_desk: str,
    seq: int,
    prev: str | None,
    created: datetime,
    type: str,
    type_version: int,
    precedence: str,
    status: str,
    body: dict[str, Any],
    refs: list[str] | None = None,
    message_id: str | None = None,
    reply_to: dict[str, str] | None = None,
) -> SignedEnvelope:
    """Assemble, hash and sign an envelope. The caller supplies the chain position."""
    envelope: dict[str, Any] = {
        "protocol": PROTOCOL,
        "id": message_id or new_message_id(),
        "channel": channel,
        "sender": {"node": sender_node, "desk": sender_desk},
        "seq": seq,
        "prev": prev,
        "created": format_time(created),
        "type": type,
        "type_version": type_version,
        "precedence": precedence,
        "status": status,
        "body": body,
        "refs": list(refs or []),
    }
    if reply_to is not None:
        envelope["reply_to"] = {"id": reply_to["id"], "hash": reply_to["hash"]}
    canonical = canonical_bytes(envelope)
    return SignedEnvelope(
        envelope=envelope,
        hash="sha256:" + hashlib.sha256(canonical).hexdigest(),
        key_id=key.public.key_id,
        signature=signing.sign_canonical("envelope", canonical, key),
        canonical=canonical,
    )
