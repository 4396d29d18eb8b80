"""Alembic environment: always run on the connection feedsvc hands over.

feedsvc calls Alembic from ``store.upgrade`` rather than from an ``alembic.ini``,
so the database URL comes from the settings like everywhere else.
"""

from __future__ import annotations

from alembic import context

from feedsvc.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
