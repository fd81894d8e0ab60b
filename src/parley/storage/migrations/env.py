"""Alembic environment: runs on the connection handed in by parley.storage.database."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
# Upgrades run the revision scripts and need no models. Autogenerate compares against the
# whole schema, which the caller hands in (scripts/regen-initial-migration passes
# parley.running.schema.metadata): storage sits below every package that declares tables.
context.configure(
    connection=connection,
    target_metadata=context.config.attributes.get("metadata"),
    render_as_batch=True,  # SQLite can only alter tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
