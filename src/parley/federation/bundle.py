"""Offline bundles: the federation by file, when the link is down (docs/protocol.md §11.9).

A bundle carries, for one peer and one channel, what that peer has not receipted yet: this
node's envelopes after the peer's last receipt, this node's latest receipt for the peer's
chain, and the control documents (charters, status records) still queued for the peer. It
is one object signed by the exporting node with the ``bundle`` signature kind (RFC 8032
Ed25519 over the RFC 8785 bytes, like every other signed object)::

    {"bundle": {"kind": "parley-bundle", "origin": …, "destination": …, "channel": …,
                "created": …, "envelopes": [wire, …], "receipts": [receipt, …],
                "control": [{"kind": "charter" | "status", "payload": {…}}, …]},
     "signature": "<base64>"}

Importing verifies the bundle signature, its origin (a pinned peer) and destination (this
node), then takes in the contents through the very functions the federation handlers use:
control documents first (as the sending loop posts them before envelopes), then the
envelopes with ``receive_batch`` (same checks, same idempotence, same receipts), then the
receipts with ``accept_receipts``. The receipts this node issues go into its next export
for that peer, so they travel back by the same path. Importing a bundle twice changes
nothing the second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from parley.channels.registry import get_channel_txn
from parley.clock import format_time
from parley.directory.control_outbox import ROUTES
from parley.errors import AuthError, ForbiddenError, RefusedError, UsageError, VerificationError
from parley.formats.texts import T
from parley.messaging.receipts import accept_receipts, receipted_upto_txn
from parley.messaging.receive import GapError, receive_batch
from parley.node import Node
from parley.protocol import signing
from parley.protocol.canonical import loads_strict
from parley.storage.tables import control_outbox, envelopes, receipts

KIND = "parley-bundle"
# A bundle's file is at most parley.files.LIMITS["bundle"] bytes; inside it, an export holds
# one receipt and the control documents queued for one peer, so more is not an honest bundle.
MAX_RECEIPTS = 16
MAX_CONTROL = 1000
MAX_NAME_CHARS = 64
BUNDLE_FIELDS = sorted(
    ["kind", "origin", "destination", "channel", "created", "envelopes", "receipts", "control"]
)


@dataclass
class ImportResult:
    origin: str
    channel: str
    stored: int = 0
    duplicates: int = 0
    receipts_accepted: int = 0
    control_applied: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.stored or self.receipts_accepted or self.control_applied)

    def to_json(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "channel": self.channel,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "receipts_accepted": self.receipts_accepted,
            "control_applied": self.control_applied,
        }


def make_bundle(node: Node, channel: str, peer: str) -> dict[str, Any]:
    """The signed bundle of everything ``peer`` lacks from this node on ``channel``."""
    from parley.directory.peers import get_peer

    get_peer(node, peer)  # a NotFoundError with a hint if the peer is not pinned
    with node.reader.connect() as conn:
        ch = get_channel_txn(conn, channel)
        members = ch.charter.member_nodes
        if node.name not in members or peer not in members:
            raise UsageError(
                T(
                    "{peer} and {node_name} are not both members of channel {channel!r}",
                    peer=peer,
                    node_name=node.name,
                    channel=channel,
                ),
                hint=T("member nodes: {members}", members=", ".join(members)),
            )
        upto = receipted_upto_txn(conn, channel, node.name, peer)
        wires = [
            loads_strict(r.raw)
            for r in conn.execute(
                select(envelopes.c.raw)
                .where(
                    envelopes.c.channel == channel,
                    envelopes.c.sender_node == node.name,
                    envelopes.c.seq > upto,
                )
                .order_by(envelopes.c.seq)
            )
        ]
        latest = conn.execute(
            select(receipts.c.raw)
            .where(
                receipts.c.channel == channel,
                receipts.c.sender_node == peer,
                receipts.c.receiver_node == node.name,
            )
            .order_by(receipts.c.upto_seq.desc())
            .limit(1)
        ).first()
        control = [
            {"kind": r.kind, "payload": loads_strict(r.payload)}
            for r in conn.execute(
                select(control_outbox.c.kind, control_outbox.c.payload)
                .where(control_outbox.c.peer == peer, control_outbox.c.delivered_at.is_(None))
                .order_by(control_outbox.c.id)
            )
            if r.kind in ROUTES
        ]
    bundle = {
        "kind": KIND,
        "origin": node.name,
        "destination": peer,
        "channel": channel,
        "created": format_time(node.clock.now()),
        "envelopes": wires,
        "receipts": [] if latest is None else [loads_strict(latest.raw)],
        "control": control,
    }
    return {"bundle": bundle, "signature": signing.sign("bundle", bundle, node.key)}


def check_bundle(node: Node, raw: Any) -> dict[str, Any]:
    """Verify shape, origin, destination and signature; return the bundle object."""
    if not isinstance(raw, dict) or sorted(raw) != ["bundle", "signature"]:
        raise VerificationError(
            "bundle", T("not a Parley bundle (expected bundle and signature)"), code="malformed_bundle"
        )
    data = raw["bundle"]
    if not isinstance(data, dict) or sorted(data) != BUNDLE_FIELDS or data["kind"] != KIND:
        raise VerificationError("bundle", T("bundle fields are wrong"), code="malformed_bundle")
    for name in ("origin", "destination", "channel", "created"):
        if not isinstance(data[name], str) or len(data[name]) > MAX_NAME_CHARS:
            raise VerificationError(
                "bundle",
                T(
                    "bundle {name} must be a string of at most {max_name_chars} characters",
                    name=name,
                    max_name_chars=MAX_NAME_CHARS,
                ),
                code="malformed_bundle",
            )
    for name in ("envelopes", "receipts", "control"):
        if not isinstance(data[name], list):
            raise VerificationError(
                "bundle", T("bundle {name} must be a list", name=name), code="malformed_bundle"
            )
    for name, limit in (("receipts", MAX_RECEIPTS), ("control", MAX_CONTROL)):
        if len(data[name]) > limit:
            raise VerificationError(
                "bundle",
                T(
                    "bundle lists {n_data_name} {name}; an export carries at most {limit}",
                    n_data_name=len(data[name]),
                    name=name,
                    limit=limit,
                ),
                code="malformed_bundle",
                hint=T("this is not a bundle written by `parley export`; ask for a fresh export"),
            )
    for item in data["control"]:
        if not isinstance(item, dict) or sorted(item) != ["kind", "payload"] or item["kind"] not in ROUTES:
            raise VerificationError(
                "bundle",
                T("a control entry is not a charter or status record"),
                code="malformed_bundle",
            )
    origin, destination = data["origin"], data["destination"]
    if destination != node.name:
        raise AuthError(
            T(
                "this bundle is addressed to {destination!r}, this node is {node_name!r}",
                destination=destination,
                node_name=node.name,
            ),
            code="wrong_destination",
            hint=T("import it on the node it was exported for"),
        )
    public = node.key_for(origin) if origin != node.name else None
    if public is None:
        raise AuthError(
            T("bundle origin {origin!r} is not a known peer", origin=origin),
            code="unknown_peer",
            hint=T("pin the peer's card first (parley peer add)"),
        )
    if not isinstance(raw["signature"], str) or not (
        signing.verify("bundle", data, raw["signature"], public)
        or any(signing.verify("bundle", data, raw["signature"], k) for k in _rotated_keys(node, origin, data))
    ):
        raise VerificationError(
            "bundle",
            T("the bundle's signature does not verify with {origin}'s pinned key", origin=origin),
            code="bad_bundle_signature",
            hint=T("the file was altered or is not from that peer; ask for a fresh export"),
        )
    return data


def _rotated_keys(node: Node, origin: str, data: dict[str, Any]) -> list[Any]:
    """The keys a rotation in the bundle's own key documents introduces (docs/protocol.md §13.4).

    A node that rotated signs its next bundle with the new key, which the importer learns from
    that very bundle: its upgraded card (signed by the key pinned here) names the root, and the
    rotation is signed by that root. Nothing is applied here; ``import_bundle`` applies them."""
    from parley.directory.keys import load_history_txn, rotated_key, vouching_root

    with node.reader.connect() as conn:
        history = load_history_txn(conn, origin)
    root = None if history is None else history.root
    keys: list[Any] = []
    for item in data["control"]:
        if item["kind"] != "key":
            continue
        if root is None:
            root = vouching_root(node, origin, item["payload"])
        elif (key := rotated_key(item["payload"], root, origin)) is not None:
            keys.append(key)
    return keys


def import_bundle(node: Node, raw: Any) -> ImportResult:
    """Take in a bundle as if its contents had come over the link."""
    data = check_bundle(node, raw)
    origin = str(data["origin"])
    result = ImportResult(origin, str(data["channel"]))
    for item in data["control"]:
        if _apply_control(node, origin, item["kind"], item["payload"]):
            result.control_applied += 1
    if data["envelopes"]:
        try:
            batch = receive_batch(node, origin, data["envelopes"])
        except GapError as gap:
            gap.hint = (
                f"this node holds {origin}'s chain up to seq {gap.expected - 1}: import the "
                f"earlier bundle first, or ask {origin} for a new export"
            )
            raise
        result.stored, result.duplicates = len(batch.stored), len(batch.duplicates)
    if data["receipts"]:
        result.receipts_accepted = len(accept_receipts(node, origin, data["receipts"]))
    return result


def _apply_control(node: Node, origin: str, kind: str, payload: Any) -> bool:
    """The same as the federation handlers for /charters, /status-records and /keys."""
    if kind == "key":
        from parley.directory.keys import apply_peer_document

        return apply_peer_document(node, origin, payload)
    if kind == "charter":
        from parley.channels.setup import do_accept_channel

        _doc, opened = do_accept_channel(node, payload, countersign=False, via=origin)
        return opened
    from parley.channels.status import apply_status_record_txn, parse_status_record

    record = parse_status_record(payload, node.key_for)
    if record.signer != origin:
        raise RefusedError(T("a status record is delivered by the node that signed it"), code="wrong_sender")
    with node.engine.begin() as conn:
        ch = get_channel_txn(conn, record.channel)
        if origin not in ch.charter.member_nodes:
            raise ForbiddenError(
                T(
                    "{origin} is not a member of {record_channel}",
                    origin=origin,
                    record_channel=record.channel,
                ),
                code="not_a_member",
            )
        return apply_status_record_txn(conn, record, node.clock.now())
