"""The full-text index of messages: SQLite FTS5 or PostgreSQL full-text search.

Each message is indexed once, when it is stored (sent or received), with its free text,
its subject and its field values as rendered in Norwegian Bokmål, Russian and English
(:func:`parley.formats.render.render`), so a Russian search finds a Norwegian original
through its rendered Russian fields and the other way round. ``parley db reindex`` indexes
the messages stored before this index existed (docs/operations.md).

* SQLite: one contentless FTS5 virtual table (https://sqlite.org/fts5.html), tokenizer
  ``unicode61 remove_diacritics 2``; every search term is matched as a prefix, which stands
  in for stemming (FTS5 has none for Norwegian or Russian). Its integer rowid keys a narrow
  table, ``message_search_keys``, holding the columns the filters and the keyset order need,
  so a search that matches thousands of messages joins integers, not text, and never reads
  the envelopes until the page is chosen.
* PostgreSQL: one ``tsvector`` column combining the ``simple``, ``norwegian``, ``russian``
  and ``english`` configurations, under a GIN index
  (https://www.postgresql.org/docs/current/textsearch.html); a query matches if it matches
  in any of them (whole words, stemmed; not prefixes, which the planner cannot estimate).

Neither an FTS5 virtual table nor a ``tsvector`` column with a GIN index can be declared
portably in ``metadata``, so this module creates them itself (``IF NOT EXISTS``) the first
time a connection needs them; they are a cache of the signed envelopes and ``reindex``
rebuilds them from scratch.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Connection,
    Engine,
    Integer,
    String,
    and_,
    column,
    select,
    table,
    text,
)
from sqlalchemy.sql.expression import TableClause

from parley.protocol.envelope import SignedEnvelope
from parley.storage.tables import envelopes

LANGS = ("nb", "ru", "en")
# A message's document is bounded so one huge free-text field cannot bloat the index.
MAX_DOC_CHARS = 32_000
MAX_TERMS = 20
MAX_TERM_CHARS = 64
_PG_CONFIGS = ("simple", "norwegian", "russian", "english")
_PG_LOCK = 0x70A5_1E7  # advisory lock id: serialises creating the index across processes
_PG_COMPLETE = "-complete-"  # not a message id (ids are UUIDs): the "every message is in" mark
_TERM_RE = re.compile(r"\w+", re.UNICODE)

_SQLITE_DDL = (
    "CREATE TABLE IF NOT EXISTS message_search_keys ("
    "n INTEGER PRIMARY KEY, id VARCHAR(36) NOT NULL UNIQUE, created VARCHAR(32) NOT NULL, "
    "channel VARCHAR(64) NOT NULL, type VARCHAR(64) NOT NULL, precedence VARCHAR(16) NOT NULL, "
    "status VARCHAR(16) NOT NULL, outgoing BOOLEAN NOT NULL)",
    "CREATE VIRTUAL TABLE IF NOT EXISTS message_fts USING fts5("
    "doc, content = '', tokenize = 'unicode61 remove_diacritics 2')",
)
_KEY_COLUMNS = (
    ("created", String),
    ("channel", String),
    ("type", String),
    ("precedence", String),
    ("status", String),
    ("outgoing", Boolean),
)
# Named like the envelopes' columns, so one set of filters serves both (parley.messaging.search).
SQLITE_KEYS = table(
    "message_search_keys",
    column("n", Integer),
    column("id", String),
    *(column(n, t) for n, t in _KEY_COLUMNS),
)
PG_SEARCH = table("message_search", column("id", String), *(column(n, t) for n, t in _KEY_COLUMNS))
_PG_ADDED_DDL = (
    # The newest matches first without sorting every match: walking this index backwards and
    # testing each document finds a page of a common word's 6,700 matches in 2 ms, where
    # sorting them all took 96 ms (10^5 messages, docs/benchmark.md).
    "CREATE INDEX IF NOT EXISTS ix_message_search_created ON message_search (created, id)",
)
_PG_DDL = (
    "CREATE TABLE IF NOT EXISTS message_search ("
    "id VARCHAR(36) PRIMARY KEY, created VARCHAR(32) NOT NULL, channel VARCHAR(64) NOT NULL, "
    "type VARCHAR(64) NOT NULL, precedence VARCHAR(16) NOT NULL, status VARCHAR(16) NOT NULL, "
    "outgoing BOOLEAN NOT NULL, doc TSVECTOR NOT NULL)",
    "CREATE INDEX IF NOT EXISTS ix_message_search_doc ON message_search USING GIN (doc)",
    *_PG_ADDED_DDL,
)
_PG_VECTOR = " || ".join(f"to_tsvector('{c}', :doc)" for c in _PG_CONFIGS)

_ready: weakref.WeakSet[Engine] = weakref.WeakSet()
_ready_lock = threading.Lock()


def _is_sqlite(conn_or_engine: Connection | Engine) -> bool:
    return conn_or_engine.dialect.name == "sqlite"


def ensure_search_index(conn: Connection, stored_now: Sequence[str] = ()) -> None:
    """Create the index structures if this database has none yet (idempotent).

    Created on a database whose only messages are ``stored_now`` (being indexed by the
    caller), the index is complete from the start and is marked so; created on a node that
    already holds messages, it is not, and search asks for ``parley db reindex`` rather than
    silently missing the older messages.
    """
    engine = conn.engine
    with _ready_lock:
        if engine in _ready:
            return
    if not search_index_exists(conn) and not _is_sqlite(conn):
        # Another process may be creating it: wait for it, then look again.
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
    if search_index_exists(conn):
        if not _is_sqlite(conn) and _pg_lacks_added_indexes(conn):
            # Indexes added since the table was made. CREATE INDEX holds the table until this
            # transaction ends: two stores doing it at once would deadlock on their inserts,
            # so one builds while the other waits here, then finds it built.
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
            if _pg_lacks_added_indexes(conn):
                for ddl in _PG_ADDED_DDL:
                    conn.execute(text(ddl))
        with _ready_lock:
            _ready.add(engine)
        return
    for ddl in _SQLITE_DDL if _is_sqlite(conn) else _PG_DDL:
        conn.execute(text(ddl))
    older = select(envelopes.c.id).where(envelopes.c.type != "acknowledgment").limit(1)
    if stored_now:
        older = older.where(envelopes.c.id.not_in(list(stored_now)))
    if conn.execute(older).first() is None:
        mark_complete(conn)
    # Not remembered as ready: this transaction may yet roll back (a refused message) and
    # take the new tables with it; the next call finds them committed, or creates them again.


def _pg_lacks_added_indexes(conn: Connection) -> bool:
    return conn.execute(text("SELECT to_regclass('ix_message_search_created') IS NULL")).scalar_one() is True


def mark_complete(conn: Connection) -> None:
    """Record that every stored message is in the index (a row no search can match)."""
    if _is_sqlite(conn):
        # n = 0 is never a rowid of message_fts, so no search can reach this row.
        conn.execute(
            text("INSERT OR IGNORE INTO message_search_keys VALUES (0, :m, '', '', '', '', '', 0)"),
            {"m": _PG_COMPLETE},
        )
    else:
        conn.execute(
            text(
                "INSERT INTO message_search VALUES (:m, '', '', '', '', '', false, ''::tsvector) "
                "ON CONFLICT (id) DO NOTHING"
            ),
            {"m": _PG_COMPLETE},
        )


def search_index_complete(conn: Connection) -> bool:
    """Whether the index holds every stored message (a point lookup, not a scan)."""
    if not search_index_exists(conn):
        return False
    if _is_sqlite(conn):
        return conn.execute(text("SELECT 1 FROM message_search_keys WHERE n = 0")).first() is not None
    q = text("SELECT 1 FROM message_search WHERE id = :m")
    return conn.execute(q, {"m": _PG_COMPLETE}).first() is not None


def search_index_exists(conn: Connection) -> bool:
    if _is_sqlite(conn):
        q = text("SELECT 1 FROM sqlite_master WHERE name = 'message_fts'")
    else:
        q = text(
            "SELECT 1 FROM pg_tables WHERE tablename = 'message_search' AND schemaname = current_schema()"
        )
    return conn.execute(q).first() is not None


def _strings(value: Any, depth: int = 0) -> Iterator[str]:
    """Every string in a body, depth-bounded (schemas bound depth too; this is a backstop)."""
    if depth > 16:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _strings(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v, depth + 1)


def document_for(env: SignedEnvelope) -> str:
    """The searchable text of ``env``: originals plus its rendering in nb, ru and en."""
    parts: list[str] = list(_strings(env.envelope.get("body")))
    from parley.formats.render import render

    for lang in LANGS:
        try:
            r = render(env.envelope, lang)
        except Exception:  # noqa: S112 — stored all the same, and found by its originals
            continue
        parts.append(r.title)
        parts += [f.value for f in r.fields]
    seen: dict[str, None] = dict.fromkeys(p.strip() for p in parts if p and p.strip())
    return "\n".join(seen)[:MAX_DOC_CHARS]


def index_messages_txn(conn: Connection, envs: list[SignedEnvelope], *, outgoing: bool) -> None:
    """Index ``envs`` inside the transaction that stores them (acknowledgments are not listed)."""
    listed = [e for e in envs if e.type != "acknowledgment"]
    if not listed:
        return
    ensure_search_index(conn, [e.id for e in listed])
    _insert(conn, [(e, outgoing) for e in listed])


def _keys(env: SignedEnvelope, outgoing: bool) -> dict[str, Any]:
    return {
        "id": env.id,
        "created": env.created,
        "channel": env.channel,
        "type": env.type,
        "precedence": env.precedence,
        "status": env.status,
        "outgoing": outgoing,
    }


def _insert(conn: Connection, envs: list[tuple[SignedEnvelope, bool]]) -> None:
    out = {e.id: o for e, o in envs}
    listed = [e for e, _ in envs if e.type != "acknowledgment"]
    if not listed:
        return
    if not _is_sqlite(conn):
        conn.execute(
            text(
                "INSERT INTO message_search (id, created, channel, type, precedence, status, outgoing, doc) "
                f"VALUES (:id, :created, :channel, :type, :precedence, :status, :outgoing, {_PG_VECTOR}) "
                "ON CONFLICT (id) DO NOTHING"
            ),
            [{**_keys(e, out[e.id]), "doc": document_for(e)} for e in listed],
        )
        return
    k = SQLITE_KEYS.c
    ids = [e.id for e in listed]
    # Already in (a reindex running while the node serves): indexed once, not twice.
    have = set(conn.execute(select(k.id).select_from(SQLITE_KEYS).where(k.id.in_(ids))).scalars())
    fresh = [e for e in listed if e.id not in have]
    if not fresh:
        return
    conn.execute(SQLITE_KEYS.insert(), [_keys(e, out[e.id]) for e in fresh])
    numbers = dict(
        conn.execute(select(k.id, k.n).select_from(SQLITE_KEYS).where(k.id.in_([e.id for e in fresh]))).all()
    )
    conn.execute(
        text("INSERT INTO message_fts (rowid, doc) VALUES (:n, :doc)"),
        [{"n": numbers[e.id], "doc": document_for(e)} for e in fresh],
    )


def index_message_txn(conn: Connection, env: SignedEnvelope, *, outgoing: bool) -> None:
    index_messages_txn(conn, [env], outgoing=outgoing)


def reindex(engine: Engine, *, batch: int = 500) -> int:
    """Drop and rebuild the whole index from the stored envelopes; returns messages indexed.

    Reads in keyset batches, so memory stays bounded however many messages there are; the
    index is marked complete only at the end, so an interrupted run is simply run again.
    A node may keep serving meanwhile: what it stores now is indexed as usual.
    """
    with engine.begin() as conn:
        # Dropped and recreated in one transaction: a serving node never sees it missing.
        if _is_sqlite(conn):
            conn.execute(text("DROP TABLE IF EXISTS message_fts"))
            conn.execute(text("DROP TABLE IF EXISTS message_search_keys"))
            for ddl in _SQLITE_DDL:
                conn.execute(text(ddl))
        else:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
            conn.execute(text("DROP TABLE IF EXISTS message_search"))
            for ddl in _PG_DDL:
                conn.execute(text(ddl))
    with _ready_lock:
        _ready.add(engine)
    done = 0
    after = ""
    while True:  # ends: each batch starts strictly after the last id of the one before
        with engine.begin() as conn:
            rows = conn.execute(
                select(envelopes.c.id, envelopes.c.raw, envelopes.c.outgoing)
                .where(envelopes.c.id > after, envelopes.c.type != "acknowledgment")
                .order_by(envelopes.c.id)
                .limit(batch)
            ).all()
            if not rows:
                mark_complete(conn)
                return done
            _insert(conn, [(SignedEnvelope.from_bytes(r.raw), bool(r.outgoing)) for r in rows])
        done += len(rows)
        after = rows[-1].id


def search_terms(query: str) -> list[str]:
    """The words of ``query``, bounded; punctuation and operators are dropped, never interpreted."""
    return [t[:MAX_TERM_CHARS] for t in _TERM_RE.findall(query)][:MAX_TERMS]


def text_source(engine: Engine | Connection, query: str) -> tuple[TableClause, ColumnElement[bool]]:
    """Where to look for the messages matching every word of ``query``, and the condition.

    The first is ``message_search`` on PostgreSQL and ``message_search_keys`` on SQLite; both
    have the columns the filters and the keyset order use, named as in ``envelopes``.
    """
    terms = search_terms(query)
    source: TableClause = SQLITE_KEYS if _is_sqlite(engine) else PG_SEARCH
    if not terms:
        # Only punctuation: nothing to look for, so nothing is found (not everything).
        return source, source.c.id.is_(None)
    if _is_sqlite(engine):
        # Each term quoted (so it is a string, never FTS5 syntax) and matched as a prefix.
        match = " AND ".join('"' + t.replace('"', '""') + '"*' for t in terms)
        sub = text("SELECT rowid FROM message_fts WHERE message_fts MATCH :fts_q").bindparams(fts_q=match)
        return SQLITE_KEYS, SQLITE_KEYS.c.n.in_(sub.columns(rowid=Integer()))
    # Whole words: stemming finds their other forms. Not prefixes (``term:*``): PostgreSQL
    # cannot estimate how many rows a prefix matches and falls back to reading every row.
    tsq = " & ".join(terms)
    either = " || ".join(f"to_tsquery('{c}', :fts_q)" for c in _PG_CONFIGS)
    # One table, found through its GIN index: the columns the filters and the order need are
    # beside the document, so thousands of matches are never looked up in the envelopes.
    return PG_SEARCH, and_(text(f"message_search.doc @@ ({either})").bindparams(fts_q=tsq))
