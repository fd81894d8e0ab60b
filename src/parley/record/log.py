"""A storage-backed, append-only Merkle log (RFC 9162 §2.1) on SQLAlchemy Core.

The log keeps every leaf hash and the root of every complete subtree (see
:mod:`parley.record.tables`). Appending leaf ``i`` writes the leaf and each subtree it
completes, one per trailing 1 bit of ``i``, so O(log n) rows at worst and about two rows
on average. Roots and proofs for any size up to the current one are assembled by
:mod:`parley.record.merkle` from O(log n) of those stored hashes, fetched in a single
query; nothing ever rehashes the log.

Transactions belong to the caller. Every function here takes a :class:`Connection` and
runs inside whatever transaction it is in; the ``*_txn`` functions write, and must run in
the same transaction that stores what the leaf records, so that an envelope is stored if
and only if it is logged. The caller commits.

Appends are serialised by locking the single ``log_head`` row (``SELECT … FOR UPDATE`` on
PostgreSQL, where several node processes may share one database). On SQLite the lock
clause is a no-op, and the ``BEGIN IMMEDIATE`` every transaction of a node starts with
(see :mod:`parley.storage.engines`) already admits one writer at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, and_, bindparam, func, insert, literal, or_, select, union_all, update
from sqlalchemy.dialects import postgresql, sqlite

from parley.record import merkle
from parley.record.tables import KIND_MAX, REF_MAX, log_head, log_leaves, log_nodes

__all__ = [
    "LeafEntry",
    "LeafRecord",
    "LogError",
    "append_leaf_hash_txn",
    "append_many_txn",
    "append_txn",
    "consistency_proof",
    "find",
    "inclusion_proof",
    "iter_leaves",
    "leaf",
    "root",
    "size",
]

T = TypeVar("T")
Coord = tuple[int, int]


class LogError(Exception):
    """A request the log cannot answer (size beyond the log, unknown leaf) or bad input."""


@dataclass(frozen=True, slots=True)
class LeafEntry:
    """A leaf to append: its RFC 9162 leaf hash and what it records."""

    leaf_hash: bytes
    kind: str
    ref: str

    @classmethod
    def from_data(cls, data: bytes, kind: str, ref: str) -> LeafEntry:
        return cls(merkle.leaf_hash(data), kind, ref)

    def check(self) -> None:
        if len(self.leaf_hash) != merkle.HASH_SIZE:
            raise LogError(f"a leaf hash is {merkle.HASH_SIZE} bytes, not {len(self.leaf_hash)}")
        if not 0 < len(self.kind) <= KIND_MAX:
            raise LogError(f"leaf kind must be 1 to {KIND_MAX} characters: {self.kind!r}")
        if not 0 < len(self.ref) <= REF_MAX:
            raise LogError(f"leaf ref must be 1 to {REF_MAX} characters: {self.ref!r}")


@dataclass(frozen=True, slots=True)
class LeafRecord:
    index: int
    leaf_hash: bytes
    kind: str
    ref: str
    committed_at: datetime


# -- writing ------------------------------------------------------------------------------


_HEAD_FOR_UPDATE = select(log_head.c.size).where(log_head.c.id == 1).with_for_update()
_SET_SIZE = update(log_head).where(log_head.c.id == 1).values(size=bindparam("size"))
_INSERT_LEAVES = insert(log_leaves)
_INSERT_NODES = insert(log_nodes)


def _lock_head(conn: Connection) -> int:
    """Lock the head row for the rest of the caller's transaction; the size it holds."""
    stmt = _HEAD_FOR_UPDATE
    current = conn.execute(stmt).scalar_one_or_none()
    if current is None:
        # First append ever. Two first appenders may race to create the row, so insert it
        # only if absent and then lock whichever row won.
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        conn.execute(dialect.insert(log_head).values(id=1, size=0).on_conflict_do_nothing())
        current = conn.execute(stmt).scalar_one()
    return int(current)


def _left_siblings_before(old_size: int, count: int) -> set[Coord]:
    """Stored subtrees that appending ``count`` leaves to ``old_size`` will hash into parents.

    They are exactly the left children, complete before the append, of subtrees the append
    completes.
    """
    needed: set[Coord] = set()
    for i in range(old_size, old_size + count):
        level, idx = 0, i
        while idx & 1:
            if idx << level <= old_size:  # the left sibling ends at or before old_size
                needed.add((level, idx - 1))
            level += 1
            idx >>= 1
    return needed


