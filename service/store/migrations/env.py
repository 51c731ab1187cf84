"""Alembic environment: always run with a connection handed in by service.store.migrate (no alembic.ini)."""

from __future__ import annotations

from alembic import context

from service.store.schema import metadata

connection = context.config.attributes["connection"]
if connection.dialect.name == "postgresql":
    # Two processes starting at once (a server and `relapse-cds db upgrade`) migrate one after the other.
    connection.exec_driver_sql("SELECT pg_advisory_xact_lock(727012)")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
