"""search: full-text indexes over copies' title and summary (issue 12 §4)

PostgreSQL: a GIN expression index on ``to_tsvector('simple', title || ' ' ||
summary)``. SQLite: an FTS5 external-content table with the triggers that keep
it in step. Both are filled from the rows already stored (the index build, the
FTS5 ``rebuild``). And an index on copies' ``published``, by which search looks
for matches in windows of time. See ``feedsvc.store.search``.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from alembic import op

from feedsvc.store.search import (
    POSTGRES_SETUP,
    POSTGRES_TEARDOWN,
    SQLITE_SETUP,
    SQLITE_TEARDOWN,
)

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_index(op.f("ix_copies_published"), "copies", ["published"])
    for statement in POSTGRES_SETUP if postgres else SQLITE_SETUP:
        op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRES_TEARDOWN if postgres else SQLITE_TEARDOWN:
        op.execute(statement)
    op.drop_index(op.f("ix_copies_published"), table_name="copies")
