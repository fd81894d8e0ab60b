"""Identity cards: how two nodes introduce themselves before they ever talk.

A card names a node (name, party, URL), carries its Ed25519 public key, key id and TLS
certificate with its SHA-256 fingerprint, and is signed by the key it carries (proof of
possession). An operator hands the card to the other side out of band; ``peer add`` checks
the signature and pins key and certificate. Nothing else establishes trust: there is no open
federation.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from parley.errors import UsageError, VerificationError
from parley.formats.texts import T
from parley.protocol import signing
from parley.protocol.keys import PublicKey, SigningKeyPair
from parley.protocol.verify import NAME_RE

MAX_URL_LENGTH = 2048

CARD_FIELDS = ("protocol", "name", "party", "public_key", "key_id", "tls_fingerprint", "tls_cert", "url")
# A card of a node with a root key (§13) speaks parley/2 and carries the root and the
# certificate of the key it carries.
CARD_V2_FIELDS = (*CARD_FIELDS, "root_key", "root_key_id", "certificate")
CARD_V2_PROTOCOL = "parley/2"


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
    root_key: str | None = None
    root_key_id: str | None = None
    certificate: dict[str, Any] | None = None

    def payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "protocol": signing.PROTOCOL if self.root_key is None else CARD_V2_PROTOCOL,
            "name": self.name,
            "party": self.party,
            "public_key": self.public_key,
            "key_id": self.key_id,
            "tls_fingerprint": self.tls_fingerprint,
            "tls_cert": self.tls_cert,
            "url": self.url,
        }
        if self.root_key is not None:
            out["root_key"] = self.root_key
            out["root_key_id"] = self.root_key_id
            out["certificate"] = self.certificate
        return out

    def to_json(self) -> dict[str, Any]:
        return {"card": self.payload(), "signature": self.signature}

    @property
    def public(self) -> PublicKey:
        return PublicKey.from_b64(self.public_key)


def make_card(
    *,
    key: SigningKeyPair,
    name: str,
    party: str,
    url: str,
    tls_cert_pem: str,
    tls_fingerprint: str,
    root_key: PublicKey | None = None,
    certificate: dict[str, Any] | None = None,
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
        root_key=None if root_key is None else root_key.b64,
        root_key_id=None if root_key is None else root_key.key_id,
        certificate=certificate,
    )
    sig = signing.sign("card", unsigned.payload(), key)
    return IdentityCard(**{**unsigned.__dict__, "signature": sig})


def parse_card(data: Any) -> IdentityCard:
    """Check a card's form and self-signature; raise VerificationError naming what is wrong."""
    if not isinstance(data, dict) or sorted(data) != ["card", "signature"]:
        raise UsageError(
            T("not an identity card: expected a JSON object with 'card' and 'signature'"),
            hint=T("ask the other side for the output of `parley identity`"),
        )
    card = data["card"]
    v2 = isinstance(card, dict) and card.get("protocol") == CARD_V2_PROTOCOL
    if not isinstance(card, dict) or sorted(card) != sorted(CARD_V2_FIELDS if v2 else CARD_FIELDS):
        raise UsageError(
            T("identity card must have exactly the fields {card_fields}", card_fields=", ".join(CARD_FIELDS)),
            hint=T("ask the other side for the output of `parley identity`"),
        )
    strings = [f for f in (CARD_V2_FIELDS if v2 else CARD_FIELDS) if f != "certificate"]
    if any(not isinstance(card[f], str) for f in strings) or not isinstance(data["signature"], str):
        raise UsageError(
            T("every field of an identity card is a string"),
            hint=T("ask the other side for the output of `parley identity`"),
        )
    if card["protocol"] != signing.PROTOCOL and not v2:
        raise UsageError(
            T(
                "card speaks {card_protocol!r}; this node speaks {signing_protocol}",
                card_protocol=card["protocol"],
                signing_protocol=signing.PROTOCOL,
            )
        )
    if not NAME_RE.match(card["name"]):
        raise UsageError(T("node name {card_name!r} is not valid", card_name=card["name"]))
    try:
        public = PublicKey.from_b64(card["public_key"])
    except ValueError as exc:
        raise VerificationError("card", T("public key is not a base64 Ed25519 key: {exc}", exc=exc)) from exc
    if public.key_id != card["key_id"]:
        raise VerificationError("card", T("key id does not match the public key"))
    if not signing.verify("card", card, data["signature"], public):
        raise VerificationError(
            "card",
            T("the signature on {card_name!r}'s card does not verify", card_name=card["name"]),
            hint=T("the card was altered after it was made; ask for a fresh `parley identity`"),
        )
    root_key = None
    if v2:
        root_key = _check_root(card, public)
    from parley.protocol.tls import fingerprint_of_pem

    try:
        actual_fp = fingerprint_of_pem(card["tls_cert"])
    except ValueError as exc:
        raise VerificationError("card", T("TLS certificate cannot be read: {exc}", exc=exc)) from exc
    if actual_fp != card["tls_fingerprint"]:
        raise VerificationError("card", T("TLS fingerprint does not match the certificate"))
    return IdentityCard(
        name=card["name"],
        party=card["party"],
        public_key=card["public_key"],
        key_id=card["key_id"],
        tls_fingerprint=card["tls_fingerprint"],
        tls_cert=card["tls_cert"],
        url=card["url"],
        signature=data["signature"],
        root_key=None if root_key is None else root_key.b64,
        root_key_id=None if root_key is None else root_key.key_id,
        certificate=card["certificate"] if v2 else None,
    )


