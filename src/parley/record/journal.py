"""What goes into a node's Merkle log, and how: one leaf per signed thing it commits.

Every envelope sent or received, every receipt and every acknowledgment is appended, in
commit order, in the same database transaction that stores it; the leaf data is
``kind || 0x00 || ref || 0x00 || canonical bytes``, so a leaf names what it is and the log
cannot be re-read as something else (docs/record.md).
"""

from __future__ import annotations

from sqlalchemy import Connection

from parley.record import log


def leaf_data(kind: str, ref: str, data: bytes) -> bytes:
    return kind.encode() + b"\x00" + ref.encode() + b"\x00" + data


def journal_txn(conn: Connection, kind: str, ref: str, data: bytes) -> int:
    """Append one leaf in the caller's transaction; returns its index in the log."""
    return log.append_txn(conn, leaf_data(kind, ref, data), kind, ref[:200])
