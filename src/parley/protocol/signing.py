"""Domain-separated Ed25519 signatures over RFC 8785 canonical bytes.

One node key signs several kinds of thing (envelopes, receipts, identity cards, charters,
federation requests). Each kind signs ``b"parley/1 <kind>\\n" + canonical_bytes(payload)``
so that a signature made for one kind can never be replayed as another.
"""

from __future__ import annotations

from typing import Any

from parley.protocol.canonical import canonical_bytes
from parley.protocol.keys import PublicKey, SigningKeyPair, b64, unb64

PROTOCOL = "parley/1"

# Every kind of signed object; see docs/protocol.md §Signatures.
KINDS = frozenset(
    {"envelope", "receipt", "card", "charter", "status", "request", "linktest", "bundle"}
    | {"key-certificate", "key-record"}  # §13: signed by a node's root key
    | {"tls-update"}  # §13.7: a new TLS pin, signed by the operational key
    | {"record-restart"}  # §11.10: a restored node's restart notice
)


def signing_input(kind: str, payload: Any) -> bytes:
    if kind not in KINDS:
        raise ValueError(f"unknown signature kind {kind!r}")
    return f"{PROTOCOL} {kind}\n".encode() + canonical_bytes(payload)


def sign(kind: str, payload: Any, key: SigningKeyPair) -> str:
    return b64(key.sign(signing_input(kind, payload)))


def verify(kind: str, payload: Any, signature_b64: str, public: PublicKey) -> bool:
    """True when ``signature_b64`` is ``public``'s signature of ``payload`` as ``kind``."""
    try:
        sig = unb64(signature_b64)
    except (ValueError, TypeError):
        return False
    try:
        data = signing_input(kind, payload)
    except ValueError:
        return False
    return public.verify(data, sig)


def sign_canonical(kind: str, canonical: bytes, key: SigningKeyPair) -> str:
    """``sign`` for a payload whose RFC 8785 bytes the caller already holds."""
    if kind not in KINDS:
        raise ValueError(f"unknown signature kind {kind!r}")
    return b64(key.sign(f"{PROTOCOL} {kind}\n".encode() + canonical))


def verify_canonical(kind: str, canonical: bytes, signature_b64: str, public: PublicKey) -> bool:
    try:
        sig = unb64(signature_b64)
    except (ValueError, TypeError):
        return False
    return kind in KINDS and public.verify(f"{PROTOCOL} {kind}\n".encode() + canonical, sig)
