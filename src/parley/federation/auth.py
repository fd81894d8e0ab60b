"""Authenticating requests between nodes.

Every federation request carries the sending node's signature over what it asks for:
method, path (with query), origin, destination, time, a random nonce and the SHA-256 of
the body — signed as the ``request`` kind (docs/protocol.md §Federation API). The receiver
refuses a request from an unknown origin, addressed to another node, outside the allowed
clock skew, with a nonce it has seen before, or whose signature does not verify. The same
scheme signs the answers' receipts separately, so TLS is for confidentiality only.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert
from sqlalchemy.exc import IntegrityError

from parley.clock import format_time, parse_time
from parley.errors import AuthError
from parley.formats.texts import T
from parley.node import Node
from parley.protocol import signing
from parley.protocol.keyhistory import key_valid_at
from parley.storage.tables import seen_requests

H_ORIGIN = "parley-origin"
H_DEST = "parley-destination"
H_TIME = "parley-time"
H_NONCE = "parley-nonce"
H_SIG = "parley-signature"


def request_payload(
    method: str, path: str, origin: str, destination: str, time: str, nonce: str, body: bytes
) -> dict[str, Any]:
    return {
        "method": method.upper(),
        "path": path,
        "origin": origin,
        "destination": destination,
        "time": time,
        "nonce": nonce,
        "body_sha256": hashlib.sha256(body).hexdigest(),
    }


def sign_request(node: Node, method: str, path: str, destination: str, body: bytes) -> dict[str, str]:
    now = node.clock.now()
    time = format_time(now)
    nonce = secrets.token_hex(16)
    payload = request_payload(method, path, node.name, destination, time, nonce, body)
    return {
        H_ORIGIN: node.name,
        H_DEST: destination,
        H_TIME: time,
        H_NONCE: nonce,
        # The key valid at the request's time: a rotation dated ahead takes over then (§13.4).
        H_SIG: signing.sign("request", payload, node.signing_key(now)),
    }


@dataclass(frozen=True)
class Authenticated:
    """A request whose signature, origin, destination and time were checked.

    Its nonce is not yet remembered: ``remember_txn`` stores it inside the caller's
    transaction, so a batch of envelopes and its nonce share one commit, and a replay of
    the same request then fails on the nonce's primary key."""

    origin: str
    nonce_key: str
    at: datetime
    skew_s: float

    def remember_txn(self, conn: Connection) -> None:
        """Refuse a nonce seen within the skew window; older ones are refused by time already."""
        # The primary key refuses a second copy: no look-up first (one statement, not two).
        try:
            conn.execute(_REMEMBER, {"nonce": self.nonce_key, "peer": self.origin, "seen_at": self.at})
        except IntegrityError:
            raise AuthError(T("request was already seen (replay)"), code="replayed_request") from None
        # Forget nonces that can no longer be replayed (their time is outside the window).
        if secrets.randbelow(100) == 0:
            conn.execute(
                delete(seen_requests).where(
                    seen_requests.c.seen_at < self.at - timedelta(seconds=2 * self.skew_s)
                )
            )

    def remember(self, node: Node) -> None:
        with node.engine.begin() as conn:
            self.remember_txn(conn)


_REMEMBER = insert(seen_requests)


def verify_request(node: Node, method: str, path: str, headers: Any, body: bytes) -> str:
    """Return the authenticated origin node, or raise AuthError with a precise code."""
    auth = authenticate_request(node, method, path, headers, body)
    auth.remember(node)
    return auth.origin


def authenticate_request(node: Node, method: str, path: str, headers: Any, body: bytes) -> Authenticated:
    """Every check but the replay check (see ``Authenticated``); AuthError if one fails."""
    origin = headers.get(H_ORIGIN)
    dest = headers.get(H_DEST)
    time = headers.get(H_TIME)
    nonce = headers.get(H_NONCE)
    sig = headers.get(H_SIG)
    if not all(isinstance(v, str) and v for v in (origin, dest, time, nonce, sig)):
        raise AuthError(T("federation request is not signed"), code="unsigned_request")
    assert isinstance(origin, str)
    assert isinstance(dest, str)
    assert isinstance(time, str)
    assert isinstance(nonce, str)
    assert isinstance(sig, str)
    public = node.key_for(origin)
    if public is None or origin == node.name:
        raise AuthError(T("{origin!r} is not a known peer", origin=origin), code="unknown_peer")
    if dest != node.name:
        raise AuthError(
            T("request is addressed to {dest!r}, this is {node_name!r}", dest=dest, node_name=node.name),
            code="wrong_destination",
        )
    if len(nonce) > 64:
        raise AuthError(T("nonce too long"), code="bad_nonce")
    try:
        when = parse_time(time)
    except (ValueError, OverflowError):
        raise AuthError(T("request time is not RFC 3339"), code="stale_request") from None
    skew = node.config.federation.max_clock_skew_s
    now = node.clock.now()
    if abs((now - when).total_seconds()) > skew:
        raise AuthError(
            T("request time {time} is more than {skew:g}s from this node's clock", time=time, skew=skew),
            code="stale_request",
            hint=T("check both nodes' clocks (NTP)"),
        )
    payload = request_payload(method, path, origin, dest, time, nonce, body)
    # A request is signed by the current key, or by the key valid at its time (§13.3).
    current = getattr(public, "current", public)
    if not signing.verify("request", payload, sig, current):
        # Or the key valid at the request's time: a rotation dated ahead reaches the peer
        # before the node stops signing with the key it replaces (§13.3, §13.4).
        alternative = key_valid_at(public, format_time(when))
        if alternative is not None and signing.verify("request", payload, sig, alternative):
            return Authenticated(origin, nonce_key(origin, nonce), now, skew)
        alternative = None
        if path == "/federation/v1/keys":
            # A rotation arrives signed by the new key it carries, vouched for by the root (§13.4).
            from parley.directory.keys import rotation_key_for_request

            alternative = rotation_key_for_request(node, origin, body)
            # Or the node's own upgraded card, rotated past before it was delivered.
            from parley.directory.keys import card_vouches_for_request

            if alternative is None and card_vouches_for_request(node, origin, body):
                return Authenticated(origin, nonce_key(origin, nonce), now, skew)
        if alternative is None or not signing.verify("request", payload, sig, alternative):
            raise AuthError(T("request signature does not verify"), code="bad_request_signature")
    return Authenticated(origin, nonce_key(origin, nonce), now, skew)


def nonce_key(origin: str, nonce: str) -> str:
    """What the replay store keeps for a request: SHA-256 of (origin, nonce), 64 hex digits.

    A digest of an unambiguous encoding (a JSON array), not the two joined and cut to the
    column's 64 characters: cut, two fresh nonces sharing a long prefix were one key, and
    the second was refused as a replay. Fixed-length, it fits the existing column.
    """
    encoded = json.dumps([origin, nonce], ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()
