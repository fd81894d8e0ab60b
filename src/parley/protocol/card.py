"""Identity cards: how two nodes introduce themselves before they ever talk.

A card names a node (name, party, URL), carries its Ed25519 public key, key id and TLS
certificate with its SHA-256 fingerprint, and is signed by the key it carries (proof of
possession). An operator hands the card to the other side out of band; ``peer add`` checks
the signature and pins key and certificate. Nothing else establishes trust: there is no open
federation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from parley.errors import UsageError, VerificationError
from parley.protocol import signing
from parley.protocol.keys import PublicKey, SigningKeyPair
from parley.protocol.verify import NAME_RE

CARD_FIELDS = ("protocol", "name", "party", "public_key", "key_id", "tls_fingerprint", "tls_cert", "url")


@dataclass(frozen=True)
class IdentityCard:
    name: str
    party: str
    public_key: str
    key_id: str
    tls_fingerprint: str
    tls_cert: str
    url: str
    signature: str

    def payload(self) -> dict[str, Any]:
        return {
            "protocol": signing.PROTOCOL,
            "name": self.name,
            "party": self.party,
            "public_key": self.public_key,
            "key_id": self.key_id,
            "tls_fingerprint": self.tls_fingerprint,
            "tls_cert": self.tls_cert,
            "url": self.url,
        }

    def to_json(self) -> dict[str, Any]:
        return {"card": self.payload(), "signature": self.signature}

    @property
    def public(self) -> PublicKey:
        return PublicKey.from_b64(self.public_key)


def make_card(
    *, key: SigningKeyPair, name: str, party: str, url: str, tls_cert_pem: str, tls_fingerprint: str
) -> IdentityCard:
    unsigned = IdentityCard(
        name=name,
        party=party,
        public_key=key.public.b64,
        key_id=key.public.key_id,
        tls_fingerprint=tls_fingerprint,
        tls_cert=tls_cert_pem,
        url=url,
        signature="",
    )
    sig = signing.sign("card", unsigned.payload(), key)
    return IdentityCard(**{**unsigned.__dict__, "signature": sig})


def parse_card(data: Any) -> IdentityCard:
    """Check a card's form and self-signature; raise VerificationError naming what is wrong."""
    if not isinstance(data, dict) or sorted(data) != ["card", "signature"]:
        raise UsageError(
            "not an identity card: expected a JSON object with 'card' and 'signature'",
            hint="ask the other side for the output of `parley identity`",
        )
    card = data["card"]
    if not isinstance(card, dict) or sorted(card) != sorted(CARD_FIELDS):
        raise UsageError(
            f"identity card must have exactly the fields {', '.join(CARD_FIELDS)}",
            hint="ask the other side for the output of `parley identity`",
        )
    if any(not isinstance(card[f], str) for f in CARD_FIELDS) or not isinstance(data["signature"], str):
        raise UsageError(
            "every field of an identity card is a string",
            hint="ask the other side for the output of `parley identity`",
        )
    if card["protocol"] != signing.PROTOCOL:
        raise UsageError(f"card speaks {card['protocol']!r}; this node speaks {signing.PROTOCOL}")
    if not NAME_RE.match(card["name"]):
        raise UsageError(f"node name {card['name']!r} is not valid")
    try:
        public = PublicKey.from_b64(card["public_key"])
    except ValueError as exc:
        raise VerificationError("card", f"public key is not a base64 Ed25519 key: {exc}") from exc
    if public.key_id != card["key_id"]:
        raise VerificationError("card", "key id does not match the public key")
    if not signing.verify("card", card, data["signature"], public):
        raise VerificationError(
            "card",
            f"the signature on {card['name']!r}'s card does not verify",
            hint="the card was altered after it was made; ask for a fresh `parley identity`",
        )
    from parley.federation.tls import fingerprint_of_pem

    try:
        actual_fp = fingerprint_of_pem(card["tls_cert"])
    except ValueError as exc:
        raise VerificationError("card", f"TLS certificate cannot be read: {exc}") from exc
    if actual_fp != card["tls_fingerprint"]:
        raise VerificationError("card", "TLS fingerprint does not match the certificate")
    return IdentityCard(
        name=card["name"],
        party=card["party"],
        public_key=card["public_key"],
        key_id=card["key_id"],
        tls_fingerprint=card["tls_fingerprint"],
        tls_cert=card["tls_cert"],
        url=card["url"],
        signature=data["signature"],
    )
