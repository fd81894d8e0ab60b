"""Peers: other nodes this node has pinned by their identity cards.

Adding the same card again is a no-op; a second card for a known name with a different key
or certificate is refused (key rotation is a deliberate, separate act: see
docs/operations.md), because silently accepting it is exactly how an impostor would get in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from parley.directory.keys import pin_card_root_txn
from parley.errors import ConflictError, NotFoundError, UsageError
from parley.formats.texts import T
from parley.node import Node
from parley.protocol.canonical import canonical_bytes, loads_strict
from parley.protocol.card import IdentityCard, check_card_url, parse_card
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
    check_card_url(card.url)
    if card.name == node.name:
        raise UsageError(T("that is this node's own card"), hint=T("add the card of the other side's node"))
    with node.engine.begin() as conn:
        row = conn.execute(select(peers).where(peers.c.name == card.name)).first()
        if row is not None:
            if row.public_key != card.public_key or row.tls_fingerprint != card.tls_fingerprint:
                raise ConflictError(
                    T(
                        "peer {card_name!r} is already pinned with key {row_key_id} "
                        "and another certificate or key ({card_key_id}); refusing the new card",
                        card_name=card.name,
                        row_key_id=row.key_id,
                        card_key_id=card.key_id,
                    ),
                    hint=T("if the peer really rotated its key, follow docs/operations.md#key-rotation"),
                )
            # The same key with a root (§13): the peer's upgraded card, signed by the pinned key.
            if not pin_card_root_txn(conn, node, card):
                return _peer_from_row(row), False
            upgraded = canonical_bytes(card.to_json()).decode()
            conn.execute(update(peers).where(peers.c.name == card.name).values(card=upgraded))
            node.forget_key_cache()
            return get_peer_txn(conn, card.name), True
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
        pin_card_root_txn(conn, node, card)
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


def get_peer_txn(conn: Connection, name: str) -> Peer:
    return _peer_from_row(conn.execute(select(peers).where(peers.c.name == name)).one())


def list_peers(node: Node) -> list[Peer]:
    with node.reader.connect() as conn:
        rows = conn.execute(select(peers).order_by(peers.c.name)).all()
    return [_peer_from_row(r) for r in rows]


def get_peer(node: Node, name: str) -> Peer:
    with node.reader.connect() as conn:
        row = conn.execute(select(peers).where(peers.c.name == name)).first()
    if row is None:
        raise NotFoundError(
            T("unknown peer {name!r}", name=name),
            hint=T("see `parley peer list`; add one with `parley peer add CARD.json`"),
        )
    return _peer_from_row(row)


@dataclass(frozen=True)
class Removal:
    """What ``do_remove_peer`` did: the peer unpinned, and what of it the record still holds."""

    peer: str
    closed_channels: list[str]
    envelopes: int
    control_dropped: int


def do_remove_peer(node: Node, name: str, *, history_ok: bool = False) -> Removal:
    """Unpin ``name``: forget its key, certificate and address, and what was queued for it.

    Refused while any channel with the peer is not closed (planned, active or suspended:
    its traffic would have nowhere to go and its messages no key to be checked against),
    and, unless ``history_ok``, while the record holds channels with it: their signatures
    are checked against this pin, so after removal ``parley verify`` reports them. The
    record itself (envelopes, receipts, charters) is never deleted. Audited."""
    from sqlalchemy import delete, func

    from parley.channels.registry import list_channels_txn
    from parley.directory.audit import audit_txn
    from parley.node_running import serving
    from parley.storage.tables import control_outbox

    get_peer(node, name)  # NotFoundError, with what to do, for an unknown name
    if serving(node.home).running:
        # A running node keeps the pin in memory and a sending loop per peer.
        raise ConflictError(
            T("{node_name} is running; a peer is removed while it is stopped", node_name=node.name),
            code="node_running",
            hint=T("stop `parley serve`, remove the peer, then start it again"),
        )
    with node.engine.begin() as conn:
        mine = [c for c in list_channels_txn(conn) if name in c.charter.member_nodes]
        open_ = [c for c in mine if c.status != "closed"]
        if open_:
            listed = ", ".join(f"{c.id} ({c.status})" for c in open_)
            raise ConflictError(
                T("peer {name!r} still has channels that are not closed: {listed}", name=name, listed=listed),
                code="peer_has_channels",
                hint=T(
                    "close them first: `parley channel close {open_0_id} --reason …` (on both sides)",
                    open_0_id=open_[0].id,
                ),
            )
        ids = [c.id for c in mine]
        held = 0
        if ids:
            from parley.storage.tables import envelopes

            held = int(
                conn.execute(
                    select(func.count()).select_from(envelopes).where(envelopes.c.channel.in_(ids))
                ).scalar_one()
            )
        if ids and not history_ok:
            raise ConflictError(
                T(
                    "the record holds closed channels with {name!r}: {ids} ({held} envelopes), "
                    "signed with the key this pin holds: once it is removed, "
                    "`parley verify` can no longer check them",
                    name=name,
                    ids=", ".join(ids),
                    held=held,
                ),
                code="peer_has_history",
                hint=T("export the record first (`parley transcript export …`), then run again with --yes"),
            )
        dropped = conn.execute(delete(control_outbox).where(control_outbox.c.peer == name)).rowcount
        conn.execute(delete(peer_links).where(peer_links.c.peer == name))
        from parley.directory.tls_rotation import forget_pins_txn

        forget_pins_txn(conn, name)
        conn.execute(delete(peers).where(peers.c.name == name))
        audit_txn(
            conn,
            node.clock.now(),
            "cli",
            "peer_remove",
            {"peer": name, "closed_channels": ids, "envelopes": held, "control_dropped": dropped},
        )
    node.forget_key_cache()
    return Removal(name, ids, held, int(dropped or 0))
