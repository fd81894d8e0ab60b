"""The one SQLAlchemy ``MetaData`` every table of a node hangs on.

Tables are declared next to the code that owns them (``parley.storage.tables`` for the
core, ``parley.record.tables`` for the Merkle log) but share this object, so Alembic sees
one schema. The naming convention keeps constraint names identical on SQLite and
PostgreSQL, which migrations need to alter them later.
"""

from __future__ import annotations

from sqlalchemy import MetaData

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
