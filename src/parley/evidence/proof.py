"""Proofs from this node's log for third parties: ``parley proof MESSAGE_ID --out FILE``.

A proof file holds one message's envelope, the receipts that cover it (with the envelopes
that link the message to the seq a cumulative receipt names), its acknowledgment (itself
an envelope) and that acknowledgment's receipts; for each, its leaf index in this node's
Merkle log and its RFC 9162 inclusion proof; and the signed checkpoint those proofs are
against, with the counterpart's cosignatures (C2SP tlog-cosignature). A leaf is
``kind || 0x00 || ref || 0x00 || canonical bytes`` (:mod:`parley.record.journal`), so the
verifier recomputes it from the signed object alone. The file format is in docs/record.md;
:mod:`parley.evidence.offline` checks it with no database and no network.

Also here, shared with transcripts (:mod:`parley.evidence.transcript`):

* :func:`log_section` picks the checkpoint to prove against: the largest one a
  counterpart cosigned, if it covers every leaf needed, else a fresh one of the whole log
  together with the cosigned one and the consistency proof between them;
* *set inclusion proofs*: one proof that a set of leaves is in the tree, made of the
  hashes of the largest subtrees holding none of them (RFC 9162 hashing, each hash given
  once however many leaves share it). A transcript with a hundred thousand entries then
  carries about as many hashes as it has gaps, not a path per entry.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, and_, or_, select

from parley.errors import NotFoundError, VerificationError
from parley.federation.witnessing import (
    cosignature_lines_txn,
    cosigned_checkpoint_txn,
    log_name,
    own_checkpoint_txn,
)
from parley.formats.texts import T
from parley.node import Node
from parley.protocol.canonical import canonical_bytes, loads_strict
from parley.protocol.keys import b64
from parley.record import log, merkle
from parley.record.checkpoint import Checkpoint
from parley.record.journal import leaf_data
from parley.record.tables import log_leaves, log_nodes
from parley.storage.tables import acknowledgments, envelopes, receipts

__all__ = [
    "PROOF_FORMAT",
    "leaf_hash_of",
    "log_section",
    "make_proof",
    "receipt_ref",
    "root_from_set_proof",
    "set_proof",
    "set_proof_coords",
]

PROOF_FORMAT = "parley-proof/1"
Coord = tuple[int, int]


def receipt_ref(channel: str, sender: str, receiver: str, upto_seq: int) -> str:
    """The ``ref`` a receipt is logged under (as :mod:`parley.messaging.receive` logs it)."""
    return f"{channel}/{sender}/{receiver}/{upto_seq}"


def leaf_hash_of(kind: str, ref: str, data: bytes) -> bytes:
    return merkle.leaf_hash(leaf_data(kind, ref, data))


# -- set inclusion proofs (pure) --------------------------------------------------------------


def _walk(
    indices: Sequence[int],
    size: int,
    on_leaf: Callable[[int], bytes],
    on_subtree: Callable[[int, int], bytes],
) -> bytes:
    """Fold the tree of ``size`` leaves the way RFC 9162 §2.1.1 splits it.

    ``indices`` (sorted, distinct, all below ``size``) are the leaves given; every perfect
    subtree without one of them is one ``on_subtree(level, index)``, in left-to-right order.
    """

    def fold(start: int, end: int, lo: int, hi: int) -> bytes:
        n = end - start
        if lo == hi and n & (n - 1) == 0:
            level = n.bit_length() - 1
            return on_subtree(level, start >> level)
        if n == 1:
            return on_leaf(start)
        k = 1 << ((n - 1).bit_length() - 1)
        mid = bisect_left(indices, start + k, lo, hi)
        left = fold(start, start + k, lo, mid)
        return merkle.node_hash(left, fold(start + k, end, mid, hi))

    if size == 0:
        return merkle.EMPTY_ROOT
    return fold(0, size, 0, len(indices))


def _check_indices(indices: Sequence[int], size: int) -> None:
    for i, index in enumerate(indices):
        if not 0 <= index < size:
            raise merkle.ProofError(f"leaf index {index} is not in a tree of size {size}")
        if i and index <= indices[i - 1]:
            raise merkle.ProofError("leaf indices of a set proof must be distinct and ascending")


def set_proof_coords(indices: Sequence[int], size: int) -> list[Coord]:
    """The ``(level, index)`` of each hash a set inclusion proof carries, in order."""
    _check_indices(indices, size)
    coords: list[Coord] = []

    def subtree(level: int, index: int) -> bytes:
        coords.append((level, index))
        return bytes(merkle.HASH_SIZE)

    _walk(indices, size, lambda _: bytes(merkle.HASH_SIZE), subtree)
    return coords


def root_from_set_proof(size: int, leaves: Sequence[tuple[int, bytes]], proof: Sequence[bytes]) -> bytes:
    """The root of a tree of ``size`` given some of its leaves and their set proof.

    ``leaves`` are ``(index, leaf hash)`` in ascending index order. Raises
    :class:`parley.record.merkle.ProofError` if the proof has the wrong number of hashes.
    The caller compares the result with the checkpoint's root.
    """
    indices = [i for i, _ in leaves]
    _check_indices(indices, size)
    by_index = dict(leaves)
    hashes = iter(proof)
    used = 0

    def subtree(level: int, index: int) -> bytes:
        nonlocal used
        used += 1
        h = next(hashes, None)
        if h is None:
            raise merkle.ProofError(f"set inclusion proof is too short ({len(proof)} hashes)")
        if len(h) != merkle.HASH_SIZE:
            raise merkle.ProofError(f"set inclusion proof hash {used - 1} is not 32 bytes")
        return h

    root = _walk(indices, size, by_index.__getitem__, subtree)
    if used != len(proof):
        raise merkle.ProofError(
            f"set inclusion proof has wrong size: expected {used} hashes, got {len(proof)}"
        )
    return root


def _fetch(conn: Connection, coords: Iterable[Coord]) -> dict[Coord, bytes]:
    """Stored hashes of complete subtrees, in batches of primary-key lookups."""
    wanted = list(dict.fromkeys(coords))
    found: dict[Coord, bytes] = {}
    batch = 400
    for start in range(0, len(wanted), batch):
        part = wanted[start : start + batch]
        leaves = [i for level, i in part if level == 0]
        nodes = [(level, i) for level, i in part if level > 0]
        if leaves:
            for row in conn.execute(
                select(log_leaves.c.idx, log_leaves.c.leaf_hash).where(log_leaves.c.idx.in_(leaves))
            ):
                found[(0, int(row.idx))] = bytes(row.leaf_hash)
        if nodes:
            cond = or_(*(and_(log_nodes.c.level == lv, log_nodes.c.idx == i) for lv, i in nodes))
            for node in conn.execute(
                select(log_nodes.c.level, log_nodes.c.idx, log_nodes.c.hash).where(cond)
            ):
                found[(int(node.level), int(node.idx))] = bytes(node.hash)
    missing = [c for c in wanted if c not in found]
    if missing:
        level, index = missing[0]
        raise VerificationError(
            "log",
            T(
                "this node's log is missing the subtree hash at level {level}, index {index}",
                level=level,
                index=index,
            ),
        )
    return found


def set_proof(conn: Connection, indices: Sequence[int], size: int) -> list[bytes]:
    """The set inclusion proof of leaves ``indices`` in this node's tree of ``size``."""
    coords = set_proof_coords(indices, size)
    stored = _fetch(conn, coords)
    return [stored[c] for c in coords]