def append_many_txn(conn: Connection, entries: Sequence[LeafEntry], *, now: datetime | None = None) -> range:
    """Append ``entries`` in order, inside the caller's transaction; their indices.

    Costs a constant number of statements per batch (the leaves and the new subtree roots
    each go in one multi-row insert), plus the hashing of about one node per leaf.
    """
    if not entries:
        return range(0)
    for e in entries:
        e.check()
    committed_at = now or datetime.now(UTC)
    old_size = _lock_head(conn)
    known = _fetch(conn, _left_siblings_before(old_size, len(entries)))
    new_nodes: list[dict[str, Any]] = []
    for offset, e in enumerate(entries):
        h, level, idx = e.leaf_hash, 0, old_size + offset
        known[(0, idx)] = h
        # A leaf at an odd position completes its parent, and so on while the parent is a
        # right child too.
        while idx & 1:
            h = merkle.node_hash(known[(level, idx - 1)], h)
            level += 1
            idx >>= 1
            known[(level, idx)] = h
            new_nodes.append({"level": level, "idx": idx, "hash": h})
    conn.execute(
        _INSERT_LEAVES,
        [
            {
                "idx": old_size + offset,
                "leaf_hash": e.leaf_hash,
                "kind": e.kind,
                "ref": e.ref,
                "committed_at": committed_at,
            }
            for offset, e in enumerate(entries)
        ],
    )
    if new_nodes:
        conn.execute(_INSERT_NODES, new_nodes)
    new_size = old_size + len(entries)
    conn.execute(_SET_SIZE, {"size": new_size})
    return range(old_size, new_size)


def append_leaf_hash_txn(
    conn: Connection, leaf_hash: bytes, kind: str, ref: str, *, now: datetime | None = None
) -> int:
    """Append one leaf given its leaf hash, inside the caller's transaction; its index."""
    return append_many_txn(conn, [LeafEntry(leaf_hash, kind, ref)], now=now)[0]


def append_txn(conn: Connection, data: bytes, kind: str, ref: str, *, now: datetime | None = None) -> int:
    """Append one leaf over ``data`` (hashed as SHA-256(0x00 || data)); its index."""
    return append_many_txn(conn, [LeafEntry.from_data(data, kind, ref)], now=now)[0]


# -- reading ------------------------------------------------------------------------------


_ONE_LEAF = select(log_leaves.c.leaf_hash).where(log_leaves.c.idx == bindparam("idx"))
_ONE_NODE = select(log_nodes.c.hash).where(
    log_nodes.c.level == bindparam("level"), log_nodes.c.idx == bindparam("idx")
)


def _fetch(conn: Connection, coords: Iterable[Coord]) -> dict[Coord, bytes]:
    """Stored subtree hashes at ``coords``, in one query (or a few prepared ones)."""
    coords = set(coords)
    if len(coords) == 1:
        # The common case, one leaf appended: one hash by primary key, with a statement
        # built once; building the query below costs more than running it.
        out: dict[Coord, bytes] = {}
        for level, idx in coords:
            if level == 0:
                h = conn.execute(_ONE_LEAF, {"idx": idx}).scalar()
            else:
                h = conn.execute(_ONE_NODE, {"level": level, "idx": idx}).scalar()
            if h is not None:
                out[(level, idx)] = bytes(h)
        return out
    leaves = sorted({i for level, i in coords if level == 0})
    nodes = sorted({(level, i) for level, i in coords if level > 0})
    parts = []
    if leaves:
        parts.append(
            select(literal(0).label("level"), log_leaves.c.idx, log_leaves.c.leaf_hash).where(
                log_leaves.c.idx.in_(leaves)
            )
        )
    if nodes:
        # OR of primary-key equalities, not a row-value IN: SQLite plans ``(a, b) IN
        # (VALUES …)`` as a full table scan, but each disjunct here as one index search.
        parts.append(
            select(log_nodes.c.level, log_nodes.c.idx, log_nodes.c.hash).where(
                or_(*(and_(log_nodes.c.level == lv, log_nodes.c.idx == i) for lv, i in nodes))
            )
        )
    if not parts:
        return {}
    stmt = parts[0] if len(parts) == 1 else union_all(*parts)
    return {(int(level), int(idx)): bytes(h) for level, idx, h in conn.execute(stmt)}


