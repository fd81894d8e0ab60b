"""TLS certificate updates: a node's new pin, signed by its operational key (docs/protocol.md §13.7).

Peers pin a node's TLS certificate by the SHA-256 fingerprint of its DER encoding (§8,
RFC 5280 for the certificate). To change certificates without downtime the node sends each
peer a *TLS update* signed with its current operational key (kind ``tls-update``): its
identity card carrying the new certificate, plus the fingerprints of earlier certificates
the peer keeps pinned beside it. A first update keeps the old certificate (both are pinned:
the overlap); once every peer has it the node serves the new certificate and sends a second
update that keeps nothing, so the old pin is dropped. Each update carries a number counted
per node, so an older one can never be replayed over a newer one.

This module only builds and checks documents; the pins live in parley.directory.tls_rotation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from parley.clock import format_time, parse_time
from parley.errors import VerificationError
from parley.formats.texts import T
from parley.protocol import signing
from parley.protocol.card import IdentityCard, parse_card
from parley.protocol.keys import PublicKey, SigningKeyPair

TLS_PROTOCOL = "parley/2"
KIND = "tls-update"
FIELDS = ("kind", "protocol", "node", "number", "issued", "card", "keep")
MAX_NUMBER = 2**53 - 1
# Pins a peer holds for one node: the card's certificate and at most this many kept beside it.
MAX_KEEP = 3
FINGERPRINT_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
STEP = "tls"


def _bad(message: Any, code: str = "bad_tls_update", http_status: int = 400) -> VerificationError:
    return VerificationError(
        STEP,
        message,
        code=code,
        http_status=http_status,
        hint=T("the node makes TLS updates with `parley tls rotate`; see docs/protocol.md §13.7"),
    )


@dataclass(frozen=True)
class TlsUpdate:
    node: str
    number: int
    issued: str
    card: IdentityCard
    keep: tuple[str, ...]
    doc: dict[str, Any]


def make_update(
    key: SigningKeyPair, card: IdentityCard, *, number: int, issued: str, keep: list[str]
) -> dict[str, Any]:
    """A signed TLS update for ``card``'s node (``card`` signed by ``key``)."""
    body = {
        "kind": KIND,
        "protocol": TLS_PROTOCOL,
        "node": card.name,
        "number": number,
        "issued": issued,
        "card": card.to_json(),
        "keep": list(keep),
    }
    return {"tls_update": body, "signature": signing.sign(KIND, body, key)}


def parse_update(data: Any, *, node: str, key: PublicKey) -> TlsUpdate:
    """Check an update's form, that it is ``node``'s, and its signature by ``key`` (the
    node's current pinned operational key). The card inside is checked by §8.

    Raises VerificationError with ``bad_tls_update`` (form), ``wrong_sender`` (another
    node's) or ``bad_tls_update_signature`` (not signed by ``key``)."""
    if not isinstance(data, dict) or sorted(data) != ["signature", "tls_update"]:
        raise _bad(T("a TLS update is an object with exactly 'tls_update' and 'signature'"))
    body, signature = data["tls_update"], data["signature"]
    if not isinstance(body, dict) or sorted(body) != sorted(FIELDS) or not isinstance(signature, str):
        raise _bad(T("a TLS update has exactly the members {fields}", fields=", ".join(FIELDS)))
    if body["kind"] != KIND or body["protocol"] != TLS_PROTOCOL:
        raise _bad(
            T(
                "not a TLS update: kind must be {kind!r} and protocol {protocol!r}",
                kind=KIND,
                protocol=TLS_PROTOCOL,
            )
        )
    if body["node"] != node:
        raise _bad(
            T("this TLS update is {other!r}'s, not {node!r}'s", other=str(body["node"])[:64], node=node),
            code="wrong_sender",
            http_status=403,
        )
    number = body["number"]
    if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= MAX_NUMBER:
        raise _bad(T("the update's number must be an integer from 1 to {max}", max=MAX_NUMBER))
    issued = body["issued"]
    try:
        ok = isinstance(issued, str) and format_time(parse_time(issued)) == issued
    except (ValueError, OverflowError):
        ok = False
    if not ok:
        raise _bad(T("the update's issued time is not a UTC time of the form 2026-03-02T06:15:00.000Z"))
    keep = body["keep"]
    if (
        not isinstance(keep, list)
        or len(keep) > MAX_KEEP
        or not all(isinstance(k, str) and FINGERPRINT_RE.match(k) for k in keep)
        or len(set(keep)) != len(keep)
    ):
        raise _bad(T("'keep' is a list of at most {max} distinct sha256: fingerprints", max=MAX_KEEP))
    # The signature before the card: a forged update is named as such, whatever it carries.
    if not signing.verify(KIND, body, signature, key):
        raise _bad(
            T(
                "the TLS update for {node} is not signed by its pinned key {key_id}",
                node=node,
                key_id=key.key_id,
            ),
            code="bad_tls_update_signature",
            http_status=403,
        )
    card = parse_card(body["card"])
    if card.name != node:
        raise _bad(
            T("the card in the TLS update is {other!r}'s, not {node!r}'s", other=card.name, node=node),
            code="wrong_sender",
            http_status=403,
        )
    if card.tls_fingerprint in keep:
        raise _bad(T("'keep' names the card's own certificate"))
    return TlsUpdate(node, number, issued, card, tuple(keep), data)