# -- checkpoints to prove against -----------------------------------------------------------


def log_section(node: Node, need_size: int) -> tuple[dict[str, Any], Checkpoint]:
    """The ``log`` part of a proof or transcript, proving leaves below ``need_size``.

    ``{"node", "origin", "checkpoint", "witnessed"}``: ``checkpoint`` is the signed note
    (with every cosignature received) all inclusion proofs are against; ``witnessed`` is
    null, or, when that checkpoint is newer than the last one a counterpart cosigned,
    ``{"checkpoint": <the cosigned one>, "consistency": [<b64>, …]}`` proving the newer one
    extends it. Before handing anything out, the node checks that its log still gives the
    roots it signed, so it never exports a proof that cannot verify.
    """
    with node.engine.begin() as conn:
        cosigned = cosigned_checkpoint_txn(conn)
        if cosigned is not None and cosigned[0].size >= need_size:
            checkpoint, text = cosigned
            witnessed = None
            if log.root(conn, checkpoint.size) != checkpoint.root:
                raise _changed(checkpoint.size)
        else:
            checkpoint, note = own_checkpoint_txn(conn, node)
            text = note + "".join(cosignature_lines_txn(conn, checkpoint.size))
            witnessed = None
            if cosigned is not None:
                old, old_text = cosigned
                consistency = log.consistency_proof(conn, old.size, checkpoint.size)
                try:
                    # The empty tree is a prefix of any log; RFC 9162 has no proof from it.
                    if old.size > 0:
                        merkle.verify_consistency(
                            old.size, checkpoint.size, consistency, old.root, checkpoint.root
                        )
                except merkle.ProofError:
                    raise _changed(old.size) from None
                witnessed = {"checkpoint": old_text, "consistency": [b64(h) for h in consistency]}
    section = {
        "node": node.name,
        "origin": log_name(node.name),
        "checkpoint": text,
        "witnessed": witnessed,
    }
    return section, checkpoint


def _changed(size: int) -> VerificationError:
    return VerificationError(
        "log",
        T("this node's log no longer gives the root of its checkpoint of size {size}", size=size),
        hint=T("its log tables were changed; see `parley status` and run `parley verify`"),
    )


# -- one message ------------------------------------------------------------------------------


def _item(role: str, kind: str, ref: str, raw: bytes) -> dict[str, Any]:
    data = loads_strict(raw)
    if canonical_bytes(data) != raw:
        raise VerificationError(
            "store", T("stored {kind} {ref} is not in canonical form", kind=kind, ref=ref)
        )
    return {"role": role, "kind": kind, "ref": ref, "data": data}