def _with_stored_hashes(conn: Connection, compute: Callable[[merkle.GetHash], T]) -> T:
    """Run ``compute`` over the stored subtree hashes, reading them in one query.

    Which subtrees a root or proof needs depends only on sizes and indices, never on hash
    values, so a dry run with placeholder hashes names them all up front.
    """
    wanted: set[Coord] = set()

    def note(level: int, index: int) -> bytes:
        wanted.add((level, index))
        return bytes(merkle.HASH_SIZE)

    compute(note)
    stored = _fetch(conn, wanted)

    def get(level: int, index: int) -> bytes:
        try:
            return stored[(level, index)]
        except KeyError:
            raise LogError(
                f"log storage is missing the subtree hash at level {level}, index {index}"
            ) from None

    return compute(get)


def size(conn: Connection) -> int:
    """The number of leaves, read from the head row (O(1))."""
    current = conn.execute(select(log_head.c.size).where(log_head.c.id == 1)).scalar()
    return int(current or 0)


def _check_size(conn: Connection, tree_size: int | None) -> int:
    current = size(conn)
    if tree_size is None:
        return current
    if not 0 <= tree_size <= current:
        raise LogError(f"tree size {tree_size} is not in a log of size {current}")
    return tree_size


def root(conn: Connection, tree_size: int | None = None) -> bytes:
    """The RFC 9162 root of the first ``tree_size`` leaves (default: the whole log)."""
    n = _check_size(conn, tree_size)
    return _with_stored_hashes(conn, lambda get: merkle.root(n, get))


def inclusion_proof(conn: Connection, index: int, tree_size: int | None = None) -> list[bytes]:
    """The inclusion proof of leaf ``index`` in the tree of ``tree_size`` (default: all)."""
    n = _check_size(conn, tree_size)
    if not 0 <= index < n:
        raise LogError(f"leaf index {index} is not in a tree of size {n}")
    return _with_stored_hashes(conn, lambda get: merkle.inclusion_proof(index, n, get))


def consistency_proof(conn: Connection, size1: int, size2: int | None = None) -> list[bytes]:
    """The consistency proof from ``size1`` to ``size2`` (default: the whole log)."""
    n = _check_size(conn, size2)
    if not 0 <= size1 <= n:
        raise LogError(f"no consistency proof from size {size1} to size {n}")
    return _with_stored_hashes(conn, lambda get: merkle.consistency_proof(size1, n, get))


def _record(row: Any) -> LeafRecord:
    return LeafRecord(
        index=int(row.idx),
        leaf_hash=bytes(row.leaf_hash),
        kind=row.kind,
        ref=row.ref,
        committed_at=row.committed_at,
    )


def leaf(conn: Connection, index: int) -> LeafRecord:
    row = conn.execute(select(log_leaves).where(log_leaves.c.idx == index)).one_or_none()
    if row is None:
        raise LogError(f"no leaf at index {index} (log size {size(conn)})")
    return _record(row)


def iter_leaves(conn: Connection, start: int = 0, end: int | None = None) -> Iterator[LeafRecord]:
    """Leaves ``[start, end)`` in log order (for export), streamed in pages."""
    stop = _check_size(conn, end)
    page = 1000
    while start < stop:
        rows = conn.execute(
            select(log_leaves)
            .where(log_leaves.c.idx >= start, log_leaves.c.idx < min(start + page, stop))
            .order_by(log_leaves.c.idx)
        ).all()
        for row in rows:
            yield _record(row)
        start += page


def find(conn: Connection, kind: str, ref: str) -> int | None:
    """The index of the first leaf recording ``(kind, ref)``, or None."""
    found = conn.execute(
        select(func.min(log_leaves.c.idx)).where(log_leaves.c.kind == kind, log_leaves.c.ref == ref)
    ).scalar()
    return None if found is None else int(found)
