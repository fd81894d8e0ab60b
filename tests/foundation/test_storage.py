"""Schema migrations: upgrade is idempotent, a node refuses an old schema, and no drift.

Runs on SQLite and PostgreSQL (``db_url``): the Alembic migrations must build exactly the
schema that ``metadata`` declares on both engines, or ``compare_metadata`` lists the drift.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from foundation_support import Cli, home_engine, snapshot

from parley.running.schema import metadata
from parley.storage import database
from parley.storage.engines import create_db_engine


def _init(cli: Cli, tmp_path: Path, db_url: str) -> Path:
    home = tmp_path / "node"
    extra = ["--database", db_url] if db_url.startswith("postgresql") else []
    cli.ok("--home", home, "init", "--name", "no-njhq", "--party", "Norway", *extra)
    cli.ok("--home", home, "desk", "add", "duty-officer")
    return home


def test_db_upgrade_on_a_current_home_is_a_no_op(cli: Cli, tmp_path: Path, db_url: str) -> None:
    home = _init(cli, tmp_path, db_url)
    before = snapshot(home)
    head = database.head_revision()
    assert cli.ok("--home", home, "db", "upgrade").out == f"schema already at {head}\n"
    assert snapshot(home) == before
    assert cli.ok("--home", home, "db", "status").out == f"database: {head}  needed: {head}\n"


def test_a_node_refuses_a_schema_behind_head(cli: Cli, tmp_path: Path, db_url: str) -> None:
    home = _init(cli, tmp_path, db_url)
    engine = home_engine(home)
    try:
        cfg = database.alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")
        assert database.current_revision(engine) is None
    finally:
        engine.dispose()
    cli.fails(
        "--home",
        home,
        "desk",
        "list",
        what="database schema is at nothing, this Parley needs",
        todo="parley db upgrade",
    )
    head = database.head_revision()
    assert cli.ok("--home", home, "db", "upgrade").out == f"schema empty → {head}\n"
    assert cli.ok("--home", home, "desk", "list", "--json").json() == []


def test_migrations_build_exactly_the_declared_schema(db_url: str) -> None:
    engine = create_db_engine(db_url)
    try:
        database.upgrade(engine)
        assert database.current_revision(engine) == database.head_revision()
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            drift = compare_metadata(ctx, metadata)
        assert drift == [], f"migrations and metadata differ: {drift}"
        database.upgrade(engine)  # a second upgrade changes nothing
        assert database.current_revision(engine) == database.head_revision()
    finally:
        engine.dispose()
