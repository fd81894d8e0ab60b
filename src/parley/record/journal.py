"""What goes into a node's Merkle log, and how: one leaf per signed thing it commits.

Every envelope sent or received, every receipt and every acknowledgment is appended, in
commit order, in the same database transaction that stores it; the leaf data is
``kind || 0x00 || ref || 0x00 || canonical bytes``, so a leaf names what it is and the log
cannot be re-read as something else (docs/record.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection

from parley.record import log


def leaf_data(kind: str, ref: str, data: bytes) -> bytes:
    return kind.encode() + b"\x00" + ref.encode() + b"\x00" + data


BUFFER = "parley.journal.buffer"


def journal_txn(conn: Connection, kind: str, ref: str, data: bytes) -> None:
    """Append one leaf in the caller's transaction (or to its buffer, see ``buffered``)."""
    entry = log.LeafEntry.from_data(leaf_data(kind, ref, data), kind, ref[:200])
    buffer = conn.info.get(BUFFER)
    if buffer is not None:
        buffer.append(entry)
    else:
        log.append_many_txn(conn, [entry])


@contextmanager
def buffered(conn: Connection) -> Iterator[None]:
    """Collect the leaves of a batch and append them in one go, still in commit order.

    A batch of envelopes then costs a handful of statements for the log instead of a
    handful per envelope. The leaves are appended before the block ends, inside the
    same transaction, so the log still commits atomically with what it records.
    """
    if conn.info.get(BUFFER) is not None:
        yield
        return
    buffer: list[log.LeafEntry] = []
    conn.info[BUFFER] = buffer
    try:
        yield
        if buffer:
            log.append_many_txn(conn, buffer)
    finally:
        conn.info.pop(BUFFER, None)
