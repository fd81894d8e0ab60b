"""Every difference between SQLite and PostgreSQL lives here.

SQLite is the embedded default: WAL journal and ``synchronous=FULL`` so a commit that
returned survives a crash or power loss, a busy timeout so the CLI and a running server can
share a home, and ``BEGIN IMMEDIATE`` so a writer takes the lock up front instead of
failing half-way. PostgreSQL is the engine to grow into; several node processes may share
one database there and claim work with ``SELECT … FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from parley.errors import UsageError
from parley.formats.texts import T


def normalise_url(url: str) -> str:
    """Map the user-facing ``postgresql://`` onto the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def is_sqlite(engine_or_url: Engine | str) -> bool:
    name = (
        engine_or_url.dialect.name
        if isinstance(engine_or_url, Engine)
        else make_url(normalise_url(engine_or_url)).get_backend_name()
    )
    return name == "sqlite"


def supports_skip_locked(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def create_db_engine(url: str, *, reader: bool = False, **kw: Any) -> Engine:
    """An engine for ``url``; ``reader=True`` gives SQLite's read-only side (see module doc)."""
    url = normalise_url(url)
    try:
        backend = make_url(url).get_backend_name()
    except Exception as exc:
        raise UsageError(
            T("cannot read database URL {url!r}: {exc}", url=url, exc=exc),
            hint=T("use sqlite:///PATH or postgresql://USER@HOST:PORT/DBNAME"),
        ) from exc
    if backend == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 30}, **kw)
        _configure_sqlite(engine, reader=reader)
        return engine
    if backend == "postgresql":
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5, **kw)
    raise UsageError(
        T("unsupported database {backend!r}", backend=backend),
        hint=T("Parley runs on SQLite (sqlite:///PATH) or PostgreSQL (postgresql://…)"),
    )


def _configure_sqlite(engine: Engine, *, reader: bool) -> None:
    if not reader:
        # One writer at a time within this process, handed over by a lock instead of
        # SQLite's busy handler, which sleeps for milliseconds between retries. Held from
        # checkout to checkin, so it cannot leak past the end of a `with` block.
        lock = threading.RLock()

        @event.listens_for(engine, "checkout")
        def _take(*_: Any) -> None:
            lock.acquire()

        @event.listens_for(engine, "checkin")
        def _give(*_: Any) -> None:
            lock.release()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (so BEGIN IMMEDIATE
        # below is the only BEGIN issued).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock up front; readers read a WAL snapshot and never wait.
        # Straight to the driver: this runs for every transaction, and SQLAlchemy's
        # statement machinery costs several times the statement itself here.
        conn.connection.dbapi_connection.execute("BEGIN" if reader else "BEGIN IMMEDIATE")
