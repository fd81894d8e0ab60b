"""Setting a channel up: propose a charter, countersign it, and open the channel.

The offline path works by files: the proposer signs the charter and hands the document to
the other side; the other side checks it, signs the same bytes and hands it back; once a
document carries the signatures of every member node, each node that sees it opens the
channel. The federation carries the very same documents once nodes can talk.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import insert, select, update

from parley.channels.charter import Charter, CharterDocument, parse_charter_document
from parley.directory.control_outbox import queue_control_txn
from parley.errors import ConflictError, NotFoundError, UsageError
from parley.formats.texts import T
from parley.node import Node
from parley.protocol.canonical import canonical_bytes
from parley.storage.tables import channels, desks, proposals


def do_propose_channel(node: Node, charter: Charter, peer: str | None = None) -> CharterDocument:
    from parley.directory.peers import get_peer

    members = charter.member_nodes
    if node.name not in members:
        raise UsageError(
            T("this node ({node_name}) is not among the charter's members", node_name=node.name),
            hint=T(
                "add a desk of {node_name} to members, e.g. {node_name}/duty-officer", node_name=node.name
            ),
        )
    for other in members:
        if other != node.name:
            get_peer(node, other)  # every member node must be a pinned peer
    if peer is not None and peer not in members:
        raise UsageError(
            T("peer {peer!r} is not a member node of this charter", peer=peer),
            hint=T("members: {members}", members=members),
        )
    _require_own_desks(node, charter)
    doc = CharterDocument(charter, {}).signed_by(node.name, node.key)
    with node.engine.begin() as conn:
        if conn.execute(select(channels.c.id).where(channels.c.id == charter.id)).first():
            raise ConflictError(
                T("channel {charter_id!r} already exists", charter_id=charter.id), hint=T("choose another id")
            )
        if conn.execute(
            select(proposals.c.charter_hash).where(proposals.c.charter_hash == charter.hash)
        ).first():
            raise ConflictError(T("this exact charter has already been proposed"))
        conn.execute(
            insert(proposals).values(
                charter_hash=charter.hash,
                channel=charter.id,
                document=canonical_bytes(doc.to_json()).decode(),
                state="proposed",
                updated_at=node.clock.now(),
            )
        )
        queue_control_txn(conn, node, [peer] if peer else charter.member_nodes, "charter", doc.to_json())
    return doc


def _require_own_desks(node: Node, charter: Charter) -> None:
    own = charter.desks_of(node.name)
    with node.reader.connect() as conn:
        have = {r.name for r in conn.execute(select(desks.c.name))}
    missing = [d for d in own if d not in have]
    if missing:
        raise UsageError(
            T("the charter names desk(s) {missing} of this node, which do not exist", missing=missing),
            hint=T("create them first: parley desk add {missing_0}", missing_0=missing[0]),
        )


def do_accept_channel(
    node: Node, raw: Any, *, countersign: bool = True, via: str | None = None
) -> tuple[CharterDocument, bool]:
    """Countersign (if not yet) and open the channel if complete. Returns (doc, opened).

    ``countersign=False`` is how a document arriving over the federation is taken in: it
    is checked and kept (an incoming proposal waits for an operator to accept it), and a
    complete document opens the channel, but nothing is signed without a person deciding.
    """
    doc = parse_charter_document(raw, node.key_for)
    charter = doc.charter
    if node.name not in charter.member_nodes:
        raise UsageError(
            T(
                "this node ({node_name}) is not a member of channel {charter_id!r}",
                node_name=node.name,
                charter_id=charter.id,
            )
        )
    if via is not None and via not in doc.signatures:
        raise UsageError(T("{via} delivered a charter it has not signed", via=via), code="wrong_sender")
    if countersign:
        _require_own_desks(node, charter)
    if countersign and node.name not in doc.signatures:
        doc = doc.signed_by(node.name, node.key)
    opened = False
    with node.engine.begin() as conn:
        existing = conn.execute(select(channels).where(channels.c.id == charter.id)).first()
        if existing is not None:
            if existing.charter_hash != charter.hash:
                raise ConflictError(
                    T("channel {charter_id!r} already exists with another charter", charter_id=charter.id),
                    hint=T("the other side must propose under another id"),
                )
            return doc, False
        document = canonical_bytes(doc.to_json()).decode()
        prop = conn.execute(select(proposals).where(proposals.c.charter_hash == charter.hash)).first()
        state = "accepted" if doc.complete else "proposed"
        if prop is None:
            conn.execute(
                insert(proposals).values(
                    charter_hash=charter.hash,
                    channel=charter.id,
                    document=document,
                    state=state,
                    updated_at=node.clock.now(),
                )
            )
        else:
            conn.execute(
                update(proposals)
                .where(proposals.c.charter_hash == charter.hash)
                .values(document=document, state=state, updated_at=node.clock.now())
            )
        if countersign:
            queue_control_txn(conn, node, charter.member_nodes, "charter", doc.to_json())
        if doc.complete:
            conn.execute(
                insert(channels).values(
                    id=charter.id,
                    charter_hash=charter.hash,
                    charter=document,
                    status=charter.data["initial_status"],
                    exempt_types=json.dumps([]),
                    created_at=node.clock.now(),
                )
            )
            opened = True
    return doc, opened


def pending_proposals(node: Node) -> list[CharterDocument]:
    """Proposals this node holds that still lack its signature or another's."""
    from parley.protocol.canonical import loads_strict

    with node.reader.connect() as conn:
        rows = conn.execute(select(proposals).where(proposals.c.state == "proposed")).all()
    return [parse_charter_document(loads_strict(r.document), node.key_for) for r in rows]


def find_proposal(node: Node, ref: str) -> dict[str, Any]:
    """A held proposal by channel id or charter hash (for `channel accept ID`)."""
    from parley.protocol.canonical import loads_strict

    with node.reader.connect() as conn:
        rows = conn.execute(
            select(proposals.c.document).where(
                (proposals.c.channel == ref) | (proposals.c.charter_hash == ref)
            )
        ).all()
    if len(rows) != 1:
        raise NotFoundError(
            T("no single proposal {ref!r} held here", ref=ref),
            hint=T("give the proposal file, or see `parley channel proposals`"),
        )
    doc: dict[str, Any] = loads_strict(rows[0].document)
    return doc
