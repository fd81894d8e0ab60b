"""Schema migrations with Alembic, driven from code (no alembic.ini to lose).

``upgrade`` brings any node database to the newest schema; ``require_current`` refuses to
run a node on a database that is behind, with the command that fixes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from parley.errors import UsageError
from parley.formats.texts import T

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest revision in migrations/versions; a test keeps it equal to Alembic's head, so
# opening a node need not import Alembic (which costs most of a CLI command's start-up).
SCHEMA_HEAD = "0001"


def alembic_config() -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def stored_revision(engine: Engine) -> str | None:
    """The revision recorded in the database, read without Alembic."""
    try:
        with engine.connect() as conn:
            row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    except DBAPIError:
        return None
    return None if row is None else str(row[0])


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def require_current(engine: Engine) -> None:
    current = stored_revision(engine)
    head = SCHEMA_HEAD
    if current != head:
        raise UsageError(
            T(
                "database schema is at {current}, this Parley needs {head}",
                current=current or T("nothing"),
                head=head,
            ),
            hint=T("run `parley db upgrade` (back up the database first)"),
        )