def _check_root(card: dict[str, Any], public: PublicKey) -> PublicKey:
    """§13: the root key decodes, has its key id, and certifies the key the card carries."""
    from parley.protocol.keyhistory import parse_cert

    try:
        root = PublicKey.from_b64(card["root_key"])
    except ValueError as exc:
        raise VerificationError("card", T("root key is not a base64 Ed25519 key: {exc}", exc=exc)) from exc
    if root.key_id != card["root_key_id"]:
        raise VerificationError("card", T("root key id does not match the root key"))
    cert = parse_cert(card["certificate"], root, node=card["name"])
    if cert.public != public:
        raise VerificationError("card", T("the card's certificate is for another key than the card's"))
    return root


def check_card_url(url: str) -> None:
    """Refuse a card URL this node must never send signed requests to (issue 14 item 3).

    The URL must be ``https:`` (RFC 9110 §4.2.2) with a host and no user-info (RFC 3986
    §3.2.1). An IP-literal host must not be link-local (169.254/16, fe80::/10: cloud
    metadata services live there), multicast or unspecified (0.0.0.0, ::). Loopback and
    private addresses stay allowed: the demo and the tests run on 127.0.0.1 and real
    deployments use private networks between the two sides.
    """
    hint = T("ask the other side for a card made with `parley init --url https://HOST:PORT`")
    shown = url[:200] + ("…" if len(url) > 200 else "")
    if len(url) > MAX_URL_LENGTH or any(ord(c) <= 32 or ord(c) == 127 for c in url):
        raise UsageError(
            T("card URL {shown!r} is too long or has spaces or control characters", shown=shown), hint=hint
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (parsing the port is the check: it raises on a bad one)
    except ValueError as exc:
        raise UsageError(
            T("card URL {shown!r} cannot be parsed: {exc}", shown=shown, exc=exc), hint=hint
        ) from None
    if parts.scheme.lower() != "https":
        raise UsageError(
            T("card URL {shown!r} is not https:// (nodes talk only over pinned TLS)", shown=shown), hint=hint
        )
    if "@" in parts.netloc:
        raise UsageError(T("card URL {shown!r} carries a user name or password", shown=shown), hint=hint)
    host = parts.hostname
    if not host:
        raise UsageError(T("card URL {shown!r} has no host", shown=shown), hint=hint)
    if parts.query or parts.fragment:
        raise UsageError(T("card URL {shown!r} has a query or fragment", shown=shown), hint=hint)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return  # a DNS name: what it resolves to is the operator's network, not the card's
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified:
        refusal = T(
            "card URL {shown!r} points at an unspecified address ({ip}); a peer is never there",
            shown=shown,
            ip=str(ip),
        )
    elif ip.is_link_local:
        refusal = T(
            "card URL {shown!r} points at a link-local address ({ip}); a peer is never there",
            shown=shown,
            ip=str(ip),
        )
    elif ip.is_multicast:
        refusal = T(
            "card URL {shown!r} points at a multicast address ({ip}); a peer is never there",
            shown=shown,
            ip=str(ip),
        )
    else:
        return
    raise UsageError(refusal, hint=hint)
