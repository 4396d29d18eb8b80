"""archives: RFC 5005 archive pages sealed by key range, their heads and pending changes

Revision ID: 0009
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from feedsvc.store.schema import UTCDateTime

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "archive_pages",
        sa.Column("listing", sa.String(length=110), nullable=False),
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("hi_published", UTCDateTime(), nullable=False),
        sa.Column("hi_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("listing", "number", name=op.f("pk_archive_pages")),
        sa.UniqueConstraint(
            "listing",
            "hi_published",
            "hi_id",
            name=op.f("uq_archive_pages_listing_hi_published_hi_id"),
        ),
    )
    op.create_table(
        "archive_heads",
        sa.Column("listing", sa.String(length=110), nullable=False),
        sa.Column("open_number", sa.Integer(), nullable=False),
        sa.Column("next_number", sa.Integer(), nullable=False),
        sa.Column("boundary_published", UTCDateTime(), nullable=True),
        sa.Column("boundary_id", sa.String(length=64), nullable=True),
        sa.Column("open_version", sa.Integer(), nullable=False),
        sa.Column("open_changed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("listing", name=op.f("pk_archive_heads")),
    )
    op.create_table(
        "archive_changes",
        sa.Column("listing", sa.String(length=110), nullable=False),
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("listing", "number", name=op.f("pk_archive_changes")),
    )


def downgrade() -> None:
    op.drop_table("archive_changes")
    op.drop_table("archive_heads")
    op.drop_table("archive_pages")
