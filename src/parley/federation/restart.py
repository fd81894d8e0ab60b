"""Restart notices: a node restored from a backup tells its witness where its record restarts.

A restore is a rollback of the node's Merkle log (docs/record.md): the log ends where the
backup was taken, while the peer last cosigned a larger checkpoint of it, and the leaves the
node takes back from its peers after the restore (docs/protocol.md §11.10) come back in
another order. No consistency proof can lead from what the witness cosigned to the new log,
and the witness is right to raise ``record_rollback`` when it is shown one without a word.

So the restored node says it, signed (docs/protocol.md §12.1)::

    {"notice": {"origin": "parley.<node>", "abandoned_size": W, "kept_size": K,
                "kept_root": "<base64>", "time": "<RFC 3339>"},
     "signature": "<Ed25519 by the node's current key, kind record-restart>"}

``W`` is the size the witness last cosigned (it names it in its ``witness_size_mismatch``
answer, or hands it over as ``your_last_size``); ``K`` the largest size of the node's log
that this witness cosigned before the backup was taken, whose root the witness holds
itself. The witness takes the notice only when ``W`` is exactly what it last cosigned and
``K``'s root is the one it cosigned then: it keeps its checkpoint of size ``W`` as evidence,
raises a ``record_restarted`` warning (a person should know the counterpart restored), and
from then on checks the node's log from ``K`` by the ordinary consistency proofs. A notice
that fails any check changes nothing: the checkpoint is judged as if it came alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select

from parley.clock import format_time
from parley.node import Node
from parley.protocol import signing
from parley.protocol.keys import b64, unb64_hash
from parley.record import log, merkle
from parley.record.checkpoint import Checkpoint
from parley.record.witness_tables import (
    record_checkpoints,
    record_cosignatures,
    witness_evidence,
    witnessed_checkpoints,
)
from parley.storage.alarms import raise_alarm_txn

KIND = "record-restart"
FIELDS = ("abandoned_size", "kept_root", "kept_size", "origin", "time")
MAX_NOTICE_CHARS = 1024
MAX_SIZE = 2**53 - 1  # the largest integer RFC 8785 writes exactly (docs/protocol.md §1)


@dataclass(frozen=True)
class RestartNotice:
    origin: str
    abandoned_size: int
    kept_size: int
    kept_root: bytes
    time: str
    raw: dict[str, Any]


def diverged_txn(
    conn: Connection, size: int, root: bytes | None, *, cosignature_holds: bool | None = None
) -> bool:
    """Whether this node can no longer prove consistency from its checkpoint of ``size`` that a
    peer witnessed (with ``root``, when the peer said which): its log is smaller, or it signed
    no such checkpoint, or one with another root. ``cosignature_holds`` False: the peer's
    cosignature of that size does not verify on this node's checkpoint of it, which has
    another root then. Only a restored node finds itself there."""
    if size == 0 or size > MAX_SIZE:
        return False  # nothing witnessed, or a size no log can have (a peer's nonsense)
    if cosignature_holds is False:
        return True
    if size > log.size(conn):
        return True
    row = conn.execute(select(record_checkpoints.c.root).where(record_checkpoints.c.size == size)).first()
    if row is None:
        return True
    return root is not None and bytes(row.root) != root


def make_notice_txn(conn: Connection, node: Node, peer: str, abandoned_size: int) -> dict[str, Any]:
    """The signed notice to ``peer``: the largest checkpoint it cosigned that the log still has."""
    kept = conn.execute(
        select(func.max(record_cosignatures.c.size)).where(
            record_cosignatures.c.cosigner == peer,
            record_cosignatures.c.size <= min(abandoned_size, log.size(conn)),
        )
    ).scalar()
    kept_size = int(kept or 0)
    notice = {
        "origin": "parley." + node.name,
        "abandoned_size": abandoned_size,
        "kept_size": kept_size,
        "kept_root": b64(log.root(conn, kept_size)),
        "time": format_time(node.clock.now()),
    }
    return {"notice": notice, "signature": signing.sign(KIND, notice, node.key)}


def parse_notice(value: Any, origin: str, public: Any) -> RestartNotice | None:
    """``value`` as a notice of ``origin`` signed by its current key, or None."""
    if not isinstance(value, dict) or sorted(value) != ["notice", "signature"]:
        return None
    notice, signature = value["notice"], value["signature"]
    if not isinstance(notice, dict) or tuple(sorted(notice)) != FIELDS or not isinstance(signature, str):
        return None
    if len(json.dumps(notice)) > MAX_NOTICE_CHARS:
        return None
    sizes = notice["abandoned_size"], notice["kept_size"]
    if not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= MAX_SIZE for s in sizes):
        return None
    if notice["origin"] != origin or not isinstance(notice["time"], str):
        return None
    root = unb64_hash(notice["kept_root"])
    if root is None or notice["kept_size"] > notice["abandoned_size"]:
        return None
    if not signing.verify(KIND, notice, signature, getattr(public, "current", public)):
        return None
    return RestartNotice(origin, notice["abandoned_size"], notice["kept_size"], root, notice["time"], value)


def restart_base_txn(
    conn: Connection, peer: str, notice: RestartNotice, *, last: Any, from_size: int
) -> tuple[bool, Checkpoint | None]:
    """Witness side: whether ``peer``'s notice holds, and the checkpoint to check its new log from.

    ``last`` is the locked witness state (the checkpoint cosigned last). Nothing is changed
    here: the caller checks the new checkpoint from the base first, then calls
    :func:`apply_restart_txn`."""
    refused: tuple[bool, Checkpoint | None] = (False, None)
    if last.size is None or notice.abandoned_size != int(last.size) or from_size != notice.kept_size:
        return refused
    if notice.kept_size == 0:
        return (True, None) if notice.kept_root == merkle.EMPTY_ROOT else refused
    row = conn.execute(
        select(witnessed_checkpoints.c.root).where(
            witnessed_checkpoints.c.peer == peer, witnessed_checkpoints.c.size == notice.kept_size
        )
    ).first()
    if row is None or bytes(row.root) != notice.kept_root:
        return refused
    return True, Checkpoint(notice.origin, notice.kept_size, notice.kept_root)


def apply_restart_txn(conn: Connection, node: Node, peer: str, notice: RestartNotice, *, last: Any) -> None:
    """Keep the abandoned checkpoint and the notice as evidence, forget what was cosigned above
    the kept size (the new log has other roots there), and raise ``record_restarted``."""
    now = node.clock.now()
    conn.execute(
        insert(witness_evidence).values(
            peer=peer,
            reason="restart",
            message=json.dumps(notice.raw, sort_keys=True),
            from_size=notice.kept_size,
            checkpoint=str(last.note),
            proof="[]",
            recorded_at=now,
        )
    )
    conn.execute(
        delete(witnessed_checkpoints).where(
            witnessed_checkpoints.c.peer == peer, witnessed_checkpoints.c.size > notice.kept_size
        )
    )
    raise_alarm_txn(
        conn, "record_restarted", peer, now, peer=peer, size=notice.kept_size, old_size=notice.abandoned_size
    )