def _covering_receipts(
    conn: Connection, channel: str, sender: str, seq: int, members: list[str]
) -> list[dict[str, Any]]:
    """For each other member: its first receipt covering ``seq``, after the linking envelopes."""
    out: list[dict[str, Any]] = []
    for receiver in members:
        if receiver == sender:
            continue
        rec = conn.execute(
            select(receipts.c.raw, receipts.c.upto_seq)
            .where(
                receipts.c.channel == channel,
                receipts.c.sender_node == sender,
                receipts.c.receiver_node == receiver,
                receipts.c.upto_seq >= seq,
            )
            .order_by(receipts.c.upto_seq)
            .limit(1)
        ).first()
        if rec is None:
            continue
        links = conn.execute(
            select(envelopes.c.id, envelopes.c.raw)
            .where(
                envelopes.c.channel == channel,
                envelopes.c.sender_node == sender,
                envelopes.c.seq > seq,
                envelopes.c.seq <= rec.upto_seq,
            )
            .order_by(envelopes.c.seq)
        ).all()
        out.extend(_item("link", "envelope", r.id, r.raw) for r in links)
        ref = receipt_ref(channel, sender, receiver, int(rec.upto_seq))
        out.append(_item("receipt", "receipt", ref, rec.raw))
    return out


def make_proof(node: Node, message_id: str) -> tuple[dict[str, Any], list[str]]:
    """The proof file of one message, and notes for the operator (e.g. "not cosigned yet")."""
    from parley.channels.registry import get_channel_txn

    with node.reader.connect() as conn:
        row = conn.execute(
            select(envelopes.c.raw, envelopes.c.channel, envelopes.c.sender_node, envelopes.c.seq).where(
                envelopes.c.id == message_id
            )
        ).first()
        if row is None:
            raise NotFoundError(
                T("no message {message_id}", message_id=message_id), hint=T("see `parley inbox`")
            )
        members = get_channel_txn(conn, row.channel).charter.member_nodes
        items = [_item("message", "envelope", message_id, row.raw)]
        items += _covering_receipts(conn, row.channel, row.sender_node, int(row.seq), members)
        ack = conn.execute(
            select(envelopes.c.id, envelopes.c.raw, envelopes.c.sender_node, envelopes.c.seq)
            .join(acknowledgments, acknowledgments.c.ack_id == envelopes.c.id)
            .where(acknowledgments.c.message_id == message_id)
        ).first()
        if ack is not None:
            items.append(_item("acknowledgment", "envelope", ack.id, ack.raw))
            items += _covering_receipts(conn, row.channel, ack.sender_node, int(ack.seq), members)
        unique: dict[tuple[str, str], dict[str, Any]] = {}
        for item in items:
            unique.setdefault((item["kind"], item["ref"]), item)
        items = list(unique.values())
        for item in items:
            index = log.find(conn, item["kind"], item["ref"][:200])
            if index is None:
                raise VerificationError(
                    "log",
                    T(
                        "{item_kind} {item_ref} is not in this node's log",
                        item_kind=item["kind"],
                        item_ref=item["ref"],
                    ),
                )
            stored = log.leaf(conn, index).leaf_hash
            if stored != leaf_hash_of(item["kind"], item["ref"], canonical_bytes(item["data"])):
                raise VerificationError(
                    "log",
                    T(
                        "leaf {index} of this node's log does not match the stored {item_kind} {item_ref}",
                        index=index,
                        item_kind=item["kind"],
                        item_ref=item["ref"],
                    ),
                    hint=T("run `parley verify`"),
                )
            item["leaf_index"] = index

    section, checkpoint = log_section(node, max(i["leaf_index"] for i in items) + 1)
    with node.reader.connect() as conn:
        for item in items:
            proof = log.inclusion_proof(conn, item["leaf_index"], checkpoint.size)
            item["inclusion"] = [b64(h) for h in proof]
    notes = []
    if not any(i["role"] == "receipt" for i in items):
        notes.append("no receipt covers this message yet")
    if ack is None:
        notes.append("the message is not acknowledged yet")
    if section["witnessed"] is not None or not _has_cosignature(section["checkpoint"], node.name):
        notes.append(
            "the newest entries are not cosigned by the counterpart yet; export again after the "
            "next link test for a proof it has witnessed"
        )
    out: dict[str, Any] = {
        "format": PROOF_FORMAT,
        "message": message_id,
        "channel": row.channel,
        "log": section,
        "items": [
            {k: item[k] for k in ("role", "kind", "leaf_index", "data", "inclusion")} for item in items
        ],
    }
    from parley.evidence.transcript import with_key_history

    return with_key_history(node, out, sorted(members)), notes


def _has_cosignature(note_text: str, own: str) -> bool:
    from parley.record.note import parse_note

    return any(s.name != log_name(own) for s in parse_note(note_text).signatures)
