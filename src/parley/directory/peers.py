"""Peers: other nodes this node has pinned by their identity cards.

Adding the same card again is a no-op; a second card for a known name with a different key
or certificate is refused (key rotation is a deliberate, separate act: see
docs/operations.md), because silently accepting it is exactly how an impostor would get in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select

from parley.errors import ConflictError, NotFoundError, UsageError
from parley.node import Node
from parley.protocol.canonical import canonical_bytes, loads_strict
from parley.protocol.card import IdentityCard, parse_card
from parley.storage.tables import peer_links, peers


@dataclass(frozen=True)
class Peer:
    name: str
    party: str
    key_id: str
    public_key: str
    tls_fingerprint: str
    url: str
    card: IdentityCard

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "party": self.party,
            "key_id": self.key_id,
            "public_key": self.public_key,
            "tls_fingerprint": self.tls_fingerprint,
            "url": self.url,
        }


def do_add_peer(node: Node, card_json: Any) -> tuple[Peer, bool]:
    """Verify and pin a card. Returns (peer, added) where added is False for a repeat."""
    card = parse_card(card_json)
    if card.name == node.name:
        raise UsageError("that is this node's own card", hint="add the card of the other side's node")
    with node.engine.begin() as conn:
        row = conn.execute(select(peers).where(peers.c.name == card.name)).first()
        if row is not None:
            if row.public_key != card.public_key or row.tls_fingerprint != card.tls_fingerprint:
                raise ConflictError(
                    f"peer {card.name!r} is already pinned with key {row.key_id} "
                    f"and another certificate or key ({card.key_id}); refusing the new card",
                    hint="if the peer really rotated its key, follow docs/operations.md#key-rotation",
                )
            return _peer_from_row(row), False
        conn.execute(
            insert(peers).values(
                name=card.name,
                party=card.party,
                public_key=card.public_key,
                key_id=card.key_id,
                tls_fingerprint=card.tls_fingerprint,
                url=card.url,
                card=canonical_bytes(card.to_json()).decode(),
                added_at=node.clock.now(),
            )
        )
        conn.execute(insert(peer_links).values(peer=card.name, failures=0))
    node.forget_key_cache()
    return get_peer(node, card.name), True


def _peer_from_row(row: Any) -> Peer:
    return Peer(
        name=row.name,
        party=row.party,
        key_id=row.key_id,
        public_key=row.public_key,
        tls_fingerprint=row.tls_fingerprint,
        url=row.url,
        card=parse_card(loads_strict(row.card)),
    )


def list_peers(node: Node) -> list[Peer]:
    with node.reader.connect() as conn:
        rows = conn.execute(select(peers).order_by(peers.c.name)).all()
    return [_peer_from_row(r) for r in rows]


def get_peer(node: Node, name: str) -> Peer:
    with node.reader.connect() as conn:
        row = conn.execute(select(peers).where(peers.c.name == name)).first()
    if row is None:
        raise NotFoundError(
            f"unknown peer {name!r}", hint="see `parley peer list`; add one with `parley peer add CARD.json`"
        )
    return _peer_from_row(row)
